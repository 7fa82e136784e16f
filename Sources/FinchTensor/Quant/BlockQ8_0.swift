/// Q8_0: 32 values in 34 bytes.
///
///     offset 0   d      f16   scale
///     offset 2   qs[32] i8    values
///
/// y[j] = qs[j] * d
public enum BlockQ8_0: QuantBlock {
    public static let dtype = DType.q8_0
    public static let dOffset = 0, qsOffset = 2

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        decodeBlocks(src, dst, blocks: blocks) { p, y in
            let d = loadHalf(p, 0)
            let qs = (p + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { y[j] = Float(qs[j]) * d }
        }
    }

    /// llama.cpp `quantize_row_q8_0_ref`: d = max|x| / 127, q = roundf(x / d) (halves away from zero).
    @inlinable
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        encodeBlocks(src, dst, blocks: blocks) { x, p in
            var amax: Float = 0
            for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
            let id = storeScale(p, 0, amax / 127)
            let qs = (p + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 {
                let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
                // |r| ≤ 127 for finite input; NaN becomes 0 rather than trapping.
                qs[j] = r.isNaN ? 0 : Int8(Swift.max(-128, Swift.min(127, r)))
            }
        }
    }
}
