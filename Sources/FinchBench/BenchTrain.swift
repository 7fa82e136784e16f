import Foundation
import FinchModels
import FinchTensor
import FinchTrain

/// `finch bench train`: LoRA training throughput on a SmolLM2-135M-shaped model.
public enum BenchTrain {
    /// SmolLM2-135M's shape (30 layers, hidden 576, 9/3 heads, FFN 1536, vocab 49152, tied).
    public static let smolConfig = ModelConfig(
        architecture: .llama, vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
        numAttentionHeads: 9, numKeyValueHeads: 3, rmsNormEps: 1e-5, ropeTheta: 100_000, maxPositionEmbeddings: 8192,
        tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2])

    public enum WeightRole: Sendable { case embedding, head, norm, projection }

    /// Every weight of a `config`-shaped Llama with its Hugging Face name and shape (the head only
    /// when embeddings are untied).
    public static func weightLayout(_ config: ModelConfig) -> [(name: String, shape: [Int], role: WeightRole)] {
        let c = config.hiddenSize, d = config.headDim, f = config.intermediateSize
        var out: [(name: String, shape: [Int], role: WeightRole)] = [("model.embed_tokens.weight", [config.vocabSize, c], .embedding)]
        if !config.tieWordEmbeddings { out.append(("lm_head.weight", [config.vocabSize, c], .head)) }
        out.append(("model.norm.weight", [c], .norm))
        for l in 0..<config.numHiddenLayers {
            let p = "model.layers.\(l)."
            out += [(p + "input_layernorm.weight", [c], .norm), (p + "post_attention_layernorm.weight", [c], .norm),
                    (p + "self_attn.q_proj.weight", [config.numAttentionHeads * d, c], .projection),
                    (p + "self_attn.k_proj.weight", [config.numKeyValueHeads * d, c], .projection),
                    (p + "self_attn.v_proj.weight", [config.numKeyValueHeads * d, c], .projection),
                    (p + "self_attn.o_proj.weight", [c, config.numAttentionHeads * d], .projection),
                    (p + "mlp.gate_proj.weight", [f, c], .projection), (p + "mlp.up_proj.weight", [f, c], .projection),
                    (p + "mlp.down_proj.weight", [c, f], .projection)]
        }
        return out
    }

    /// A model of `config` with random f32 weights (the speed of the real weights, without the file).
    public static func randomModel(_ config: ModelConfig, seed: UInt64 = 1) throws -> Transformer {
        var rng = SplitMix64(seed: seed)
        var tensors: [String: Tensor] = [:]
        for (name, shape, role) in weightLayout(config) {
            let scale: Float = role == .norm ? 1 : 0.05
            let t = Tensor(uninitialized: shape)
            for i in 0..<t.count { t.data[i] = (rng.nextFloat() * 2 - 1) * scale }
            tensors[name] = t
        }
        return try Transformer(config: config, weights: WeightSet(tensors, source: "random"), source: "random \(config.architecture)")
    }

    public struct Result {
        public var tokensPerSecond: Double
        public var stepSeconds: [Double]
        public var peakResident: Int
        public var peakEngine: Int
        public var checkpointing: Bool
        /// Minor page faults and buffers taken from the system per timed step: a steady-state step
        /// should reuse the buffer pool's memory (each fault zeroes a fresh 4 KiB page).
        public var pageFaultsPerStep: Double
        public var systemAllocationsPerStep: Double
    }

    /// One measured run as `finch bench train` reports it: tokens/s, and the % of the ceiling measured around
    /// it (CPU only).
    public struct Measured: Sendable {
        public var tokensPerSecond: Double
        public var percentOfCeiling: Double?
        /// Of the rate sustained right after the steps (`--sustained`), where measured.
        public var percentOfSustained: Double?
        public init(tokensPerSecond: Double, percentOfCeiling: Double?, percentOfSustained: Double? = nil) {
            self.tokensPerSecond = tokensPerSecond
            self.percentOfCeiling = percentOfCeiling
            self.percentOfSustained = percentOfSustained
        }
    }

    /// The median and range of several runs (nil for fewer than two): on a machine whose speed drifts by a
    /// few % within minutes (a shared VM, a laptop's boost), one run says little about a bar a point away.
    public static func summary(_ runs: [Measured]) -> String? {
        guard runs.count > 1 else { return nil }
        func spread(_ values: [Double], _ format: String) -> String {
            let v = values.sorted(), mid = v.count / 2
            let median = v.count % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
            return String(format: "median \(format) (\(format)–\(format))", median, v[0], v[v.count - 1])
        }
        var line = "over \(runs.count) runs: " + spread(runs.map(\.tokensPerSecond), "%.1f") + " tokens/s"
        let percents = runs.compactMap(\.percentOfCeiling)
        if percents.count == runs.count { line += ", " + spread(percents, "%.1f") + " % of the ceiling" }
        let sustained = runs.compactMap(\.percentOfSustained)
        if sustained.count == runs.count { line += ", " + spread(sustained, "%.1f") + " % of the sustained rate" }
        return line
    }

    static func minorPageFaults() -> Int {
        var usage = rusage()
        getrusage(0 /* RUSAGE_SELF */, &usage)
        return usage.ru_minflt
    }

    /// Times `steps` optimizer steps (after one warm-up step) of batch × seqLen tokens, r 16 on all
    /// seven projections, AdamW.
    public static func run(model: Transformer, batch: Int = 4, seqLen: Int = 256, steps: Int = 5,
                           checkpointing: TrainConfig.Checkpointing = .auto) throws -> Result {
        var lc = LoRAConfig()
        lc.rank = 16; lc.alpha = 16
        try model.attachLoRA(lc)
        var rng = SplitMix64(seed: 7)
        let rows = (0..<(batch * (steps + 1))).map { _ in
            TrainExample(ids: (0..<seqLen).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) })
        }
        var cfg = TrainConfig()
        cfg.steps = steps + 1
        cfg.batchSize = batch
        cfg.lr = 1e-4
        cfg.maxSeqLength = seqLen
        cfg.gradientCheckpointing = checkpointing
        let trainer = try Trainer(model: model, train: rows, config: cfg, padId: 0)
        model.norm.backend.resetPeak()
        var times: [Double] = []
        var last = DispatchTime.now().uptimeNanoseconds
        var faults = 0, allocations = 0  // at the end of the warm-up step
        _ = try trainer.run(onStep: { _ in
            let now = DispatchTime.now().uptimeNanoseconds
            times.append(Double(now - last) / 1e9)
            if times.count == 1 {
                (faults, allocations) = (minorPageFaults(), BufferPool.shared.systemAllocations)
                Profiler.reset()  // FINCH_PROFILE covers the timed steps only, not the warm-up's first touches
            }
            last = now
        })
        let timed = Array(times.dropFirst())
        let tps = Double(batch * seqLen * timed.count) / timed.reduce(0, +)
        let n = Double(max(1, timed.count))
        return Result(tokensPerSecond: tps, stepSeconds: timed, peakResident: peakResidentBytes(),
                      peakEngine: model.norm.backend.peakBytesInUse, checkpointing: trainer.usesCheckpointing,
                      pageFaultsPerStep: Double(minorPageFaults() - faults) / n,
                      systemAllocationsPerStep: Double(BufferPool.shared.systemAllocations - allocations) / n)
    }
}
