/// Q4_1: 32 values in 20 bytes.
///
///     offset 0   d      f16   scale
///     offset 2   m      f16   minimum
///     offset 4   qs[16] u8    low nibbles = values 0..15, high nibbles = values 16..31
///
/// y[j] = (qs[j] & 0xF) * d + m,  y[j+16] = (qs[j] >> 4) * d + m
public enum BlockQ4_1: QuantBlock {
    public static let dtype = DType.q4_1
    public static let dOffset = 0, mOffset = 2, qsOffset = 4

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        decodeBlocks(src, dst, blocks: blocks) { p, y in
            let d = loadHalf(p, 0)
            let m = loadHalf(p, 2)
            decodeNibbles((p + 4).assumingMemoryBound(to: UInt8.self), into: y) { q, _ in Float(q) * d + m }
        }
    }

    /// llama.cpp `quantize_row_q4_1_ref`: d = (max - min) / 15, m = min, q = min(15, trunc((x - min)/d + 0.5)).
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        encodeBlocks(src, dst, blocks: blocks) { x, p in
            var min = Float.greatestFiniteMagnitude
            var max = -Float.greatestFiniteMagnitude
            for j in 0..<32 {
                let v = x[j]
                if v < min { min = v }
                if v > max { max = v }
            }
            let id = storeScale(p, 0, (max - min) / 15)
            storeHalf(p, 2, min)
            encodeNibbles(x, into: (p + 4).assumingMemoryBound(to: UInt8.self)) { truncateClamped(($0 - min) * id + 0.5, max: 15) }
        }
    }
}
