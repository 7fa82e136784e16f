import Testing
import FinchTensor
import CFinchKernels

/// The 16-bit-activation kernels (CFinchKernels/matvec_q16.c, the decoder's default arithmetic).
@Suite struct Q16MatVecTests {
    @Test func quantizesBlocksToInt16() throws {
        // max |x| = 32767 → d = 1, q = round(x) with ties to even (2.5 → 2, -3.5 → -4), NaN → 0; sum in f32.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 32767; x[1] = 2.5; x[2] = -3.5; x[3] = 0.4; x[4] = .nan
        var b = finch_q16x_block()
        finch_quantize_q16x_scalar(x, &b, 32)
        let qs = withUnsafeBytes(of: b.qs) { Array($0.bindMemory(to: Int16.self)) }
        #expect(b.d == 1 && Array(qs[0..<5]) == [32767, 2, -4, 0, 0] && qs[5...].allSatisfy { $0 == 0 })
        #expect(b.s.isNaN)
    }

    @Test func vectorQuantizerMatchesScalarBitForBit() throws {
        var x = pseudoRandom(32 * 7, seed: 5, scale: 3)
        x[0] = 32767; x[1] = 2.5; x[2] = -2.5; x[3] = -0.5; x[4] = 0.5; x[6] = -0.0; x[40] = .nan
        for j in 64..<96 { x[j] = 0 }
        var ref = [finch_q16x_block](repeating: finch_q16x_block(), count: 7), vec = ref
        finch_quantize_q16x_scalar(x, &ref, 224)
        finch_quantize_q16x_avx2(x, &vec, 224)
        for b in 0..<7 {
            let r = withUnsafeBytes(of: ref[b]) { Array($0) }, v = withUnsafeBytes(of: vec[b]) { Array($0) }
            #expect(r == v, "block \(b)")
        }
    }

    /// Every level's kernel against f64 on the same 16-bit x (relative 1e-5 of Σ|w·x|: f32 accumulation) and
    /// against the exact f32-activation kernel (the x-quantization bound Σ|w_j|·d_x/2 plus the same slack).
    func check(_ dtype: DType, rows: Int, cols: Int) throws {
        let wf = pseudoRandom(rows * cols, seed: 17 + UInt64(cols), scale: 0.5)
        var x = pseudoRandom(cols, seed: 9, scale: 2)
        x[cols / 3] = 40  // an outlier, as activations have
        var w = [UInt8](repeating: 0, count: dtype.byteCount(elements: rows * cols)!)
        try wf.withUnsafeBufferPointer { s in try w.withUnsafeMutableBytes { try quantize(dtype, s.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        var wd = [Float](repeating: 0, count: rows * cols)
        w.withUnsafeBytes { s in wd.withUnsafeMutableBufferPointer { dequantize(dtype, s.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        var xq = [finch_q16x_block](repeating: finch_q16x_block(), count: cols / 32)
        finch_quantize_q16x(x, &xq, cols)
        let xsum = (0..<cols / 32).map { b in x[32 * b..<32 * b + 32].reduce(0, +) }
        let kernels: [String: (UnsafeRawPointer, UnsafePointer<finch_q16x_block>, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void] = switch dtype {
        case .q4_0: ["scalar": finch_matvec_q16_q4_0_scalar, "avx2": finch_matvec_q16_q4_0_avx2, "avx512": finch_matvec_q16_q4_0_avx512, "auto": finch_matvec_q16_q4_0]
        case .q4_1: ["scalar": finch_matvec_q16_q4_1_scalar, "avx2": finch_matvec_q16_q4_1_avx2, "avx512": finch_matvec_q16_q4_1_avx512, "auto": finch_matvec_q16_q4_1]
        default: ["scalar": finch_matvec_q16_q8_0_scalar, "avx2": finch_matvec_q16_q8_0_avx2, "avx512": finch_matvec_q16_q8_0_avx512, "auto": finch_matvec_q16_q8_0]
        }
        var exactF32 = [Float](repeating: .nan, count: rows)
        switch dtype {
        case .q4_0: finch_matvec_f32x_q4_0_scalar(w, x, &exactF32, 0, rows, cols)
        case .q4_1: finch_matvec_f32x_q4_1_scalar(w, x, xsum, &exactF32, 0, rows, cols)
        default: finch_matvec_f32x_q8_0_scalar(w, x, &exactF32, 0, rows, cols)
        }
        for (name, kernel) in kernels {
            var y = [Float](repeating: .nan, count: rows)
            w.withUnsafeBytes { kernel($0.baseAddress!, xq, &y, 0, rows, cols) }
            for r in 0..<rows {
                var exact = 0.0, magnitude = 0.0, xBound = 0.0
                for j in 0..<cols {
                    let wj = Double(wd[r * cols + j]), b = xq[j / 32]
                    let qj = withUnsafeBytes(of: b.qs) { $0.load(fromByteOffset: 2 * (j % 32), as: Int16.self) }
                    // Q4_1's offset m (f16 at byte 2 of the block) multiplies the f32 sum of x, not the 16-bit x.
                    let m = dtype == .q4_1 ? Double(Float16(bitPattern: w.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: (r * cols + j) / 32 * 20 + 2, as: UInt16.self) })) : 0
                    exact += (wj - m) * Double(b.d) * Double(qj) + m * Double(x[j])
                    magnitude += abs(wj * Double(x[j]))
                    xBound += abs(wj) * Double(b.d) / 2
                }
                let slack = 1e-5 * magnitude + 1e-6
                #expect(abs(Double(y[r]) - exact) <= slack, "\(dtype) \(name) row \(r): \(y[r]) vs \(exact)")
                #expect(abs(y[r] - exactF32[r]) <= Float(xBound + slack), "\(dtype) \(name) row \(r) vs the f32 kernel")
            }
        }
    }

    @Test func q4_0MatchesReferences() throws { try check(.q4_0, rows: 70, cols: 96); try check(.q4_0, rows: 130, cols: 576) }
    @Test func q4_1MatchesReferences() throws { try check(.q4_1, rows: 70, cols: 96); try check(.q4_1, rows: 130, cols: 576) }
    @Test func q8_0MatchesReferences() throws { try check(.q8_0, rows: 70, cols: 96); try check(.q8_0, rows: 130, cols: 576) }
}
