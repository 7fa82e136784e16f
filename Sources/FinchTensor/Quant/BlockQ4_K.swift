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
        decodeBlocks(src, dst, blocks: blocks) { p, y in
            let head = KQuantScales(p)
            let qs = (p + 16).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                let (d1, m1) = head.subBlock(2 * c), (d2, m2) = head.subBlock(2 * c + 1)
                let q = qs + 32 * c, out = y + 64 * c
                for l in 0..<32 { out[l] = d1 * Float(q[l] & 0xF) - m1 }
                for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - m2 }
            }
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

/// The 16-byte head Q4_K and Q5_K share: d, dmin and the packed six-bit (scale, min) pairs.
@usableFromInline struct KQuantScales {
    @usableFromInline let d: Float, dmin: Float
    @usableFromInline let packed: UnsafePointer<UInt8>

    @inlinable @inline(__always)
    init(_ p: UnsafeRawPointer) {
        d = loadHalf(p, 0)
        dmin = loadHalf(p, 2)
        packed = (p + 4).assumingMemoryBound(to: UInt8.self)
    }

    /// Sub-block j's factors: y = scale · q − min, with scale = d·sc(j) and min = dmin·m(j).
    @inlinable @inline(__always)
    func subBlock(_ j: Int) -> (scale: Float, min: Float) {
        let (sc, m) = BlockQ4_K.scaleMin(j, packed)
        return (d * Float(sc), dmin * Float(m))
    }
}
