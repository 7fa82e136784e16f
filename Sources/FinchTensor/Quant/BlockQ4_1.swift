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
        var p = src
        var y = dst
        for _ in 0..<blocks {
            let d = loadHalf(p, 0)
            let m = loadHalf(p, 2)
            let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q = qs[j]
                y[j] = Float(q & 0xF) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
            p += 20
            y += 32
        }
    }

    /// llama.cpp `quantize_row_q4_1_ref`: d = (max - min) / 15, m = min, q = min(15, trunc((x - min)/d + 0.5)).
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        var x = src
        var p = dst
        for _ in 0..<blocks {
            var min = Float.greatestFiniteMagnitude
            var max = -Float.greatestFiniteMagnitude
            for j in 0..<32 {
                let v = x[j]
                if v < min { min = v }
                if v > max { max = v }
            }
            let d = (max - min) / 15
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(p, 0, d)
            storeHalf(p, 2, min)
            let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let x0 = (x[j] - min) * id
                let x1 = (x[16 + j] - min) * id
                qs[j] = truncateClamped(x0 + 0.5, max: 15) | (truncateClamped(x1 + 0.5, max: 15) << 4)
            }
            x += 32
            p += 20
        }
    }
}
