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
        code.withUnsafeBufferPointer { nf4 in
            var p = src
            var y = dst
            for _ in 0..<blocks {
                let absmax = p.loadUnaligned(as: Float.self)
                let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<32 {
                    y[2 * j] = nf4[Int(qs[j] >> 4)] * absmax
                    y[2 * j + 1] = nf4[Int(qs[j] & 15)] * absmax
                }
                p += 36
                y += 64
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

    /// bitsandbytes `create_dynamic_map(signed=True)`: 256 sorted f32 values, built as torch
    /// builds them in f32 (torch.linspace's scalar formula).
    public static let dynamicMap: [Float] = {
        func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
            let step = (end - start) / Float(steps - 1)
            return (0..<steps).map { i in i < steps / 2 ? start + step * Float(i) : end - step * Float(steps - i - 1) }
        }
        var data: [Float] = []
        for i in 0..<7 {
            let b = linspace(0.1, 1, (1 << i) + 1)
            let means = (0..<(b.count - 1)).map { (b[$0] + b[$0 + 1]) / 2 }
            let scale = Float(pow(10.0, Double(i - 6)))
            data += means.map { scale * $0 }
            data += means.map { -scale * $0 }
        }
        data += [0, 1]
        return data.sorted()
    }()
}
