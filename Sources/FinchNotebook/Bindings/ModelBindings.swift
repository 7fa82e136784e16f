import Foundation
import FinchSupport
import FinchLang
import FinchCUDA
import FinchHub
import FinchModels
import FinchTensor

/// A model as Finch code sees it.
public final class ModelValue: FinchObject {
    public let model: LanguageModel
    /// Bumped whenever adapters change (lora, load_adapter, train): part of the memo-cache key.
    public var revision = 0
    public var adapterHistory: [String] = []

    public init(_ model: LanguageModel) { self.model = model }

    /// What attaching a new adapter would lose: nil when there is none, or when it is fresh from
    /// lora() (made again from its seed); else how it came to be (trained, loaded).
    var adapterAtRisk: String? {
        guard model.network.loraConfig != nil else { return nil }
        let since = adapterHistory.reversed().prefix { !$0.hasPrefix("lora(") }
        let trained = since.filter { $0.hasPrefix("train(") }.count, loaded = since.contains { $0.hasPrefix("load_adapter(") }
        guard trained > 0 || loaded else { return nil }
        var how: [String] = []
        if loaded { how.append("loaded with load_adapter()") }
        if trained > 0 { how.append("trained by \(trained) train() call\(trained == 1 ? "" : "s")") }
        return how.joined(separator: " and ") + " (r \(model.network.loraConfig!.rank), \(groupDigits(model.network.trainableParameterCount)) parameters)"
    }

    public var typeName: String { "Model" }
    public var description: String {
        let c = model.config
        let adapter = model.network.loraConfig.map { ", LoRA r \($0.rank)" } ?? ""
        return "Model(\(model.name), \(c.architecture.rawValue), \(formatCount(c.parameterCount)) params, \(model.storageTypes.joined(separator: "/"))\(adapter))"
    }
    public var display: String { model.description }
    public var attributeNames: [String] { ["name", "path", "architecture", "params", "trainable_params", "layers", "hidden_size", "vocab_size", "context", "max_seq_length", "dtype", "has_adapter", "has_chat_template"] }

    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        let c = model.config
        switch name {
        case "name": return .string(model.name)
        case "path": return .string(model.path)
        case "architecture": return .string(c.architecture.rawValue)
        case "params": return .int(c.parameterCount)
        case "trainable_params": return .int(model.network.trainableParameterCount)
        case "layers": return .int(c.numHiddenLayers)
        case "hidden_size": return .int(c.hiddenSize)
        case "vocab_size": return .int(c.vocabSize)
        case "context": return .int(c.maxPositionEmbeddings)
        case "max_seq_length": return .int(model.maxSeqLength)
        case "dtype": return .string(model.storageTypes.joined(separator: "/"))
        case "has_adapter": return .bool(model.network.loraConfig != nil)
        case "has_chat_template": return .bool(model.chatTemplate != nil)
        default: return nil
        }
    }

    /// Identity for the memo cache: the weights' source and size, and every adapter change.
    public var fingerprint: String? {
        let attrs = (try? FileManager.default.attributesOfItem(atPath: model.path)) ?? [:]
        let size = (attrs[.size] as? Int) ?? 0
        let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "Model:\(model.path):\(size):\(Int(mtime)):\(model.storageTypes.joined(separator: "/")):\(model.maxSeqLength):\(adapterHistory.joined(separator: "|"))"
    }
}

/// Hub ids through the local Hub cache, downloading when online (`LoadOptions.hubResolver`).
public let hubModelResolver: ModelLoader.HubResolver = { repo, file in try HubClient().resolveModel(repo: repo, file: file) }

