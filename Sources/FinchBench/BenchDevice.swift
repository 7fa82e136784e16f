import Foundation
import FinchCUDA
import FinchModels
import FinchTensor
import FinchTrain

/// Benchmarks on an accelerator: the Llama-3.1-8B shape with random weights made on the device.
public enum BenchDevice {
    /// Llama-3.1-8B's shape (hidden 4096, 32 layers, 32/8 heads, FFN 14336, vocab 128,256, llama3 rope scaling).
    public static let llama8BConfig = ModelConfig(
        architecture: .llama, vocabSize: 128_256, hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32,
        numAttentionHeads: 32, numKeyValueHeads: 8, rmsNormEps: 1e-5, ropeTheta: 500_000,
        ropeScaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192), maxPositionEmbeddings: 131_072,
        tieWordEmbeddings: false, bosTokenId: 128_000, eosTokenIds: [128_001])

    /// Activates a device named like "cuda" / "cuda:1"; throws when there is none.
    public static func activate(_ name: String) throws -> Device {
        if name == "cpu" { return .cpu }
        let ordinal = name.split(separator: ":").dropFirst().first.flatMap { Int($0) } ?? 0
        return try CUDA.activate(ordinal: ordinal).device
    }

    /// A model of `config` whose weights are random on `device`: matrices in `dtype` (bf16, or
    /// q4_0 / nf4 for the QLoRA-style path; the embedding and head stay bf16), norms f32.
    public static func randomModel(_ config: ModelConfig, device: Device, dtype: DType = .bf16, seed: UInt64 = 1) throws -> Transformer {
        guard case let .cuda(ordinal) = device, let cuda = CUDA.backend(ordinal) else {
            return try BenchTrain.randomModel(config, seed: seed)
        }
        var tensors: [String: Tensor] = [:]
        var n: UInt64 = seed
        for (name, shape, role) in BenchTrain.weightLayout(config) {
            let type: DType = role == .norm ? .f32 : role == .projection ? dtype : .bf16
            let count = shape.reduce(1, *)
            guard let bytes = type.byteCount(elements: count) else { throw ModelError.invalidArgument("\(name): \(count) is not whole \(type) blocks") }
            let t = Tensor(shape: shape, storage: cuda.allocate(bytes: bytes, dtype: type))
            switch role {
            case .norm: cuda.fill(t, 1)
            case .embedding: cuda.fillUniform(t, seed: n &* 0x9E37_79B9_7F4A_7C15, scale: 0.05)
            case .head, .projection: cuda.fillUniform(t, seed: n &* 0x9E37_79B9_7F4A_7C15, scale: 0.02)
            }
            n += 1
            tensors[name] = t
        }
        return try Transformer(config: config, weights: WeightSet(tensors, source: "random"), source: "random \(config.architecture) on \(device)")
    }

    /// Greedy decode tokens/s with a KV cache after a prompt of `promptTokens` random ids.
    public static func decode(model: Transformer, promptTokens: Int, tokens: Int) throws -> (prefill: Double, decode: Double) {
        var rng = SplitMix64(seed: 5)
        let prompt = (0..<promptTokens).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) }
        var opts = GenerationOptions()
        opts.maxTokens = tokens
        opts.temperature = 0
        opts.stopIds = []
        let r = try model.generate(prompt: prompt, options: opts)
        return (Double(promptTokens) / r.prefillSeconds, Double(r.tokens.count - 1) / max(r.decodeSeconds, 1e-9))
    }
}
