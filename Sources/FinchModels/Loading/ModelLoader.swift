import Foundation
import FinchSupport
import FinchTensor

/// How `load_model` should prepare weights.
public struct LoadOptions: Sendable {
    /// Convert 16/32-bit weights to this storage type at load (`f32`, `f16`, `bf16`); nil keeps them.
    public var dtype: DType?
    /// Quantize the projection weights of a 16/32-bit checkpoint (`q8_0`, `q4_0`, `q4_1`, `nf4`).
    public var quantize: DType?
    /// The longest sequence to train on or generate (defaults to the model's context).
    public var maxSeqLength: Int?
    /// Where the weights go (nil: the CPU). The caller checks the device is available.
    public var device: Device?
    /// Which .gguf file of a Hub repo to load: a glob like "*Q4_K_M.gguf" (llama.cpp's `-hf`, `Llama.from_pretrained(filename=)`).
    public var file: String?
    /// The folder a relative source resolves against (a notebook's folder); nil: the working directory.
    public var baseDirectory: String?
    /// Turns a Hub id (and `file`) into a checkpoint folder or a .gguf path (the Hub cache, downloading when
    /// online); given by whoever holds a Hub client (the notebook's `load_model`). nil: Hub ids are not found.
    public var hubResolver: ModelLoader.HubResolver?

    public init(dtype: DType? = nil, quantize: DType? = nil, maxSeqLength: Int? = nil, device: Device? = nil, baseDirectory: String? = nil) {
        self.dtype = dtype
        self.quantize = quantize
        self.maxSeqLength = maxSeqLength
        self.device = device
        self.baseDirectory = baseDirectory
    }
}

/// Finds and loads models: `.gguf` files, Hugging Face folders, Hub ids in the local cache, and
/// the embedded default (`smollm2`).
public enum ModelLoader {
    public static let defaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let defaultAliases: Set<String> = ["smollm2", "default", "smollm2-135m-instruct"]

