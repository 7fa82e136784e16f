import Foundation

/// NF4: bitsandbytes' 4-bit NormalFloat with double quantization (QLoRA; `load_in_4bit=True,
/// bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True`): 64 values in 36 bytes.
///
///     offset 0   absmax  f32    the block's scale, as bitsandbytes dequantizes it from its double
///                               quantization: dynamic[absmax code] · absmax2[group] + offset
///     offset 4   qs[32]  u8     NF4 code indices: value 2j in the high nibble of qs[j], 2j+1 in the low
///
/// y[2j] = NF4[qs[j] >> 4] · absmax,  y[2j+1] = NF4[qs[j] & 15] · absmax
///
/// Quantizing follows bitsandbytes step for step over the flattened tensor (blocks of 64, absmax per
/// block; the absmax values minus their mean quantized to 8 bits in groups of 256 with the signed
/// dynamic map), so the 4-bit codes and the scales are the ones bitsandbytes stores and the decoded
/// values are the ones it computes. Each block keeps its scale as the f32 that double quantization
/// gives rather than the 8-bit code plus a per-256-block and a per-tensor float: blocks stay
/// self-contained (rows decode on their own, as every other format here), at 4.5 bits per weight
/// against bitsandbytes' 4.13. scripts/reference/nf4_reference.py writes the fixture it is tested on.
public enum BlockNF4: QuantBlock {
    public static let dtype = DType.nf4

