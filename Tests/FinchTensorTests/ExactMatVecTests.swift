import Foundation
import Testing
@testable import FinchTensor

/// The f32-activation decode kernels against dequantize-then-dot in f64 (tolerance: f32 summation
/// over 256 terms, 1e-5 relative to the row's Σ|w·x|), and the AVX2 path against the scalar reference.
@Suite struct ExactMatVecTests {
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func matchesDequantizedDot(dtype: DType) throws {
        let rows = 70, cols = 256
        var rng = TestRNG(UInt64(dtype.ggmlType))
        let w = rng.array(rows * cols).map(Float.init)
        let x = rng.array(cols).map(Float.init)
        var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: rows * cols)!)
        try w.withUnsafeBufferPointer { src in
            try bytes.withUnsafeMutableBytes { try quantize(dtype, src.baseAddress!, into: $0.baseAddress!, count: rows * cols) }
        }
        var decoded = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in decoded.withUnsafeMutableBufferPointer { dequantize(dtype, raw.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        var fast = [Float](repeating: .nan, count: rows), scalar = [Float](repeating: .nan, count: rows)
        bytes.withUnsafeBytes { raw in
            x.withUnsafeBufferPointer { xp in
                ExactMatVec.multiply(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: xp.baseAddress!, y: &fast)
                ExactMatVec.multiply(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: xp.baseAddress!, y: &scalar, scalar: true)
            }
        }
        for r in 0..<rows {
            var ref = 0.0, mag = 0.0
            for j in 0..<cols {
                let t = Double(decoded[r * cols + j]) * Double(x[j])
                ref += t
                mag += abs(t)
            }
            #expect(abs(Double(fast[r]) - ref) <= 1e-5 * mag, "row \(r): \(fast[r]) vs \(ref)")
            #expect(abs(Double(scalar[r]) - ref) <= 1e-5 * mag, "row \(r) scalar: \(scalar[r]) vs \(ref)")
        }
    }
}
