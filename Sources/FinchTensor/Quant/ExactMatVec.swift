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
        shares(dtype: dtype, rows: rows, cols: cols, x: x, count: 1, label: "matvec \(dtype)") { begin, end, xsum in
            switch (dtype, scalar) {
            case (.q4_0, false): finch_matvec_f32x_q4_0(weights, x, y, begin, end, cols)
            case (.q4_0, true): finch_matvec_f32x_q4_0_scalar(weights, x, y, begin, end, cols)
            case (.q4_1, false): finch_matvec_f32x_q4_1(weights, x, xsum, y, begin, end, cols)
            case (.q4_1, true): finch_matvec_f32x_q4_1_scalar(weights, x, xsum, y, begin, end, cols)
            case (.q8_0, false): finch_matvec_f32x_q8_0(weights, x, y, begin, end, cols)
            default: finch_matvec_f32x_q8_0_scalar(weights, x, y, begin, end, cols)
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
        let nb = cols / 32
        shares(dtype: dtype, rows: rows, cols: cols, x: x, count: count, label: "matvec rows \(dtype)") { begin, end, xsum in
            switch (dtype, scalar) {
            case (.q4_0, false): finch_matrows_f32x_q4_0(weights, x, cols, count, y, rows, begin, end, cols)
            case (.q4_0, true): finch_matrows_f32x_q4_0_scalar(weights, x, cols, count, y, rows, begin, end, cols)
            case (.q4_1, false): finch_matrows_f32x_q4_1(weights, x, cols, xsum, nb, count, y, rows, begin, end, cols)
            case (.q4_1, true): finch_matrows_f32x_q4_1_scalar(weights, x, cols, xsum, nb, count, y, rows, begin, end, cols)
            case (.q8_0, false): finch_matrows_f32x_q8_0(weights, x, cols, count, y, rows, begin, end, cols)
            default: finch_matrows_f32x_q8_0_scalar(weights, x, cols, count, y, rows, begin, end, cols)
            }
        }
    }

    /// What both share: the sums of each row's 32-blocks (Q4_1's offset term; `count` rows of x, contiguous), then
    /// `body(begin, end, sums)` on shares of W's rows, one a thread, timed under `label`.
    private static func shares(dtype: DType, rows: Int, cols: Int, x: UnsafePointer<Float>, count: Int, label: @autoclosure () -> String,
                               _ body: (Int, Int, UnsafePointer<Float>?) -> Void) {
        precondition(hasKernel(dtype) && cols % 32 == 0, "ExactMatVec: unsupported \(dtype) or cols \(cols)")
        Profiler.measure(label()) {
        let nb = cols / 32
        var xsum = [Float](repeating: 0, count: dtype == .q4_1 ? count * nb : 0)
        for i in 0..<(dtype == .q4_1 ? count : 0) {
            for b in 0..<nb {
                var s: Float = 0
                for j in 0..<32 { s += x[i * cols + b * 32 + j] }
                xsum[i * nb + b] = s
            }
        }
        let chunks = max(1, min(ThreadBudget.count, rows / 64))
        xsum.withUnsafeBufferPointer { xs in
            parallelPerform(chunks) { c in body(rows * c / chunks, rows * (c + 1) / chunks, xs.baseAddress) }
        }
        }
    }
}
