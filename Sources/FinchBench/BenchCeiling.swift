import CBLAS
import Foundation
import FinchModels
import FinchTensor

/// `finch bench train`'s yardstick: the machine's f32 matrix-product ceiling measured in the same run, and
/// the useful FLOPs of one trained token, so that tokens/s becomes a fraction of what the CPU can do.
public enum BenchCeiling {
    /// The best GFLOP/s of the engine's product (`Ops.linear`, the path training takes, with W packed per call
    /// and with W packed once as training packs its frozen weights, PackedWeights; and raw `cblas_sgemm`) on the
    /// model's training shapes at `rows` rows, measured now. The highest is the ceiling
    /// (`ceiling` says when OpenBLAS's counts).
    public static func gflops(_ config: ModelConfig, rows: Int = 1024, budget: Double = 0.25) throws -> (engine: Double, blas: Double) {
        var seed: UInt64 = 3
        var best = (engine: 0.0, blas: 0.0)
        let c = config.hiddenSize, f = config.intermediateSize
        try GradMode.noGrad {
            for (inF, outF) in [(c, c), (c, f), (f, c)] {
                let x = BenchOps.random([rows, inF], seed: &seed), w = BenchOps.random([outF, inF], seed: &seed)
                let y = Tensor(uninitialized: [rows, outF])
                let flops = 2.0 * Double(rows * inF * outF)
                let e = try BenchOps.time(budget: budget) { _ = try Ops.linear(x, w) }
                Backends.cpu.packFrozenWeights(transposed: [w], plain: [], budgetBytes: Int.max)
                let packed = try BenchOps.time(budget: budget) { _ = try Ops.linear(x, w) }
                Backends.cpu.releasePackedWeights([w])
                let r = BenchOps.time(budget: budget) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outF), Int32(inF), 1, x.data, Int32(inF), w.data, Int32(inF), 0, y.data, Int32(outF))
                }
                best.engine = max(best.engine, flops / min(e, packed) / 1e9)
                best.blas = max(best.blas, flops / r / 1e9)
            }
        }
        // Its matrices would otherwise stay in the pool's free cache, beside the buffers of the training
        // measured next, and raise its peak RSS (by 23 MB at SmolLM2's shapes and --seq-len 64).
        BufferPool.shared.trim()
        return best
    }

    /// The engine's rate on one training shape run back to back for `seconds` with no pause: x (rows × hidden)
    /// times Wᵀ with W (intermediate × hidden) packed once, as training packs its frozen weights. The ceiling
    /// (`gflops`) is the best median of short bursts after idling; this is what the cores sustain while products
    /// follow each other, as in a step. On hosts whose bursts run faster than sustained work (the 16-vCPU Xeons
    /// of BENCHMARKS.md session 15: 224 against 197 GFLOP/s on two threads) the % of this rate tells how much of
    /// the gap to the ceiling is the machine's. Total FLOPs over total time, warm-up call excluded.
    public static func sustainedGflops(_ config: ModelConfig, rows: Int = 1024, seconds: Double) throws -> Double {
        var seed: UInt64 = 5
        let c = config.hiddenSize, f = config.intermediateSize
        let rate: Double = try GradMode.noGrad {
            let x = BenchOps.random([rows, c], seed: &seed), w = BenchOps.random([f, c], seed: &seed)
            Backends.cpu.packFrozenWeights(transposed: [w], plain: [], budgetBytes: Int.max)
            defer { Backends.cpu.releasePackedWeights([w]) }
            _ = try Ops.linear(x, w)
            var calls = 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                _ = try Ops.linear(x, w)
                calls += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            } while elapsed < seconds
            return 2.0 * Double(rows * c * f) * Double(calls) / elapsed / 1e9
        }
        BufferPool.shared.trim()
        return rate
    }

    /// The ceiling of a run from its measurements before and after the steps: the best of the engine's and
    /// OpenBLAS's rates, but the engine's alone where `FINCH_ISA` holds the kernels below the CPU's own level
    /// (`active` < `supported`). OpenBLAS picks its kernels for the CPU when it loads and does not follow
    /// `FINCH_ISA`: on an AVX-512 CPU with full-width units its AVX-512 rate is no ceiling for an AVX2 run, and
    /// the machines `FINCH_ISA=avx2` stands for have no such kernels.
    public static func ceiling(engine: [Double], blas: [Double], active: CPUISA, supported: CPUISA) -> (best: Double, countsBLAS: Bool) {
        let countsBLAS = active == supported
        return ((engine + (countsBLAS ? blas : [])).max() ?? 0, countsBLAS)
    }

    /// Useful FLOPs per trained token of LoRA rank `rank` on all seven projections (frozen base, frozen head):
    /// base and head products forward (2·N) and their input gradients (2·N); the adapters forward (2·r·(in+out))
    /// and backward (4·r·(in+out)); causal attention over `seqLen` (Q·Kᵀ and P·V forward, 4·H·D per key and
    /// query, on average (seqLen+1)/2 keys; backward twice that). Recomputation by checkpointing is not useful work,
    /// and neither is the gradient of the first layer's input through q, k and v (base and adapter): it would only
    /// reach the frozen embeddings, so neither Finch nor PyTorch computes it.
    public static func flopsPerToken(_ config: ModelConfig, seqLen: Int, rank: Int = 16) -> Double {
        let c = Double(config.hiddenSize), f = Double(config.intermediateSize), d = Double(config.headDim)
        let q = Double(config.numAttentionHeads) * d, kv = Double(config.numKeyValueHeads) * d
        let layers = Double(config.numHiddenLayers)
        let shapes: [(Double, Double)] = [(c, q), (c, kv), (c, kv), (q, c), (c, f), (c, f), (f, c)]  // (in, out)
        let base = layers * shapes.reduce(0) { $0 + $1.0 * $1.1 } + Double(config.vocabSize) * c
        let lora = layers * shapes.reduce(0) { $0 + Double(rank) * ($1.0 + $1.1) }
        let attention = layers * 4 * Double(config.numAttentionHeads) * d * Double(seqLen + 1) / 2
        let firstLayerInputGradient = 2 * c * (q + 2 * kv) + 3 * 2 * Double(rank) * c
        return 4 * base + 6 * lora + 3 * attention - firstLayerInputGradient
    }
}
