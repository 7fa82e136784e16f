// f32 → stored format, for load-time `quantize=` (and exporting). The block quantizers match
// llama.cpp's reference ones (`quantize_row_q8_0_ref`, `_q4_0_ref`, `_q4_1_ref`) bit for bit.
import CFinchKernels

/// Encodes `count` f32 values at `src` as `dtype` into `dst`, which must hold
/// `dtype.byteCount(elements: count)` bytes. Supported: f32, f16, bf16, q8_0, q4_0, q4_1, nf4
/// (nf4 takes the whole tensor in one call: its double quantization spans rows).
public func quantize(_ dtype: DType, _ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) throws {
    guard count >= 0, count % dtype.blockSize == 0 else {
        throw ConversionError.notWholeBlocks(dtype: dtype, count: count)
    }
    let blocks = count / dtype.blockSize
    switch dtype {
    case .f32:
        dst.copyMemory(from: src, byteCount: count * 4)
    case .f16:
        finch_f32_to_f16(src, dst.assumingMemoryBound(to: UInt16.self), count)
    case .bf16:
        let out = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { out[i] = floatToBF16(src[i]) }
    case .q8_0: BlockQ8_0.quantize(src, into: dst, blocks: blocks)
    case .q4_0: BlockQ4_0.quantize(src, into: dst, blocks: blocks)
    case .q4_1: BlockQ4_1.quantize(src, into: dst, blocks: blocks)
    case .nf4: BlockNF4.quantize(src, into: dst, blocks: blocks)   // the whole tensor: scales are grouped across rows
    case .q5_0, .q4_K, .q5_K, .q6_K:
        throw ConversionError.unsupportedQuantization(dtype)
    }
}

/// f32 → bf16 bits, round to nearest even, NaN kept quiet (ggml's `ggml_compute_fp32_to_bf16`).
@inlinable
public func floatToBF16(_ value: Float) -> UInt16 {
    let u = value.bitPattern
    if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
    return UInt16(truncatingIfNeeded: (UInt64(u) + UInt64(0x7FFF + ((u >> 16) & 1))) >> 16)
}
