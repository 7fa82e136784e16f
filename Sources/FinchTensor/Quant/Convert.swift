// Converting stored elements to f32 and back. The quantized formats' block structs live beside
// this file (one file per format); this is the single entry point the engine calls.
import CFinchKernels

public enum ConversionError: Error, Equatable, CustomStringConvertible {
    case notWholeBlocks(dtype: DType, count: Int)
    case unsupportedQuantization(DType)

    public var description: String {
        switch self {
        case let .notWholeBlocks(dtype, count):
            return "\(count) elements is not a whole number of \(dtype) blocks of \(dtype.blockSize)"
        case let .unsupportedQuantization(dtype):
            return "quantizing to \(dtype) is not supported (supported: f32, f16, bf16, q8_0, q4_0, q4_1, nf4)"
        }
    }
}

/// Decodes `count` elements stored as `dtype` at `src` into f32 at `dst`.
/// `count` must be a multiple of the format's block size (checked by callers when shapes are built).
@inlinable
public func dequantize(_ dtype: DType, _ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    switch dtype {
    case .f32:
        dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
    case .f16:
        finch_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), dst, count)
    case .bf16:
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { dst[i] = Float(bitPattern: UInt32(s[i]) << 16) }
    default:
        dequantizeBlocks(dtype, src, into: dst, count: count)
    }
}
