/// Q4_K: 256 values (8 sub-blocks of 32) in 144 bytes.
///
///     offset 0    d           f16   super-block scale for the sub-block scales
///     offset 2    dmin        f16   super-block scale for the sub-block minimums
///     offset 4    scales[12]  u8    8 six-bit scales and 8 six-bit minimums, packed (see `scaleMin`)
///     offset 16   qs[128]     u8    4-bit values: for chunk c (64 values), bytes 32c..<32c+32 hold
///                                   values 64c+l in the low nibble and 64c+32+l in the high nibble
///
/// y[64c+l] = d*sc(2c) * (q & 0xF) - dmin*m(2c),  y[64c+32+l] = d*sc(2c+1) * (q >> 4) - dmin*m(2c+1)
public enum BlockQ4_K: QuantBlock {
    public static let dtype = DType.q4_K
    public static let dOffset = 0, dminOffset = 2, scalesOffset = 4, qsOffset = 16

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        var p = src
        var y = dst
        for _ in 0..<blocks {
            let d = loadHalf(p, 0)
            let dmin = loadHalf(p, 2)
            let scales = (p + 4).assumingMemoryBound(to: UInt8.self)
            var q = (p + 16).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, scales)
                let (sc2, m2) = scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                for l in 0..<32 { y[l] = d1 * Float(q[l] & 0xF) - mm1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q[l] >> 4) - mm2 }
                q += 32
                y += 64
            }
            p += 144
        }
    }

    /// llama.cpp `get_scale_min_k4`: the j-th (scale, min) pair, 6 bits each, of Q4_K/Q5_K's 12 scale bytes.
    @inlinable @inline(__always)
    public static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 {
            return (s[j] & 63, s[j + 4] & 63)
        }
        return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}
