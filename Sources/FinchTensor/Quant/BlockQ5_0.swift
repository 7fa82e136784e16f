/// Q5_0: 32 values in 22 bytes.
///
///     offset 0   d      f16   scale
///     offset 2   qh     u32   (little-endian) bit j = fifth bit of value j
///     offset 6   qs[16] u8    low nibbles = values 0..15, high nibbles = values 16..31
///
/// y[j] = (((qs[j] & 0xF) | bit j of qh << 4) - 16) * d,  y[j+16] = (((qs[j] >> 4) | bit j+16 << 4) - 16) * d
public enum BlockQ5_0: QuantBlock {
    public static let dtype = DType.q5_0
    public static let dOffset = 0, qhOffset = 2, qsOffset = 6

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        // The fifth bits are spread into bytes first so the main loop is the same shape as Q4_0's and vectorises.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { high in
            let hb = high.baseAddress!
            decodeBlocks(src, dst, blocks: blocks) { p, y in
                let d = loadHalf(p, 0)
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                for j in 0..<32 { hb[j] = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4 }
                decodeNibbles((p + 6).assumingMemoryBound(to: UInt8.self), into: y) { q, j in Float(Int32(q | hb[j]) - 16) * d }
            }
        }
    }
}