func registerModelBindings(_ r: BuiltinRegistry) {
    let genParams: [Param] = [
        .keyword("max_tokens", default: .int(256)), .keyword("temperature", default: .float(0)),
        .keyword("top_k", default: .int(0)), .keyword("top_p", default: .float(1)), .keyword("min_p", default: .float(0)),
        .keyword("repetition_penalty", default: .float(1)), .keyword("seed", default: .int(0)),
        .keyword("stop", default: .none), .keyword("stream", default: .bool(true)),
    ]

    r.register("load_model",
               params: [.positional("source", default: .none), .keyword("dtype", default: .none), .keyword("quantize", default: .none),
                        .keyword("max_seq_length", default: .none), .keyword("device", default: .none), .keyword("file", default: .none)],
               doc: "Load a model: a .gguf file, a Hugging Face folder, a Hub id, or none for the embedded SmolLM2-135M-Instruct. file=\"*Q4_K_M.gguf\" picks the GGUF file of a Hub repo that holds several.",
               category: "model") { args, ctx in
        try bridge {
            var opts = LoadOptions()
            if let d = try args.optionalString("dtype") {
                guard let t = DType(rawValue: d), [.f32, .f16, .bf16].contains(t) else { throw FinchError("load_model(): dtype must be \"f32\", \"f16\" or \"bf16\", got \"\(d)\"") }
                opts.dtype = t
            }
            if let q = try args.optionalString("quantize") {
                guard let t = DType(rawValue: q.lowercased()), [.q8_0, .q4_0, .q4_1, .nf4].contains(t) else {
                    throw FinchError("load_model(): quantize must be \"q8_0\", \"q4_0\", \"q4_1\" or \"nf4\", got \"\(q)\"")
                }
                opts.quantize = t
            }
            opts.maxSeqLength = try args.optionalInt("max_seq_length")
            opts.file = try args.optionalString("file")
            opts.baseDirectory = ctx.baseDirectory
            opts.hubResolver = hubModelResolver
            opts.device = try chooseDevice(try args.optionalString("device") ?? ProcessInfo.processInfo.environment["FINCH_DEVICE"] ?? "auto", ctx)
            let start = Date()
            let model = try ModelLoader.load(try args.optionalString("source"), options: opts)
            ctx.output.writeError("loaded \(model.name) in \(formatDuration(Date().timeIntervalSince(start)))\n")
            return .object(ModelValue(model))
        }
    }

    /// "auto" takes the first GPU when one works and says nothing otherwise (except for a GPU too
    /// old for the kernels, which is named); an explicit "cuda" that cannot be had says why and
    /// continues on the CPU.
    func chooseDevice(_ name: String, _ ctx: CallContext) throws -> Device? {
        switch name.lowercased() {
        case "cpu": return nil
        case "auto":
            // torchrun/SLURM: each process takes its LOCAL_RANK's GPU.
            do { return try CUDA.activate(ordinal: (try? currentLaunch())??.localRank ?? 0).device } catch let e as CUDAError {
                if case .unsupportedGPU = e { ctx.output.writeError("note: \(e); running on the CPU\n") }
                return nil
            }
        case let n where n == "cuda" || n == "gpu" || n.hasPrefix("cuda:"):
            let ordinal = n.hasPrefix("cuda:") ? Int(n.dropFirst(5)) : 0
            guard let ordinal else { throw FinchError("load_model(): device must be \"cpu\", \"cuda\", \"cuda:N\" or \"auto\", got \"\(name)\"") }
            do { return try CUDA.activate(ordinal: ordinal).device } catch {
                ctx.output.writeError("note: no usable GPU (\(error)); running on the CPU\n")
                return nil
            }
        default:
            throw FinchError("load_model(): device must be \"cpu\", \"cuda\", \"cuda:N\" or \"auto\", got \"\(name)\"")
        }
    }

    r.register("tokenize", params: [.positional("model"), .positional("text")],
               doc: "Token ids of text (no BOS/EOS added).", category: "model") { args, _ in
        let m = try args.object("model", as: ModelValue.self)
        return .list(FinchList(m.model.tokenize(try args.string("text")).map { .int($0) }))
    }

    r.register("detokenize", params: [.positional("model"), .positional("ids")],
               doc: "Text of a list of token ids.", category: "model") { args, _ in
        let m = try args.object("model", as: ModelValue.self)
        let ids = try args.list("ids").enumerated().map { i, v -> Int in
            guard case .int(let n) = v, n >= 0, n < m.model.tokenizer.vocabSize else {
                throw FinchError("detokenize(): ids[\(i)] must be a token id in 0..<\(m.model.tokenizer.vocabSize), got \(v)")
            }
            return n
        }
        return .string(m.model.detokenize(ids))
    }

    r.register("template", params: [.positional("model"), .positional("messages"), .keyword("add_generation_prompt", default: .bool(true))],
               doc: "The chat template applied to messages (a string, or a list of {role, content} dicts).", category: "model") { args, _ in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            return .string(try m.model.template(try messages(args["messages"], system: nil, fn: "template"),
                                                addGenerationPrompt: try args.bool("add_generation_prompt")))
        }
    }

    r.register("generate", params: [.positional("model"), .positional("prompt")] + genParams,
               doc: "Continue a prompt (plain text; use chat() for chat models). Streams tokens; returns the text.",
               category: "model") { args, ctx in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            return try runGeneration(m.model, prompt: try args.string("prompt"), args, ctx)
        }
    }

    r.register("chat", params: [.positional("model"), .positional("message"), .keyword("system", default: .none)] + genParams,
               doc: "Chat with the model: applies its chat template, generates, streams and returns the reply.",
               category: "model") { args, ctx in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            let msgs = try messages(args["message"], system: try args.optionalString("system"), fn: "chat")
            let prompt = try m.model.template(msgs, addGenerationPrompt: true)
            return try runGeneration(m.model, prompt: prompt, args, ctx)
        }
    }

    r.register("logprobs", params: [.positional("model"), .positional("text")],
               doc: "log p(token_i | tokens before it) for each token of text after the first (length n-1).",
               category: "model") { args, _ in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            let (_, lp) = try m.model.logprobs(try args.string("text"))
            return .list(FinchList(lp.map { .float(Double($0)) }))
        }
    }
}

