/// Q5_K: 256 values (8 sub-blocks of 32) in 176 bytes.
///
///     offset 0    d           f16   super-block scale for the sub-block scales
///     offset 2    dmin        f16   super-block scale for the sub-block minimums
///     offset 4    scales[12]  u8    packed six-bit scales/minimums, as Q4_K (`BlockQ4_K.scaleMin`)
///     offset 16   qh[32]      u8    fifth bits: bit k of qh[l] belongs to sub-block k, element l
///     offset 48   qs[128]     u8    low 4 bits, arranged as Q4_K's
///
/// y[64c+l] = d*sc(2c) * ((q & 0xF) + 16·bit(2c)) - dmin*m(2c), and the high nibble with bit 2c+1.
public enum BlockQ5_K: QuantBlock {
    public static let dtype = DType.q5_K
    public static let dOffset = 0, dminOffset = 2, scalesOffset = 4, qhOffset = 16, qsOffset = 48

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        decodeBlocks(src, dst, blocks: blocks) { p, y in
            let head = KQuantScales(p)
            let qh = (p + 16).assumingMemoryBound(to: UInt8.self)
            let qs = (p + 48).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                let (d1, m1) = head.subBlock(2 * c), (d2, m2) = head.subBlock(2 * c + 1)
                let u1 = UInt8(1) << (2 * c), u2 = UInt8(2) << (2 * c)
                let ql = qs + 32 * c, out = y + 64 * c
                for l in 0..<32 { out[l] = d1 * Float((ql[l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)) - m1 }
                for l in 0..<32 { out[32 + l] = d2 * Float((ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - m2 }
            }
        }
    }
}
