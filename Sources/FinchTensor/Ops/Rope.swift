import CFinchKernels
import Foundation

// Rotary position embeddings in the Hugging Face layout ("rotate_half"): within each head of
// size D, dimension i pairs with i + D/2 and the pair turns by pos · invFreq[i]. The backward is
// the same rotation by the opposite angle.

/// Precomputed cos/sin tables for positions 0..<maxPositions, (P, D/2) each.
public final class RopeTable {
    public let headDim: Int
    public let maxPositions: Int
    public let cos: Tensor
    public let sin: Tensor
    public let invFreq: [Float]

    public enum Scaling: Equatable, Sendable {
        case none
        /// Llama 3.1 frequency scaling.
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
        /// Positions divided by `factor`.
        case linear(factor: Float)
        /// Each frequency divided by its own factor (GGUF's `rope_freqs.weight`, how llama.cpp stores Llama-3.1 scaling).
        case frequencyFactors([Float])
    }

    public init(headDim: Int, maxPositions: Int, theta: Float, scaling: Scaling = .none) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        // As transformers computes it: 1 / theta^(2i/D) in f32.
        var inv = (0..<half).map { i in 1 / powf(theta, Float(2 * i) / Float(headDim)) }
        var posScale: Float = 1
        switch scaling {
        case .none: break
        case let .linear(factor): posScale = 1 / factor
        case let .frequencyFactors(factors):
            inv = inv.enumerated().map { i, f in i < factors.count && factors[i] != 0 ? f / factors[i] : f }
        case let .llama3(factor, lowF, highF, original):
            let lowWave = Float(original) / lowF
            let highWave = Float(original) / highF
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWave { return f }
                if wavelen > lowWave { return f / factor }
                let smooth = (Float(original) / wavelen - lowF) / (highF - lowF)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
        invFreq = inv
        cos = Tensor(uninitialized: [maxPositions, half])
        sin = Tensor(uninitialized: [maxPositions, half])
        let pc = cos.data, ps = sin.data
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(p) * posScale * inv[i]
                pc[p * half + i] = Foundation.cos(angle)
                ps[p * half + i] = Foundation.sin(angle)
            }
        }
    }
}

extension Ops {
    /// x (N, H·D) with one position per row → rotated (N, H·D).
    public static func rope(_ x: Tensor, table: RopeTable, positions: [Int32], heads: Int) throws -> Tensor {
        try requireF32("rope", x)
        guard x.cols == heads * table.headDim, positions.count == x.rows else {
            throw TensorError.invalidShape(op: "rope", shape: x.shape, expected: "(\(positions.count), \(heads)·\(table.headDim))")
        }
        if let bad = positions.first(where: { $0 < 0 || Int($0) >= table.maxPositions }) {
            throw TensorError.outOfRange(op: "rope position", value: Int(bad), range: 0..<table.maxPositions)
        }
        let out = Tensor(uninitialized: x.shape, device: x.device)
        x.backend.rope(x: x, cos: table.cos, sin: table.sin, positions: positions, heads: heads, inverse: false, out: out)
        let gx = x.gradSink
        return out.record([x]) { dout in
            let dx = Tensor(uninitialized: dout.shape, device: dout.device)
            dout.backend.rope(x: dout, cos: table.cos, sin: table.sin, positions: positions, heads: heads, inverse: true, out: dx)
            gx?.accumulate(fresh: dx)
        }
    }
}

extension CPUBackend {
    public func rope(x: Tensor, cos: Tensor, sin: Tensor, positions: [Int32], heads: Int, inverse: Bool, out: Tensor) {
        Profiler.measure("rope") {
        let half = cos.cols, c = x.cols
        let px = x.data, po = out.data, pc = cos.data, ps = sin.data
        let sign: Float = inverse ? -1 : 1
        positions.withUnsafeBufferPointer { pos in
            parallelFor(x.rows, minChunk: 16) { rows in
                for r in rows {
                    let p = Int(pos[r]) * half
                    finch_rope_f32(px + r * c, pc + p, ps + p, po + r * c, heads, half, sign)
                }
            }
        }
    }
    }
}
