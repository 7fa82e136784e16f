/// Q4_0: 32 values in 18 bytes.
///
///     offset 0   d      f16   scale
///     offset 2   qs[16] u8    low nibbles = values 0..15, high nibbles = values 16..31
///
/// y[j] = ((qs[j] & 0xF) - 8) * d,  y[j+16] = ((qs[j] >> 4) - 8) * d
public enum BlockQ4_0: QuantBlock {
    public static let dtype = DType.q4_0
    public static let dOffset = 0, qsOffset = 2

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        decodeBlocks(src, dst, blocks: blocks) { p, y in
            let d = loadHalf(p, 0)
            decodeNibbles((p + 2).assumingMemoryBound(to: UInt8.self), into: y) { q, _ in Float(Int32(q) - 8) * d }
        }
    }

    /// llama.cpp `quantize_row_q4_0_ref`: d = (value of largest magnitude) / -8, q = min(15, trunc(x/d + 8.5)).
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        encodeBlocks(src, dst, blocks: blocks) { x, p in
            var amax: Float = 0
            var max: Float = 0
            for j in 0..<32 {
                let v = x[j]
                if amax < abs(v) { amax = abs(v); max = v }
            }
            let id = storeScale(p, 0, max / -8)
            encodeNibbles(x, into: (p + 2).assumingMemoryBound(to: UInt8.self)) { truncateClamped($0 * id + 8.5, max: 15) }
        }
    }
}
