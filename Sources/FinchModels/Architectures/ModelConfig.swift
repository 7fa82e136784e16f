import Foundation
#if canImport(FinchSupport)
import FinchSupport
#endif
#if canImport(FinchTensor)
import FinchTensor
#endif

/// A validated decoder configuration, named as Hugging Face's `config.json` names it. Llama,
/// Mistral and Qwen2 share the decoder in `Llama.swift`; their files map their own keys here.
public struct ModelConfig: Equatable, Sendable {
    public enum Architecture: String, Sendable { case llama, mistral, qwen2 }

    public var architecture: Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeTable.Scaling
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Biases on q, k and v (Qwen2; Llama with `attention_bias`).
    public var qkvBias: Bool
    public var oBias: Bool
    public var mlpBias: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]

    public init(architecture: Architecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil, rmsNormEps: Float = 1e-6,
                ropeTheta: Float = 10_000, ropeScaling: RopeTable.Scaling = .none, maxPositionEmbeddings: Int = 2048,
                tieWordEmbeddings: Bool = false, qkvBias: Bool = false, oBias: Bool = false, mlpBias: Bool = false,
                bosTokenId: Int? = nil, eosTokenIds: [Int] = []) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.qkvBias = qkvBias
        self.oBias = oBias
        self.mlpBias = mlpBias
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
    }

    /// Checks the sizes fit together; `file` names the source in errors.
    public func validate(file: String) throws {
        func positive(_ v: Int, _ key: String) throws {
            guard v > 0 else { throw ModelError.invalidConfig(file: file, key: key, problem: "must be positive (got \(v))") }
        }
        try positive(vocabSize, "vocab_size")
        try positive(hiddenSize, "hidden_size")
        try positive(intermediateSize, "intermediate_size")
        try positive(numHiddenLayers, "num_hidden_layers")
        try positive(numAttentionHeads, "num_attention_heads")
        try positive(numKeyValueHeads, "num_key_value_heads")
        try positive(headDim, "head_dim")
        try positive(maxPositionEmbeddings, "max_position_embeddings")
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw ModelError.invalidConfig(file: file, key: "num_key_value_heads",
                                           problem: "(\(numKeyValueHeads)) must divide num_attention_heads (\(numAttentionHeads))")
        }
        guard headDim % 2 == 0 else { throw ModelError.invalidConfig(file: file, key: "head_dim", problem: "must be even for rotary embeddings (got \(headDim))") }
        guard rmsNormEps > 0, ropeTheta > 0 else { throw ModelError.invalidConfig(file: file, key: "rms_norm_eps/rope_theta", problem: "must be positive") }
        // Bounds that keep a corrupt config from asking for absurd memory.
        guard vocabSize < 10_000_000, hiddenSize < 1_000_000, numHiddenLayers < 10_000, maxPositionEmbeddings <= 10_000_000,
              intermediateSize < 10_000_000, numAttentionHeads < 100_000, headDim < 100_000 else {
            throw ModelError.invalidConfig(file: file, key: "sizes", problem: "are implausibly large")
        }
        // parameterCount in Int must not overflow (found by fuzz/model-config): check it in Double first
        let d = { (x: Int) in Double(x) }
        let perLayer = d(hiddenSize) * d(headDim) * d(numAttentionHeads * 2 + numKeyValueHeads * 2) + 3 * d(hiddenSize) * d(intermediateSize)
            + 2 * d(hiddenSize) + d(headDim) * d(numAttentionHeads + 2 * numKeyValueHeads)
        guard d(vocabSize) * d(hiddenSize) * 2 + d(numHiddenLayers) * perLayer < 1e15 else {
            throw ModelError.invalidConfig(file: file, key: "sizes", problem: "describe an implausibly large model (over 10^15 parameters)")
        }
    }

    /// Parameters of the decoder (embeddings counted once when tied).
    public var parameterCount: Int {
        let attn = hiddenSize * headDim * (numAttentionHeads * 2 + numKeyValueHeads * 2)
        let mlp = 3 * hiddenSize * intermediateSize
        let biases = (qkvBias ? headDim * (numAttentionHeads + 2 * numKeyValueHeads) : 0)
        let perLayer = attn + mlp + 2 * hiddenSize + biases
        return vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2) + numHiddenLayers * perLayer + hiddenSize
    }

    /// Parses a Hugging Face `config.json`; a problem names the file and the field.
    public static func fromHuggingFace(_ data: Data, file: String) throws -> ModelConfig {
        do { return try fromHuggingFace(try JSONFields(parsing: data, file: file)) } catch let e as JSONFieldError {
            if e.field == "(top level)" { throw ModelError.invalidFile(file, problem: e.problem) }
            throw ModelError.invalidConfig(file: e.file, key: e.field, problem: e.problem)
        }
    }

    static func fromHuggingFace(_ f: JSONFields) throws -> ModelConfig {
        let file = f.file
        let modelType = try f.string("model_type") ?? ""
        let archName = try f.strings("architectures")?.first ?? modelType
        let arch: Architecture
        switch modelType {
        case "llama": arch = .llama
        case "mistral": arch = .mistral
        case "qwen2": arch = .qwen2
        default: throw ModelError.unsupportedArchitecture(modelType.isEmpty ? archName : "\(modelType) (\(archName))", file: file)
        }
        if let act = try f.string("hidden_act"), act != "silu" {
            throw ModelError.invalidConfig(file: file, key: "hidden_act", problem: "'\(act)' is not supported (only silu)")
        }
        let heads = try f.requiredInt("num_attention_heads")
        // transformers ≥ 5 nests rope settings in rope_parameters; older files use rope_theta + rope_scaling.
        let rope = try f.object("rope_parameters") ?? f.object("rope_scaling")
        let theta = try rope?.double("rope_theta") ?? f.double("rope_theta") ?? 10_000
        let eos = f.tokenIds("eos_token_id")
        let attentionBias = try f.bool("attention_bias") ?? false
        let config = ModelConfig(
            architecture: arch,
            vocabSize: try f.requiredInt("vocab_size"),
            hiddenSize: try f.requiredInt("hidden_size"),
            intermediateSize: try f.requiredInt("intermediate_size"),
            numHiddenLayers: try f.requiredInt("num_hidden_layers"),
            numAttentionHeads: heads,
            numKeyValueHeads: try f.int("num_key_value_heads") ?? heads,
            headDim: try f.int("head_dim"),
            rmsNormEps: Float(try f.double("rms_norm_eps") ?? 1e-6),
            ropeTheta: Float(theta),
            ropeScaling: try rope.map(parseRopeScaling) ?? .none,
            maxPositionEmbeddings: try f.int("max_position_embeddings") ?? 2048,
            tieWordEmbeddings: try f.bool("tie_word_embeddings") ?? (arch == .qwen2),
            qkvBias: arch == .qwen2 ? true : attentionBias,
            oBias: arch == .qwen2 ? false : attentionBias,
            mlpBias: try f.bool("mlp_bias") ?? false,
            bosTokenId: f["bos_token_id"]?.intValue,
            eosTokenIds: eos)
        try config.validate(file: file)
        return config
    }

    static func parseRopeScaling(_ p: JSONFields) throws -> RopeTable.Scaling {
        let type = try p.string("rope_type") ?? p.string("type") ?? "default"
        func num(_ k: String) throws -> Float {
            guard let d = try p.double(k) else { throw p.error(k, "is missing or not a number") }
            return Float(d)
        }
        func positions(_ v: Float) throws -> Int {
            guard let n = Int(exactly: v), n > 0 else {
                throw p.error("original_max_position_embeddings", "must be a positive whole number (got \(v))")
            }
            return n
        }
        switch type {
        case "default": return .none
        case "linear": return .linear(factor: try num("factor"))
        case "llama3":
            return .llama3(factor: try num("factor"), lowFreqFactor: try num("low_freq_factor"),
                           highFreqFactor: try num("high_freq_factor"),
                           originalMaxPositions: try positions(try num("original_max_position_embeddings")))
        default:
            throw p.error("rope_type", "'\(type)' is not supported (default, linear, llama3)")
        }
    }
}

/// The fields of `generation_config.json` Finch uses.
public struct GenerationConfig: Equatable, Sendable {
    /// One id or several (Llama 3 stops at <|eot_id|> and <|end_of_text|>); empty when absent.
    public var eosTokenIds: [Int]

    public static func fromHuggingFace(_ data: Data, file: String) throws -> GenerationConfig {
        let f = try JSONFields(parsing: data, file: file)
        return GenerationConfig(eosTokenIds: f.tokenIds("eos_token_id"))
    }
}
