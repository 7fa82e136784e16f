import CFinchKernels
import Dispatch
import Foundation

/// y = W·x for a quantized matrix with f32 activations: blocks are decoded in registers and
/// multiplied in f32, so results match dequantize-then-f32 (transformers' numbers) to rounding,
/// while reading only the quantized bytes. This is Finch's decode path; `QuantMatVec` (8-bit
/// activations, llama.cpp's method) is faster still but shifts logits by about 1e-2.
public enum ExactMatVec {
    /// `FINCH_DECODE=int8` decodes with 8-bit activations (llama.cpp's numbers, not transformers').
    public static let useInt8Activations = ProcessInfo.processInfo.environment["FINCH_DECODE"] == "int8"

    public static func hasKernel(_ dtype: DType) -> Bool { [.q4_0, .q4_1, .q8_0].contains(dtype) }

    public static func multiply(weights: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int,
                                x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, scalar: Bool = false) {
        precondition(hasKernel(dtype) && cols % 32 == 0, "ExactMatVec: unsupported \(dtype) or cols \(cols)")
        Profiler.measure("matvec \(dtype)") {
        var xsum = [Float](repeating: 0, count: cols / 32)
        if dtype == .q4_1 {
            for b in 0..<(cols / 32) {
                var s: Float = 0
                for j in 0..<32 { s += x[b * 32 + j] }
                xsum[b] = s
            }
        }
        let chunks = max(1, min(ThreadBudget.count, rows / 64))
        xsum.withUnsafeBufferPointer { xs in
            let xsp = xs.baseAddress!
            parallelPerform(chunks) { c in
                let begin = rows * c / chunks, end = rows * (c + 1) / chunks
                switch (dtype, scalar) {
                case (.q4_0, false): finch_matvec_f32x_q4_0(weights, x, y, begin, end, cols)
                case (.q4_0, true): finch_matvec_f32x_q4_0_scalar(weights, x, y, begin, end, cols)
                case (.q4_1, false): finch_matvec_f32x_q4_1(weights, x, xsp, y, begin, end, cols)
                case (.q4_1, true): finch_matvec_f32x_q4_1_scalar(weights, x, xsp, y, begin, end, cols)
                case (.q8_0, false): finch_matvec_f32x_q8_0(weights, x, y, begin, end, cols)
                default: finch_matvec_f32x_q8_0_scalar(weights, x, y, begin, end, cols)
                }
            }
        }
        }
    }

    /// Rows of x at once that `Ops.linear` sends here rather than to a product over W decoded to f32: a short
    /// prompt's projections. Each block is decoded once for all of them (up to 8 a pass), where the product decodes
    /// the whole matrix to memory first (prefill of 8–16 tokens: BENCHMARKS.md, session 18).
    public static let maxRows = 16

    /// Y (count × rows) = X (count × cols) · Wᵀ, rows of X and Y contiguous: `multiply` for several rows at once, each
    /// output equal to what `multiply` gives that row.
    public static func multiplyRows(weights: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int, x: UnsafePointer<Float>,
                                    count: Int, y: UnsafeMutablePointer<Float>, scalar: Bool = false) {
        precondition(hasKernel(dtype) && cols % 32 == 0, "ExactMatVec: unsupported \(dtype) or cols \(cols)")
        Profiler.measure("matvec rows \(dtype)") {
        let nb = cols / 32
        var xsum = [Float](repeating: 0, count: dtype == .q4_1 ? count * nb : 0)
        if dtype == .q4_1 {
            for i in 0..<count {
                for b in 0..<nb {
                    var s: Float = 0
                    for j in 0..<32 { s += x[i * cols + b * 32 + j] }
                    xsum[i * nb + b] = s
                }
            }
        }
        let chunks = max(1, min(ThreadBudget.count, rows / 64))
        xsum.withUnsafeBufferPointer { xs in
            let xsp = xs.baseAddress
            parallelPerform(chunks) { c in
                let begin = rows * c / chunks, end = rows * (c + 1) / chunks
                switch (dtype, scalar) {
                case (.q4_0, false): finch_matrows_f32x_q4_0(weights, x, cols, count, y, rows, begin, end, cols)
                case (.q4_0, true): finch_matrows_f32x_q4_0_scalar(weights, x, cols, count, y, rows, begin, end, cols)
                case (.q4_1, false): finch_matrows_f32x_q4_1(weights, x, cols, xsp, nb, count, y, rows, begin, end, cols)
                case (.q4_1, true): finch_matrows_f32x_q4_1_scalar(weights, x, cols, xsp, nb, count, y, rows, begin, end, cols)
                case (.q8_0, false): finch_matrows_f32x_q8_0(weights, x, cols, count, y, rows, begin, end, cols)
                default: finch_matrows_f32x_q8_0_scalar(weights, x, cols, count, y, rows, begin, end, cols)
                }
            }
        }
        }
    }
}
