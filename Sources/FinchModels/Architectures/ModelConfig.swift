import Foundation
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

    /// Parses a Hugging Face `config.json`.
    public static func fromHuggingFace(_ data: Data, file: String) throws -> ModelConfig {
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidFile(file, problem: "is not a JSON object")
        }
        let modelType = (json["model_type"] as? String) ?? ""
        let archName = (json["architectures"] as? [String])?.first ?? modelType
        let arch: Architecture
        switch modelType {
        case "llama": arch = .llama
        case "mistral": arch = .mistral
        case "qwen2": arch = .qwen2
        default: throw ModelError.unsupportedArchitecture(modelType.isEmpty ? archName : "\(modelType) (\(archName))", file: file)
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = exactInt(json[key]) { return v }
            if json[key] == nil, let value { return value }
            if let n = json[key] as? NSNumber, !isJSONBool(n) {
                throw ModelError.invalidConfig(file: file, key: key, problem: "must be a whole number no larger than \(Int.max) (got \(json[key]!))")
            }
            throw ModelError.invalidConfig(file: file, key: key, problem: json[key] == nil ? "is missing" : "must be an integer")
        }
        func float(_ key: String, default value: Float) throws -> Float {
            guard let v = json[key] else { return value }
            if let d = v as? Double { return Float(d) }
            if let i = v as? Int { return Float(i) }
            throw ModelError.invalidConfig(file: file, key: key, problem: "must be a number")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw ModelError.invalidConfig(file: file, key: "hidden_act", problem: "'\(act)' is not supported (only silu)")
        }
        let heads = try int("num_attention_heads")
        // transformers ≥ 5 nests rope settings in rope_parameters; older files use rope_theta + rope_scaling.
        let ropeParams = (json["rope_parameters"] as? [String: Any]) ?? (json["rope_scaling"] as? [String: Any]) ?? [:]
        var theta = try float("rope_theta", default: 10_000)
        if let t = ropeParams["rope_theta"] as? Double { theta = Float(t) }
        let scaling = try parseRopeScaling(ropeParams, file: file)
        var eos: [Int] = []
        if let e = exactInt(json["eos_token_id"]) { eos = [e] } else if let e = exactInts(json["eos_token_id"]) { eos = e }
        let config = ModelConfig(
            architecture: arch,
            vocabSize: try int("vocab_size"),
            hiddenSize: try int("hidden_size"),
            intermediateSize: try int("intermediate_size"),
            numHiddenLayers: try int("num_hidden_layers"),
            numAttentionHeads: heads,
            numKeyValueHeads: try int("num_key_value_heads", default: heads),
            headDim: json["head_dim"] == nil || json["head_dim"] is NSNull ? nil : try int("head_dim"),
            rmsNormEps: try float("rms_norm_eps", default: 1e-6),
            ropeTheta: theta,
            ropeScaling: scaling,
            maxPositionEmbeddings: try int("max_position_embeddings", default: 2048),
            tieWordEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? (arch == .qwen2 ? true : false),
            qkvBias: arch == .qwen2 ? true : ((json["attention_bias"] as? Bool) ?? false),
            oBias: arch == .qwen2 ? false : ((json["attention_bias"] as? Bool) ?? false),
            mlpBias: (json["mlp_bias"] as? Bool) ?? false,
            bosTokenId: exactInt(json["bos_token_id"]),
            eosTokenIds: eos)
        try config.validate(file: file)
        return config
    }

    static func parseRopeScaling(_ p: [String: Any], file: String) throws -> RopeTable.Scaling {
        let type = (p["rope_type"] as? String) ?? (p["type"] as? String) ?? "default"
        func num(_ k: String) throws -> Float {
            if let d = p[k] as? Double { return Float(d) }
            if let i = p[k] as? Int { return Float(i) }
            throw ModelError.invalidConfig(file: file, key: "rope_scaling.\(k)", problem: "is missing or not a number")
        }
        func positions(_ v: Float) throws -> Int {
            guard let n = Int(exactly: v), n > 0 else {
                throw ModelError.invalidConfig(file: file, key: "rope_scaling.original_max_position_embeddings", problem: "must be a positive whole number (got \(v))")
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
            throw ModelError.invalidConfig(file: file, key: "rope_scaling.rope_type", problem: "'\(type)' is not supported (default, linear, llama3)")
        }
    }
}

/// A JSON number (from JSONSerialization) as an Int when it is a whole number that fits: `as? Int`
/// would turn 1e39 into Int.min and 2.5 into 2.
public func exactInt(_ v: Any?) -> Int? {
    guard let n = v as? NSNumber, !isJSONBool(n) else { return nil }
    let d = n.doubleValue
    guard d.isFinite, d == d.rounded(), abs(d) <= 9.2e18 else { return nil }
    let i = n.int64Value
    guard Double(i) == d else { return nil }  // a double's value, not a truncation
    return Int(i)
}

/// true/false from JSONSerialization (an NSNumber whose type is char); `is Bool` also matches 0 and 1.
public func isJSONBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

/// A JSON array of whole numbers (e.g. several eos_token_id) as [Int]; nil if any element is not one.
public func exactInts(_ v: Any?) -> [Int]? {
    guard let a = v as? [Any] else { return nil }
    var out: [Int] = []
    for x in a { guard let i = exactInt(x) else { return nil }; out.append(i) }
    return out
}