    /// The 16 NF4 values (bitsandbytes `get_4bit_type("nf4")`: quantiles of N(0, 1), one exact zero).
    public static let code: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]

    @inlinable
    public static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, blocks: Int) {
        code.withUnsafeBufferPointer { table in
            let nf4 = table.baseAddress!
            decodeBlocks(src, dst, blocks: blocks) { p, y in
                let absmax = p.loadUnaligned(as: Float.self)
                let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<32 {
                    y[2 * j] = nf4[Int(qs[j] >> 4)] * absmax
                    y[2 * j + 1] = nf4[Int(qs[j] & 15)] * absmax
                }
            }
        }
    }

    /// What bitsandbytes stores for a tensor: 4-bit codes (two per byte), 8-bit absmax codes, one
    /// f32 absmax2 per 256 blocks, the mean offset; and each block's scale decoded from them.
    public struct DoubleQuantized: Equatable, Sendable {
        public var codes: [UInt8]
        public var absmaxCodes: [UInt8]
        public var absmax2: [Float]
        public var offset: Float
        public var blockAbsmax: [Float]
    }

    /// bitsandbytes `quantize_4bit(…, blocksize=64, compress_statistics=True, quant_type="nf4")` over
    /// `count` values (a multiple of 64), in the same f32 operations.
    public static func doubleQuantize(_ x: UnsafePointer<Float>, count: Int) -> DoubleQuantized {
        let blocks = count / 64
        var absmax = [Float](repeating: 0, count: blocks)
        var codes = [UInt8](repeating: 0, count: count / 2)
        let bounds = midpoints(code)
        // Blocks are independent here (an 8B model has 110 M of them): in parallel.
        absmax.withUnsafeMutableBufferPointer { am in
            codes.withUnsafeMutableBufferPointer { cs in
                bounds.withUnsafeBufferPointer { bd in
                    let amBase = am.baseAddress!, csBase = cs.baseAddress!
                    parallelFor(blocks, minChunk: 1024) { range in
                        for b in range {
                            var m: Float = 0
                            for j in 0..<64 { m = Swift.max(m, abs(x[b * 64 + j])) }
                            amBase[b] = m
                            let recip = 1 / Swift.max(m, tiny)
                            for j in 0..<32 {
                                let hi = bucket(clamp(x[b * 64 + 2 * j] * recip), bd)
                                let lo = bucket(clamp(x[b * 64 + 2 * j + 1] * recip), bd)
                                csBase[b * 32 + j] = hi << 4 | lo
                            }
                        }
                    }
                }
            }
        }
        // The mean of the scales (exact sum, rounded once), then the scales minus it in 8 bits.
        var sum = 0.0
        for m in absmax { sum += Double(m) }
        let offset = blocks > 0 ? Float(sum / Double(blocks)) : 0
        let centred = absmax.map { $0 - offset }
        let (absmaxCodes, absmax2) = quantizeBlockwise8(centred, blockSize: 256)
        let decoded = (0..<blocks).map { b in dynamicMap[Int(absmaxCodes[b])] * absmax2[b / 256] + offset }
        return DoubleQuantized(codes: codes, absmaxCodes: absmaxCodes, absmax2: absmax2, offset: offset, blockAbsmax: decoded)
    }

    /// Quantizes `blocks` blocks: the whole tensor at once, since double quantization groups
    /// scales across rows and takes one mean per tensor.
    public static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, blocks: Int) {
        let q = doubleQuantize(src, count: blocks * 64)
        q.codes.withUnsafeBytes { cs in
            for b in 0..<blocks {
                let p = dst + b * 36
                p.storeBytes(of: q.blockAbsmax[b], as: Float.self)
                (p + 4).copyMemory(from: cs.baseAddress! + b * 32, byteCount: 32)
            }
        }
    }

    /// torch.clamp(min=1e-38) as f32 (a subnormal), so an all-zero block scales by a finite 1e38.
    static let tiny = Float(1e-38)

    static func clamp(_ v: Float) -> Float { Swift.min(Swift.max(v, -1), 1) }

    static func midpoints(_ c: [Float]) -> [Float] { (0..<(c.count - 1)).map { (c[$0] + c[$0 + 1]) / 2 } }

    /// torch.bucketize(v, bounds): the number of bounds below v (a value on a bound takes the lower code).
    static func bucket(_ v: Float, _ bounds: UnsafeBufferPointer<Float>) -> UInt8 {
        var lo = 0, hi = bounds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bounds[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return UInt8(lo)
    }

    /// bitsandbytes `quantize_blockwise` with the dynamic map: per block the absmax and 8-bit codes;
    /// a last partial block divides by its absmax where full blocks multiply by the reciprocal.
    static func quantizeBlockwise8(_ a: [Float], blockSize: Int) -> ([UInt8], [Float]) {
        let boundsArray = midpoints(dynamicMap)
        return boundsArray.withUnsafeBufferPointer { bounds in
        var codes = [UInt8](repeating: 0, count: a.count)
        var absmax: [Float] = []
        var start = 0
        while start < a.count {
            let end = Swift.min(a.count, start + blockSize)
            var m: Float = 0
            for i in start..<end { m = Swift.max(m, abs(a[i])) }
            if end - start == blockSize {
                let recip = 1 / Swift.max(m, tiny)
                for i in start..<end { codes[i] = bucket(clamp(a[i] * recip), bounds) }
                absmax.append(m)            // stored as is
            } else {
                m = Swift.max(m, tiny)      // the partial block's absmax is stored clamped
                for i in start..<end { codes[i] = bucket(clamp(a[i] / m), bounds) }
                absmax.append(m)
            }
            start = end
        }
        return (codes, absmax)
        }
    }

    /// bitsandbytes `create_dynamic_map(signed=True)`: 256 sorted f32 values, as f32 bit patterns
    /// written by bitsandbytes 0.50.2 / torch 2.15 (scripts/reference/nf4_reference.py holds the same
    /// table). Rebuilding it from its formula in f32 misses torch's rounding in 42 of the 256 entries
    /// (last bit), which moves a block's 8-bit absmax code now and then.
    public static let dynamicMap: [Float] = [
        0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000,
        0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
        0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
        0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
        0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a,
        0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
        0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd,
        0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
        0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
        0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
        0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148,
        0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
        0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4,
        0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
        0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
        0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
        0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b,
        0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
        0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4,
        0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
        0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
        0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
        0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a,
        0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
        0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
        0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
        0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
        0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
        0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666,
        0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
        0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000,
        0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
    ].map { Float(bitPattern: $0) }
}
