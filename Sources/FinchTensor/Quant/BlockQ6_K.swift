/// Q6_K: 256 values (16 sub-blocks of 16) in 210 bytes.
///
///     offset 0     ql[128]     u8   low 4 bits
///     offset 128   qh[64]      u8   high 2 bits, four values per byte
///     offset 192   scales[16]  i8   sub-block scales
///     offset 208   d           f16  super-block scale (last!)
///
/// For each half h (128 values: ql + 64h, qh + 32h, scales + 8h) and l in 0..<32, is = l / 16:
///     y[l]    = d*sc[is]   * ((ql[l]    & 0xF | (qh[l]      & 3) << 4) - 32)
///     y[l+32] = d*sc[is+2] * ((ql[l+32] & 0xF | (qh[l] >> 2 & 3) << 4) - 32)
///     y[l+64] = d*sc[is+4] * ((ql[l]    >> 4  | (qh[l] >> 4 & 3) << 4) - 32)
///     y[l+96] = d*sc[is+6] * ((ql[l+32] >> 4  | (qh[l] >> 6 & 3) << 4) - 32)
public enum BlockQ6_K: QuantBlock {
    public static let dtype = DType.q6_K
    public static let qlOffset = 0, qhOffset = 128, scalesOffset = 192, dOffset = 208

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        decodeBlocks(src, dst, blocks: blocks) { p, out in
            var y = out
            let d = loadHalf(p, 208)
            var ql = p.assumingMemoryBound(to: UInt8.self)
            var qh = (p + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (p + 192).assumingMemoryBound(to: Int8.self)
            for _ in 0..<2 {
                for k in 0..<2 {  // l in 16k..<16k+16 shares scale index k (= l / 16)
                    // Same products as d * sc * q, left to right: (d * sc) is computed once.
                    let s1 = d * Float(sc[k]), s2 = d * Float(sc[k + 2]), s3 = d * Float(sc[k + 4]), s4 = d * Float(sc[k + 6])
                    for l in (16 * k)..<(16 * k + 16) {
                        let h = qh[l]
                        let q1 = Int32((ql[l] & 0xF) | ((h & 3) << 4)) - 32
                        let q2 = Int32((ql[l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32
                        let q3 = Int32((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32
                        y[l] = s1 * Float(q1)
                        y[l + 32] = s2 * Float(q2)
                        y[l + 64] = s3 * Float(q3)
                        y[l + 96] = s4 * Float(q4)
                    }
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    }
}
