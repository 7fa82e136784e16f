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
        var p = src
        var y = dst
        for _ in 0..<blocks {
            let d = loadHalf(p, 0)
            let qs = (p + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q = qs[j]
                y[j] = Float(Int32(q & 0xF) - 8) * d
                y[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
            p += 18
            y += 32
        }
    }

    /// llama.cpp `quantize_row_q4_0_ref`: d = (value of largest magnitude) / -8, q = min(15, trunc(x/d + 8.5)).
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        var x = src
        var p = dst
        for _ in 0..<blocks {
            var amax: Float = 0
            var max: Float = 0
            for j in 0..<32 {
                let v = x[j]
                if amax < abs(v) { amax = abs(v); max = v }
            }
            let d = max / -8
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(p, 0, d)
            let qs = (p + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let x0 = x[j] * id
                let x1 = x[16 + j] * id
                qs[j] = truncateClamped(x0 + 8.5, max: 15) | (truncateClamped(x1 + 8.5, max: 15) << 4)
            }
            x += 32
            p += 18
        }
    }
}
