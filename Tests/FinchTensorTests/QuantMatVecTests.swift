import Testing
import FinchTensor
import CFinchKernels

/// Deterministic pseudo-random floats (xorshift), roughly uniform in [-scale, scale].
func pseudoRandom(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var s = seed | 1
    return (0..<n).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

@Suite struct QuantMatVecTests {
    @Test func quantizesActivationBlocks() throws {
        // max |x| = 127 → d = 1 and q = round(x): 2.5 → 3, -2.5 → -3 (halves away from zero); s = d·Σq.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = -0.4
        let v = QuantizedVector(capacity: 32)
        try x.withUnsafeBufferPointer { try v.quantize($0.baseAddress!, cols: 32) }
        let b = v.block(0)
        #expect(b.d == 1 && Array(b.qs[0..<4]) == [127, 3, -3, 0] && b.qs[4...].allSatisfy { $0 == 0 })
        #expect(b.s == 127)
        #expect(throws: QuantMatVecError.notWholeBlocks(cols: 33, dtype: .q8_0)) { try x.withUnsafeBufferPointer { try v.quantize($0.baseAddress!, cols: 33) } }
    }

    @Test func vectorQuantizerMatchesScalarBitForBit() throws {
        // Ties (x·id = k + 0.5), NaN, ±0, an all-zero block and ordinary values.
        var x = pseudoRandom(32 * 7, seed: 11, scale: 4)
        x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = -0.5; x[4] = 0.5; x[5] = .nan; x[6] = -0.0
        for j in 64..<96 { x[j] = 0 }
        var ref = [finch_q8x_block](repeating: finch_q8x_block(), count: 7), vec = ref
        x.withUnsafeBufferPointer { xs in
            finch_quantize_q8x_scalar(xs.baseAddress!, &ref, 224)
            finch_quantize_q8x_avx2(xs.baseAddress!, &vec, 224)
        }
        for b in 0..<7 {
            let r = withUnsafeBytes(of: ref[b].qs) { Array($0) }, v = withUnsafeBytes(of: vec[b].qs) { Array($0) }
            #expect(r == v && ref[b].d == vec[b].d && ref[b].s == vec[b].s, "block \(b)")
        }
        #expect(ref[0].qs.1 == 3 && ref[0].qs.2 == -3 && ref[0].qs.5 == 0)
    }

    @Test func q8_0HandlesMinus128() throws {
        // One Q8_0 row: d = 1 (f16 0x3C00), every weight -128; x = all ones → xq: d = 1/127, q = 127.
        let row: [UInt8] = [0x00, 0x3C] + [UInt8](repeating: 0x80, count: 32)
        let x = [Float](repeating: 1, count: 32)
        for kernel in QuantMatVec.Kernel.allCases {
            var y: [Float] = [0]
            try row.withUnsafeBytes { w in try x.withUnsafeBufferPointer { xs in try y.withUnsafeMutableBufferPointer {
                try QuantMatVec.multiply(weights: w.baseAddress!, dtype: .q8_0, rows: 1, cols: 32, x: xs.baseAddress!, y: $0.baseAddress!, kernel: kernel)
            } } }
            #expect(abs(y[0] - -4096) < 1e-3, "\(kernel): \(y[0])")   // 32 · (-128) · 127 · (1/127)
        }
    }

    /// Checks the three kernels of `dtype` (or the fallback) on a rows × cols matrix against
    /// (a) exact f64 arithmetic on the same quantized x: relative 1e-5 of Σ|w·xq| (f32 accumulation), and
    /// (b) dequantize(W)·x with f32 x: the x-quantization bound Σ|w_j|·d_x/2 plus the same f32 slack.
    func check(_ dtype: DType, rows: Int, cols: Int) throws {
        let wf = pseudoRandom(rows * cols, seed: 42 + UInt64(rows), scale: 0.5)
        let x = pseudoRandom(cols, seed: 7, scale: 3)
        var w = [UInt8](repeating: 0, count: dtype.byteCount(elements: rows * cols)!)
        if [.q4_0, .q4_1, .q8_0, .f32, .f16, .bf16].contains(dtype) {
            try wf.withUnsafeBufferPointer { s in try w.withUnsafeMutableBytes { try quantize(dtype, s.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        } else {
            // K-quants: random bytes with small finite scales (no quantizer for them).
            let bytes = pseudoRandom(w.count, seed: 3).map { UInt8(truncatingIfNeeded: Int(($0 + 1) * 127)) }
            w = bytes
            let blockBytes = dtype.bytesPerBlock
            for b in 0..<(w.count / blockBytes) {
                let dOffset = dtype == .q6_K ? 208 : 0
                w[b * blockBytes + dOffset] = 0x00; w[b * blockBytes + dOffset + 1] = 0x20  // d = 2^-7
                if dtype != .q6_K { w[b * blockBytes + 2] = 0x00; w[b * blockBytes + 3] = 0x1C }  // dmin = 2^-8
            }
        }
        var wd = [Float](repeating: 0, count: rows * cols)
        w.withUnsafeBytes { s in wd.withUnsafeMutableBufferPointer { dequantize(dtype, s.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        let v = QuantizedVector(capacity: cols)
        try x.withUnsafeBufferPointer { try v.quantize($0.baseAddress!, cols: cols) }
        let xq: [Double] = (0..<cols).map { Double(v.block($0 / 32).d) * Double(v.block($0 / 32).qs[$0 % 32]) }
        let usesXq = QuantMatVec.hasKernel(dtype)

        var results: [QuantMatVec.Kernel: [Float]] = [:]
        for kernel in QuantMatVec.Kernel.allCases {
            var y = [Float](repeating: .nan, count: rows)
            try w.withUnsafeBytes { ws in try y.withUnsafeMutableBufferPointer {
                try QuantMatVec.multiply(weights: ws.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: v, y: $0.baseAddress!, kernel: kernel)
            } }
            results[kernel] = y
        }
        var worstExact = 0.0, worstBound = 0.0
        for r in 0..<rows {
            var exact = 0.0, magnitude = 0.0, f32ref = 0.0, xBound = 0.0
            for j in 0..<cols {
                let wj = Double(wd[r * cols + j])
                exact += wj * (usesXq ? xq[j] : Double(x[j]))
                magnitude += abs(wj * Double(x[j])) + abs(wj * xq[j])
                f32ref += wj * Double(x[j])
                xBound += abs(wj) * Double(v.block(j / 32).d) / 2
            }
            for (kernel, y) in results {
                let e = abs(Double(y[r]) - exact)
                #expect(e <= 1e-5 * magnitude + 1e-6, "\(dtype) \(kernel) row \(r): \(y[r]) vs exact \(exact)")
                #expect(abs(Double(y[r]) - f32ref) <= xBound + 1e-5 * magnitude + 1e-6, "\(dtype) \(kernel) row \(r) vs f32 dot")
                worstExact = max(worstExact, e / max(magnitude, 1e-9))
                worstBound = max(worstBound, abs(Double(y[r]) - f32ref) / max(xBound, 1e-9))
            }
            for k in [QuantMatVec.Kernel.avx2, .avx512] {
                #expect(abs(Double(results[k]![r]) - Double(results[.scalar]![r])) <= 1e-5 * magnitude + 1e-6)
            }
        }
        let activeKernel: QuantMatVec.Kernel = [.scalar: .scalar, .avx2: .avx2, .avx512: .avx512][CPUISA.active]!
        #expect(results[.automatic] == results[activeKernel], "automatic follows CPUISA.active")
        #expect(worstExact < 1e-5 && worstBound <= 1 + 1e-3)
    }

    @Test func q4_0MatchesReferences() throws { try check(.q4_0, rows: 70, cols: 128); try check(.q4_0, rows: 300, cols: 576) }
    @Test func q4_1MatchesReferences() throws { try check(.q4_1, rows: 70, cols: 128); try check(.q4_1, rows: 300, cols: 576) }
    @Test func q8_0MatchesReferences() throws { try check(.q8_0, rows: 70, cols: 128); try check(.q8_0, rows: 300, cols: 576) }
    @Test func q4_KMatchesReferences() throws { try check(.q4_K, rows: 5, cols: 512); try check(.q4_K, rows: 130, cols: 1536) }
    @Test func q6_KMatchesReferences() throws { try check(.q6_K, rows: 5, cols: 256); try check(.q6_K, rows: 130, cols: 1536) }
    @Test func otherTypesFallBackToDequantize() throws {
        try check(.f32, rows: 9, cols: 64)
        try check(.f16, rows: 9, cols: 64)
        try check(.bf16, rows: 9, cols: 96)
        try check(.q5_0, rows: 9, cols: 96)
        try check(.q5_K, rows: 5, cols: 512)
    }

    @Test func rejectsBadShapes() throws {
        let v = QuantizedVector(capacity: 64)
        try [Float](repeating: 1, count: 64).withUnsafeBufferPointer { try v.quantize($0.baseAddress!, cols: 64) }
        var y = [Float](repeating: 0, count: 1)
        let w = [UInt8](repeating: 0, count: 256)
        #expect(throws: QuantMatVecError.notWholeBlocks(cols: 64, dtype: .q6_K)) {
            try w.withUnsafeBytes { ws in try y.withUnsafeMutableBufferPointer { try QuantMatVec.multiply(weights: ws.baseAddress!, dtype: .q6_K, rows: 1, cols: 64, x: v, y: $0.baseAddress!) } }
        }
        #expect(throws: QuantMatVecError.vectorTooShort(cols: 32, capacity: 64)) {
            try w.withUnsafeBytes { ws in try y.withUnsafeMutableBufferPointer { try QuantMatVec.multiply(weights: ws.baseAddress!, dtype: .q8_0, rows: 1, cols: 32, x: v, y: $0.baseAddress!) } }
        }
    }
}