    /// The folders searched for the embedded default model, in order: `$FINCH_MODELS`, the per-user data folder
    /// (`$XDG_DATA_HOME/finch/models`, default `~/.local/share/finch/models`, where `scripts/setup` puts it),
    /// `models/` in `base` (the notebook's folder; nil: the working directory), then `models/` of the repository
    /// the executable was built in (a checkout's older layout).
    public static func defaultModelFolders(environment: [String: String] = ProcessInfo.processInfo.environment,
                                           base: String? = nil) -> [String] {
        var dirs: [String] = []
        if let env = environment["FINCH_MODELS"], !env.isEmpty { dirs.append(env) }
        dirs.append(userModelFolder(environment: environment))
        dirs.append((base ?? FileManager.default.currentDirectoryPath) + "/models")
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            exe = exe.deletingLastPathComponent()   // <repo>/.build/<triple>/<config>/finch → <repo>
            let candidate = exe.appendingPathComponent("models").path
            if exe.path != "/" && FileManager.default.fileExists(atPath: candidate + "/" + defaultModelFile) { dirs.append(candidate); break }
        }
        var seen = Set<String>()
        return dirs.filter { seen.insert(URL(fileURLWithPath: $0).standardized.path).inserted }
    }

    /// `$XDG_DATA_HOME/finch/models`, default `~/.local/share/finch/models`.
    public static func userModelFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let data = environment["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.local/share"
        return data + "/finch/models"
    }

    /// Where the embedded default model is, or nil.
    public static func defaultModelPath(environment: [String: String] = ProcessInfo.processInfo.environment, base: String? = nil) -> String? {
        defaultModelFolders(environment: environment, base: base).map { $0 + "/" + defaultModelFile }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The embedded model is missing: where Finch looked and the one command that fetches it.
    static func defaultModelMissing(base: String?) -> ModelError {
        let folders = defaultModelFolders(base: base)
        return .fileNotFound(defaultModelFile, hint: "Finch looked in: \(folders.joined(separator: ", ")). Fetch it with `scripts/setup` "
            + "in the Finch repository (it puts it in \(userModelFolder())), or set FINCH_MODELS to the folder that holds it.")
    }

    /// A Hub id and `file=` → a checkpoint folder or a .gguf path (`LoadOptions.hubResolver`).
    public typealias HubResolver = @Sendable (_ repo: String, _ file: String?) throws -> String

    public static func load(_ source: String?, options: LoadOptions = LoadOptions()) throws -> LanguageModel {
        let name = source ?? "smollm2"
        var path = name
        if defaultAliases.contains(name.lowercased()) {
            guard let p = defaultModelPath(base: options.baseDirectory) else { throw defaultModelMissing(base: options.baseDirectory) }
            path = p
        } else if let base = options.baseDirectory, !name.hasPrefix("/") {
            path = URL(fileURLWithPath: base).appendingPathComponent(name).standardized.path
        }
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        if !exists {
            guard looksLikeHubRepoId(name) else {
                throw ModelError.fileNotFound(path, hint: "Give a .gguf file, a Hugging Face model folder, a Hub id like \"HuggingFaceTB/SmolLM2-135M-Instruct\", or \"smollm2\" for the embedded model.")
            }
            guard let resolver = options.hubResolver else {
                throw ModelError.fileNotFound(name, hint: "It is not in the local Hugging Face cache.")
            }
            path = try resolver(name, options.file)
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        } else if let f = options.file {
            throw ModelError.invalidArgument("file=\"\(f)\" picks a file of a Hub repo; \(name) is a local path, so give the .gguf file's path itself")
        }
        let model: LanguageModel
        if isDir.boolValue {
            model = try loadFolder(path, name: name, options: options)
        } else if path.hasSuffix(".gguf") {
            model = try loadGGUF(path, name: name, options: options)
        } else {
            throw ModelError.invalidFile(path, problem: "is neither a .gguf file nor a folder with config.json")
        }
        if let m = options.maxSeqLength {
            guard m > 1 else { throw ModelError.invalidArgument("max_seq_length must be at least 2 (got \(m))") }
            model.maxSeqLength = min(m, model.config.maxPositionEmbeddings)
        }
        return model
    }

    static func loadGGUF(_ path: String, name: String, options: LoadOptions) throws -> LanguageModel {
        let file = try GGUFFile(path: path)
        let config = try GGUFModel.config(file)
        let weights = try GGUFModel.weights(file, config: config)
        try convert(weights, options: options, stored: Set(file.tensors.map(\.dtype)))
        try place(weights, options: options)
        let network = try Transformer(config: config, weights: weights, source: path)
        let spec = try GGUFModel.tokenizerSpec(file)
        let tokenizer = try Tokenizer(gguf: spec)
        let template = try file.metadata["tokenizer.chat_template"]?.string.map { try ChatTemplate(source: $0) }
        let types = Set(file.tensors.map(\.dtype)).map(\.rawValue).sorted()
        let model = LanguageModel(network: network, tokenizer: tokenizer, chatTemplate: template, name: name, path: path,
                          format: "GGUF (\(types.joined(separator: ", ")))", eosIds: config.eosTokenIds)
        model.ggufTokenizer = spec
        return model
    }

    static func loadFolder(_ path: String, name: String, options: LoadOptions) throws -> LanguageModel {
        let dir = URL(fileURLWithPath: path)
        func read(_ file: String) -> Data? { try? Data(contentsOf: dir.appendingPathComponent(file)) }
        guard let configData = read("config.json") else {
            throw ModelError.fileNotFound(dir.appendingPathComponent("config.json").path, hint: "A Hugging Face model folder needs config.json, model.safetensors (or shards with an index), tokenizer.json.")
        }
        let config = try ModelConfig.fromHuggingFace(configData, file: dir.appendingPathComponent("config.json").path)
        // Weights: one file, or shards listed in the index.
        var files: [String] = []
        if let index = read("model.safetensors.index.json") {
            guard let map = (try? JSON.parse(index, options: .strict))?["weight_map"]?.objectValue,
                  let shards = Optional(map.compactMap { $0.1.stringValue }), shards.count == map.count else {
                throw ModelError.invalidFile(dir.appendingPathComponent("model.safetensors.index.json").path, problem: "has no weight_map")
            }
            files = Array(Set(shards)).sorted()
        } else if FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) {
            files = ["model.safetensors"]
        } else {
            throw ModelError.fileNotFound(dir.appendingPathComponent("model.safetensors").path,
                                         hint: "Finch reads safetensors weights (convert .bin checkpoints with transformers' save_pretrained(safe_serialization=True)).")
        }
        var tensors: [String: Tensor] = [:]
        var stored = Set<DType>()
        for f in files {
            guard !f.contains("/"), !f.contains("..") else { throw ModelError.invalidFile(f, problem: "is not a plain file name in the index") }
            let st = try SafetensorsFile(path: dir.appendingPathComponent(f).path)
            for info in st.tensors {
                guard let dtype = info.dtype.storageType else {
                    throw ModelError.invalidFile(st.path, problem: "tensor \(info.name) has dtype \(info.dtype.rawValue), which Finch cannot compute with")
                }
                stored.insert(dtype)
                tensors[info.name] = try Tensor(shape: info.shape, dtype: dtype, bytes: st.data(for: info).baseAddress!, owner: st)
            }
        }
        let weights = WeightSet(tensors, source: path)
        try convert(weights, options: options, stored: stored)
        try place(weights, options: options)
        let network = try Transformer(config: config, weights: weights, source: path)
        guard let tokJSON = read("tokenizer.json") else {
            throw ModelError.fileNotFound(dir.appendingPathComponent("tokenizer.json").path, hint: "Save the tokenizer with transformers' tokenizer.save_pretrained(folder).")
        }
        let tokConfig = read("tokenizer_config.json")
        let tokenizer = try Tokenizer(tokenizerJSON: tokJSON, config: tokConfig,
                                      tokenizerFile: dir.appendingPathComponent("tokenizer.json").path,
                                      configFile: dir.appendingPathComponent("tokenizer_config.json").path)
        var templateSource = tokenizer.chatTemplate
        if let jinja = read("chat_template.jinja") { templateSource = String(decoding: jinja, as: UTF8.self) }
        let template = try templateSource.map { try ChatTemplate(source: $0) }
        var eos = config.eosTokenIds
        if let gen = read("generation_config.json"),
           let e = (try? GenerationConfig.fromHuggingFace(gen, file: "generation_config.json"))?.eosTokenIds, !e.isEmpty {
            eos = e
        }
        if eos.isEmpty, let e = tokenizer.eosTokenId { eos = [e] }
        return LanguageModel(network: network, tokenizer: tokenizer, chatTemplate: template, name: name, path: path,
                     format: "safetensors (\(stored.map(\.rawValue).sorted().joined(separator: ", ")))", eosIds: eos)
    }

    /// Applies `dtype=` / `quantize=` to the projection and embedding weights.
    static func convert(_ weights: WeightSet, options: LoadOptions, stored: Set<DType>) throws {
        if let q = options.quantize {
            guard [.q8_0, .q4_0, .q4_1, .nf4].contains(q) else {
                throw ModelError.invalidArgument("quantize must be \"q8_0\", \"q4_0\", \"q4_1\" or \"nf4\" (got \"\(q)\")")
            }
            guard !stored.contains(where: \.isQuantized) else {
                throw ModelError.invalidArgument("quantize= applies to 16/32-bit checkpoints; this model is already quantized (\(stored.map(\.rawValue).sorted().joined(separator: ", ")))")
            }
        }
        if let d = options.dtype, ![.f32, .f16, .bf16].contains(d) {
            throw ModelError.invalidArgument("dtype must be \"f32\", \"f16\" or \"bf16\" (got \"\(d)\")")
        }
        for (name, t) in weights.tensors where t.rank == 2 {
            // the projections only: like bitsandbytes' QLoRA, lm_head (and the embeddings) stay 16/32-bit
            let isProjection = name.contains(".self_attn.") || name.contains(".mlp.")
            if let q = options.quantize, isProjection, t.cols % q.blockSize == 0 {
                weights.replace(name, with: try convertTensor(t, to: q))
            } else if let d = options.dtype, d != t.dtype, !t.dtype.isQuantized || d == .f32 {
                weights.replace(name, with: try convertTensor(t, to: d))
            }
        }
    }

    /// Moves the weights to `options.device`. On an accelerator the frozen matrices are kept in
    /// bf16 (its matrix units' type), or as q8_0/q4_0/q4_1/nf4 blocks that its kernels decode as they
    /// read (the QLoRA-style path), unless `dtype=` asked for another 16/32-bit type; vectors
    /// (norms, biases) are f32. Each tensor goes over as soon as it is converted, so host memory
    /// holds at most one converted tensor beyond the (memory-mapped) file.
    static func place(_ weights: WeightSet, options: LoadOptions) throws {
        guard let device = options.device, device != .cpu else { return }
        for (name, t) in weights.tensors {
            let target: DType
            if t.rank < 2 { target = .f32 }
            else if [.q8_0, .q4_0, .q4_1, .nf4].contains(t.dtype) { target = t.dtype }
            else if let d = options.dtype { target = d }
            else { target = .bf16 }
            weights.replace(name, with: try t.moved(to: device, dtype: target))
        }
    }

    /// A copy of `t` stored as `dtype`, converted a row block at a time.
    public static func convertTensor(_ t: Tensor, to dtype: DType) throws -> Tensor {
        let rows = t.rows, cols = t.cols
        guard let rowBytes = dtype.byteCount(elements: cols), let srcRowBytes = t.dtype.byteCount(elements: cols) else {
            throw TensorError.invalidShape(op: "convert to \(dtype)", shape: t.shape, expected: "rows a multiple of \(dtype.blockSize)")
        }
        let storage = TensorStorage(pooledBytes: rows * rowBytes, dtype: dtype)
        let src = UnsafeRawPointer(t.rawBytes)
        let out = storage.raw
        if dtype == .nf4 {
            // NF4's double quantization groups scales across rows and takes one mean per tensor:
            // the whole tensor in f32, then one call.
            let all = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
            defer { all.deallocate() }
            parallelFor(rows, minChunk: 16) { r in
                for i in r { dequantize(t.dtype, src + i * srcRowBytes, into: all + i * cols, count: cols) }
            }
            try quantize(.nf4, all, into: out, count: rows * cols)
            return Tensor(shape: t.shape, storage: storage)
        }
        parallelFor(rows, minChunk: 16) { r in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { row.deallocate() }
            for i in r {
                dequantize(t.dtype, src + i * srcRowBytes, into: row, count: cols)
                switch dtype {
                case .f32: (out + i * rowBytes).copyMemory(from: row, byteCount: rowBytes)
                default: try? quantize(dtype, row, into: out + i * rowBytes, count: cols)
                }
            }
        }
        return Tensor(shape: t.shape, storage: storage)
    }
}
