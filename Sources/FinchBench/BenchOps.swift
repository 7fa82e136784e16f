import CBLAS
import Foundation
import FinchTensor

/// `finch bench ops`: the engine's matrix products on SmolLM2-135M's shapes at 1024 rows, next to
/// raw `cblas_sgemm` on the same shapes in the same run, plus element-wise throughput.
public enum BenchOps {
    public struct Row {
        public let name: String
        public let engine: Double
        public let raw: Double?
        public let unit: String
    }

    /// Median seconds of `body` over enough repetitions to fill about `budget` seconds.
    static func time(budget: Double = 0.4, _ body: () throws -> Void) rethrows -> Double {
        try body()  // warm-up: page faults, pool fill, BLAS thread start
        var samples: [Double] = []
        let start = Date()
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        } while Date().timeIntervalSince(start) < budget || samples.count < 3
        samples.sort()
        return samples[samples.count / 2]
    }

    static func random(_ shape: [Int], seed: inout UInt64) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let p = t.data
        for i in 0..<t.count {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            p[i] = Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1
        }
        return t
    }

    public static func run(rows n: Int = 1024, budget: Double = 0.4) throws -> [Row] {
        var seed: UInt64 = 42
        var out: [Row] = []
        let shapes = [(576, 576), (576, 192), (576, 1536), (1536, 576), (576, 49152)]  // (in, out)
        let rank = 16
        try GradMode.noGrad {
            for (inF, outF) in shapes {
                let x = random([n, inF], seed: &seed), w = random([outF, inF], seed: &seed), dy = random([n, outF], seed: &seed)
                let c1 = Tensor(uninitialized: [n, outF]), c2 = Tensor(uninitialized: [n, inF])
                let flops = 2.0 * Double(n * inF * outF)
                // y = x·Wᵀ
                let e1 = try time(budget: budget) { _ = try Ops.linear(x, w) }
                let r1 = time(budget: budget) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outF), Int32(inF), 1, x.data, Int32(inF), w.data, Int32(inF), 0, c1.data, Int32(outF))
                }
                out.append(Row(name: "y = x·Wᵀ  \(n)×\(inF) · (\(outF)×\(inF))ᵀ", engine: flops / e1 / 1e9, raw: flops / r1 / 1e9, unit: "GFLOP/s"))
                // dx = dy·W
                let e2 = try time(budget: budget) { _ = try Ops.matmul(dy, w) }
                let r2 = time(budget: budget) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inF), Int32(outF), 1, dy.data, Int32(outF), w.data, Int32(inF), 0, c2.data, Int32(inF))
                }
                out.append(Row(name: "dx = dy·W  \(n)×\(outF) · \(outF)×\(inF)", engine: flops / e2 / 1e9, raw: flops / r2 / 1e9, unit: "GFLOP/s"))
                // LoRA: (x·Aᵀ)·Bᵀ with rank 16
                let a = random([rank, inF], seed: &seed), b = random([outF, rank], seed: &seed)
                let xa = Tensor(uninitialized: [n, rank])
                let loraFlops = 2.0 * Double(n * rank * (inF + outF))
                let e3 = try time(budget: budget) { _ = try Ops.linear(try Ops.linear(x, a), b) }
                let r3 = time(budget: budget) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(rank), Int32(inF), 1, x.data, Int32(inF), a.data, Int32(inF), 0, xa.data, Int32(rank))
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outF), Int32(rank), 1, xa.data, Int32(rank), b.data, Int32(rank), 0, c1.data, Int32(outF))
                }
                out.append(Row(name: "LoRA (x·Aᵀ)·Bᵀ r=\(rank) \(inF)→\(outF)", engine: loraFlops / e3 / 1e9, raw: loraFlops / r3 / 1e9, unit: "GFLOP/s"))
            }
            // Element-wise throughput (bytes read + written).
            let a = random([n, 1536], seed: &seed), b = random([n, 1536], seed: &seed)
            let bytes3 = Double(3 * a.count * 4)
            let tAdd = try time(budget: budget) { _ = try Ops.add(a, b) }
            out.append(Row(name: "add \(n)×1536", engine: bytes3 / tAdd / 1e9, raw: nil, unit: "GB/s"))
            let tSwi = try time(budget: budget) { _ = try Ops.swiglu(gate: a, up: b) }
            out.append(Row(name: "swiglu \(n)×1536", engine: bytes3 / tSwi / 1e9, raw: nil, unit: "GB/s"))
            let h = random([n, 576], seed: &seed), nw = random([576], seed: &seed)
            let tNorm = try time(budget: budget) { _ = try Ops.rmsNorm(h, weight: nw, eps: 1e-5) }
            out.append(Row(name: "rmsNorm \(n)×576", engine: Double(2 * h.count * 4) / tNorm / 1e9, raw: nil, unit: "GB/s"))
        }
        return out
    }

    public static func format(_ rows: [Row]) -> String {
        var lines = ["| operation | Finch | raw sgemm | Finch / raw |", "|---|---:|---:|---:|"]
        for r in rows {
            let raw = r.raw.map { String(format: "%.1f %@", $0, r.unit) } ?? "—"
            let ratio = r.raw.map { String(format: "%.0f %%", 100 * r.engine / $0) } ?? "—"
            lines.append("| \(r.name) | \(String(format: "%.1f", r.engine)) \(r.unit) | \(raw) | \(ratio) |")
        }
        return lines.joined(separator: "\n")
    }
}