/// A user message string or a list of {role, content} dicts → template messages.
func messages(_ v: Value, system: String?, fn: String) throws -> [[String: String]] {
    var out: [[String: String]] = []
    if let system { out.append(["role": "system", "content": system]) }
    switch v {
    case .string(let s):
        out.append(["role": "user", "content": s])
    case .list(let l):
        for (i, item) in l.items.enumerated() {
            guard case .dict(let d) = item, case .string(let role)? = d[.string("role")], case .string(let content)? = d[.string("content")] else {
                throw FinchError("\(fn)(): messages[\(i)] must be a dict with string 'role' and 'content'")
            }
            out.append(["role": role, "content": content])
        }
    default:
        throw FinchError("\(fn)(): expected a message string or a list of {role, content} dicts, got \(v.typeName)")
    }
    return out
}

/// Generates and returns the text. Ctrl-C ends generation early and the text so far is the result
/// (stop reason "interrupted"); a streamed reply is marked as shown so the REPL does not echo it again.
func runGeneration(_ model: LanguageModel, prompt: String, _ args: Arguments, _ ctx: CallContext) throws -> Value {
    var o = GenerationOptions()
    o.maxTokens = try args.int("max_tokens")
    o.temperature = try args.float("temperature")
    o.topK = try args.int("top_k")
    o.topP = try args.float("top_p")
    o.minP = try args.float("min_p")
    o.repetitionPenalty = try args.float("repetition_penalty")
    o.seed = UInt64(truncatingIfNeeded: try args.int("seed"))
    var stops: [String] = []
    switch args["stop"] {
    case .none: break
    case .string(let s): stops = [s]
    default: stops = try args.stringList("stop")
    }
    let stream = try args.bool("stream")
    let (text, result) = try model.generate(prompt, options: o, stopStrings: stops, onText: { piece in
        if stream { ctx.output.write(piece) }
    }, shouldStop: { ctx.interruptFlag.isRequested })
    let interrupted = result.stopReason == .interrupted
    // The Ctrl-C is spent on this generation: the statement goes on with the partial text.
    if interrupted { ctx.interruptFlag.clear() }
    if stream { ctx.output.write("\n") }
    ctx.output.writeError(String(format: "[%d prompt tokens, %d generated, %.1f tokens/s decode, %.0f tokens/s prefill%@]\n",
                                 result.promptTokens, result.tokens.count, result.decodeTokensPerSecond,
                                 result.prefillTokensPerSecond, interrupted ? "; stop reason: interrupted (Ctrl-C), the text so far is the result" : ""))
    return stream ? ctx.shown(.string(text)) : .string(text)
}
