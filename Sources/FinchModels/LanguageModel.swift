import Foundation
import FinchSupport
import FinchTensor

/// A loaded model: the network, its tokenizer and chat template, and what a user wants to know
/// about it. This is what `load_model` returns and the other built-ins take.
public final class LanguageModel: CustomStringConvertible {
    public let network: Transformer
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    /// What the user asked for (`smollm2`, a path, a Hub id) and the file or folder it resolved to.
    public let name: String
    public let path: String
    public let format: String
    /// Ids that end generation (generation_config.json / GGUF metadata).
    public var eosIds: [Int]
    public var maxSeqLength: Int
    /// The GGUF tokenizer metadata, when the model came from a GGUF file (used to export one).
    public var ggufTokenizer: GGUFTokenizerSpec?

    /// What adapters and model cards name as the base: the Hub id for the embedded model and Hub
    /// ids, the path otherwise.
    public var baseModelId: String {
        if ModelLoader.defaultAliases.contains(name.lowercased()) { return "HuggingFaceTB/SmolLM2-135M-Instruct" }
        return name
    }

    public init(network: Transformer, tokenizer: Tokenizer, chatTemplate: ChatTemplate?, name: String, path: String,
                format: String, eosIds: [Int]) {
        self.network = network
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.name = name
        self.path = path
        self.format = format
        var eos = eosIds
        if eos.isEmpty, let e = tokenizer.eosTokenId { eos = [e] }
        self.eosIds = eos
        self.maxSeqLength = network.config.maxPositionEmbeddings
    }

    public var config: ModelConfig { network.config }

    /// Bytes of weights as stored (memory-mapped or converted).
    public var weightBytes: Int {
        var seen = Set<ObjectIdentifier>()
        var total = 0
        func add(_ t: Tensor) { if seen.insert(ObjectIdentifier(t.storage)).inserted { total += t.storage.byteCount } }
        add(network.embedTokens); add(network.norm); add(network.lmHead)
        for l in network.layers {
            add(l.inputNorm); add(l.postAttentionNorm)
            for (_, p) in l.projections { add(p.weight); if let b = p.bias { add(b) } }
        }
        return total
    }

    public var storageTypes: [String] {
        var types = Set<DType>()
        types.insert(network.embedTokens.dtype)
        for l in network.layers { for (_, p) in l.projections { types.insert(p.weight.dtype) } }
        return types.map(\.rawValue).sorted()
    }

    public var description: String {
        let c = config
        let count = formatCount
        var lines = [
            "Model \(name) — \(c.architecture.rawValue), \(count(c.parameterCount)) parameters",
            "  layers \(c.numHiddenLayers), hidden \(c.hiddenSize), heads \(c.numAttentionHeads) (kv \(c.numKeyValueHeads)), ffn \(c.intermediateSize), vocab \(c.vocabSize)",
            "  context \(c.maxPositionEmbeddings)\(maxSeqLength < c.maxPositionEmbeddings ? " (max_seq_length \(maxSeqLength))" : ""), rope θ \(Int(c.ropeTheta))\(ropeScalingSummary(c.ropeScaling))\(c.tieWordEmbeddings ? ", tied embeddings" : "")",
            "  weights \(storageTypes.joined(separator: "/")), \(formatBytes(weightBytes)) on \(network.device) — \(format)",
            "  tokenizer \(tokenizer.kind), chat template \(chatTemplate == nil ? "none" : "yes")",
        ]
        if let lc = network.loraConfig {
            lines.append("  adapter: LoRA r \(lc.rank), alpha \(Int(lc.alpha)), \(lc.targets.count) target modules, \(count(network.trainableParameterCount)) trainable")
        } else {
            lines.append("  adapter: none")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Text in, text out

    public func tokenize(_ text: String) -> [Int] { tokenizer.encode(text) }
    public func detokenize(_ ids: [Int]) -> String { tokenizer.decode(ids) }

    /// The chat template applied to `messages` (what transformers' apply_chat_template gives).
    public func template(_ messages: [[String: String]], addGenerationPrompt: Bool = true) throws -> String {
        guard let chatTemplate else {
            throw ModelError.invalidArgument("\(name) has no chat template; use generate(model, prompt) with plain text")
        }
        let bos = tokenizer.bosTokenId.flatMap { tokenizer.token(for: $0) }
        let eos = tokenizer.eosTokenId.flatMap { tokenizer.token(for: $0) }
        return try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos)
    }

    /// Generates after `prompt` (text; BOS prepended when the tokenizer asks for it), streaming text
    /// through `onText`. Stop strings end generation and are not part of the returned text.
    public func generate(_ prompt: String, options: GenerationOptions, stopStrings: [String] = [],
                         onText: (String) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> (text: String, result: GenerationResult) {
        var ids = tokenizer.encode(prompt).map(Int32.init)
        if tokenizer.addBosToken, let bos = tokenizer.bosTokenId, ids.first != Int32(bos) { ids.insert(Int32(bos), at: 0) }
        var opts = options
        if opts.stopIds.isEmpty { opts.stopIds = Set(eosIds.map(Int32.init)) }
        guard ids.count < maxSeqLength else { throw ModelError.contextOverflow(tokens: ids.count, limit: maxSeqLength) }
        opts.maxTokens = min(opts.maxTokens, maxSeqLength - ids.count)
        var decoder = tokenizer.streamingDecoder(skipSpecialTokens: true)
        var text = ""
        var emitted = 0
        let holdBack = stopStrings.map(\.count).max() ?? 0
        var stopped = false, interrupted = false
        var result = try network.generate(prompt: ids, options: opts) { id in
            if shouldStop() { interrupted = true; return false }
            text += decoder.push(Int(id))
            if let hit = stopStrings.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
                text = String(text[..<hit.lowerBound])
                stopped = true
            }
            // Stream all but the last few characters, which might start a stop string.
            let safe = stopped ? text.count : max(emitted, text.count - holdBack)
            if safe > emitted {
                onText(String(text.dropFirst(emitted).prefix(safe - emitted)))
                emitted = safe
            }
            return !stopped
        }
        if !stopped { text += decoder.finish() }
        if text.count > emitted { onText(String(text.dropFirst(emitted))) }
        if interrupted {
            // the id sampled when the stop came was never decoded: it is not part of the result
            result.stopReason = .interrupted
            result.tokens.removeLast()
        }
        return (text, result)
    }

    /// log p(token_i | tokens_<i) for the tokens of `text` (BOS prepended when the tokenizer asks for it).
    public func logprobs(_ text: String) throws -> (tokens: [Int], logprobs: [Float]) {
        var ids = tokenizer.encode(text)
        if tokenizer.addBosToken, let bos = tokenizer.bosTokenId, ids.first != bos { ids.insert(bos, at: 0) }
        guard ids.count <= maxSeqLength else { throw ModelError.contextOverflow(tokens: ids.count, limit: maxSeqLength) }
        return (ids, try network.logprobs(ids: ids.map(Int32.init)))
    }
}

/// ", rope scaling llama3 ×8 (…)" for the model summary; empty without scaling.
func ropeScalingSummary(_ s: RopeTable.Scaling) -> String {
    func f(_ x: Float) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%g", x) }
    switch s {
    case .none: return ""
    case let .llama3(factor, lo, hi, original):
        return ", rope scaling llama3 ×\(f(factor)) (low \(f(lo)), high \(f(hi)), original context \(original))"
    case let .linear(factor): return ", rope scaling linear ×\(f(factor))"
    case let .frequencyFactors(v): return ", rope scaling by \(v.count) frequency factors (GGUF rope_freqs)"
    }
}
