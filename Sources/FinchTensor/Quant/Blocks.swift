// GGUF block-quantized formats: the shared pieces (half-float helpers, the block protocol, the walk
// over blocks, the nibble layout of the 32-value formats) and the dispatch `dequantize(_:_:into:count:)`
// calls. Each format is one struct in its own file beside this one (BlockQ4_0.swift, …), with its byte
// layout written out and the decoding of one block; its sizes are its row in `DType`'s traits table.
//
// Bit-exactness: every decoder evaluates the same f32 expressions in the same order as llama.cpp's
// `dequantize_row_*` (ggml-quants.c) and gguf-py's `gguf.quants`, so results match them bit for bit.
// Swift never contracts `a * b - c` into an FMA, which keeps that true.
import CFinchKernels

/// One GGUF block format: `blockSize` values stored in `bytesPerBlock` bytes.
public protocol QuantBlock {
    static var dtype: DType { get }
    /// Decodes `blocks` consecutive blocks at `src` into `blocks * blockSize` floats at `dst`.
    static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int)
}

extension QuantBlock {
    @inlinable public static var blockSize: Int { dtype.blockSize }
    @inlinable public static var bytesPerBlock: Int { dtype.bytesPerBlock }

    /// The walk every decoder shares: `decode(block, values)` for each of `blocks` consecutive
    /// blocks, with the sizes from the traits table.
    @inlinable @inline(__always)
    static func decodeBlocks(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int,
                             _ decode: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
        for b in 0..<blocks { decode(src + b * bytesPerBlock, dst + b * blockSize) }
    }

    /// The encoders' walk: `encode(values, block)` for each of `blocks` consecutive blocks.
    @inlinable @inline(__always)
    static func encodeBlocks(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int,
                             _ encode: (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void) {
        for b in 0..<blocks { encode(src + b * blockSize, dst + b * bytesPerBlock) }
    }
}

/// The 32-value nibble layout of Q4_0, Q4_1 and Q5_0: qs[j] holds value j in its low nibble and
/// value j + 16 in its high one. `value(nibble, index)` decodes one.
@inlinable @inline(__always)
func decodeNibbles(_ qs: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>, _ value: (UInt8, Int) -> Float) {
    for j in 0..<16 {
        let q = qs[j]
        y[j] = value(q & 0xF, j)
        y[j + 16] = value(q >> 4, j + 16)
    }
}

/// The inverse layout: `code(x)` is the nibble for one value.
@inlinable @inline(__always)
func encodeNibbles(_ x: UnsafePointer<Float>, into qs: UnsafeMutablePointer<UInt8>, _ code: (Float) -> UInt8) {
    for j in 0..<16 { qs[j] = code(x[j]) | (code(x[16 + j]) << 4) }
}

/// Stores a block's scale `d` as f16 at `offset` and returns what the reference quantizers multiply
/// by: 1/d of the f32 value, or 0 when d is 0.
@inlinable @inline(__always)
func storeScale(_ p: UnsafeMutableRawPointer, _ offset: Int, _ d: Float) -> Float {
    storeHalf(p, offset, d)
    return d != 0 ? 1 / d : 0
}

/// IEEE binary16 bits → f32 (exact, including subnormals, infinities and NaN payloads).
/// Written out in bits because `Float(Float16)` is a call to compiler-rt's `__extendhfsf2` on Linux
/// (about 30 ns, which made every block decode call-bound).
@inlinable @inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let magnitude = UInt32(bits & 0x7FFF)
    if magnitude >= 0x7C00 {  // infinity or NaN: keep the payload
        return Float(bitPattern: sign | 0x7F80_0000 | ((magnitude & 0x3FF) << 13))
    }
    if magnitude >= 0x0400 {  // normal: rebias the exponent by 127 - 15 = 112
        return Float(bitPattern: sign | ((magnitude << 13) + 0x3800_0000))
    }
    // zero or subnormal: magnitude × 2^-24, exact in f32
    return Float(bitPattern: sign | (Float(magnitude) * 0x1p-24).bitPattern)
}

/// f32 → IEEE binary16 bits, round to nearest even (what GGML_FP32_TO_FP16 and numpy's astype do).
/// Through the C scalar reference: `Float16(value)` is a slow compiler-rt call on Linux.
@inlinable @inline(__always)
public func floatToHalf(_ value: Float) -> UInt16 {
    var v = value
    var h: UInt16 = 0
    finch_f32_to_f16_scalar(&v, &h, 1)
    return h
}

/// Reads a little-endian half float at `offset` (blocks are packed, so it may be unaligned).
@inlinable @inline(__always)
func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

@inlinable @inline(__always)
func storeHalf(_ p: UnsafeMutableRawPointer, _ offset: Int, _ value: Float) {
    p.storeBytes(of: floatToHalf(value).littleEndian, toByteOffset: offset, as: UInt16.self)
}

/// Decodes `count` elements of a block-quantized `dtype`; `count` is a whole number of blocks.
@inlinable
func dequantizeBlocks(_ dtype: DType, _ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    let blocks = count / dtype.blockSize
    switch dtype {
    case .q4_0: BlockQ4_0.dequantize(src, into: dst, blocks: blocks)
    case .q4_1: BlockQ4_1.dequantize(src, into: dst, blocks: blocks)
    case .q5_0: BlockQ5_0.dequantize(src, into: dst, blocks: blocks)
    case .q8_0: BlockQ8_0.dequantize(src, into: dst, blocks: blocks)
    case .q4_K: BlockQ4_K.dequantize(src, into: dst, blocks: blocks)
    case .q5_K: BlockQ5_K.dequantize(src, into: dst, blocks: blocks)
    case .q6_K: BlockQ6_K.dequantize(src, into: dst, blocks: blocks)
    case .nf4: BlockNF4.dequantize(src, into: dst, blocks: blocks)
    case .f32, .f16, .bf16: dequantize(dtype, src, into: dst, count: count)
    }
}

/// `min(max, (int)t)` as the reference quantizers compute it for t ≥ 0, without trapping on NaN or
/// huge values (NaN → 0, as x86's conversion then the C cast give).
@inlinable @inline(__always)
func truncateClamped(_ t: Float, max: UInt8) -> UInt8 {
    guard t >= 0 else { return 0 }
    return t >= Float(max) ? max : UInt8(t)
}
