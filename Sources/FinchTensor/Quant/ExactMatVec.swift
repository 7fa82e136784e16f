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
}
