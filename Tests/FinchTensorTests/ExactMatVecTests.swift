import CFinchKernels
import Foundation
import Testing
@testable import FinchTensor

/// The f32-activation decode kernels against dequantize-then-dot in f64 (tolerance: f32 summation
/// over 256 terms, 1e-5 relative to the row's Σ|w·x|), and the AVX2 path against the scalar reference.
@Suite struct ExactMatVecTests {
    /// Random weights (rows × cols) quantized to `dtype`, and what they decode to.
    static func quantized(_ dtype: DType, rows: Int, cols: Int, rng: inout TestRNG) throws -> (bytes: [UInt8], decoded: [Float]) {
        let w = rng.array(rows * cols).map(Float.init)
        var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: rows * cols)!)
        try w.withUnsafeBufferPointer { src in
            try bytes.withUnsafeMutableBytes { try quantize(dtype, src.baseAddress!, into: $0.baseAddress!, count: rows * cols) }
        }
        var decoded = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in decoded.withUnsafeMutableBufferPointer { dequantize(dtype, raw.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
        return (bytes, decoded)
    }

    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func matchesDequantizedDot(dtype: DType) throws {
        let rows = 70, cols = 256
        var rng = TestRNG(UInt64(dtype.ggmlType))
        let (bytes, decoded) = try Self.quantized(dtype, rows: rows, cols: cols, rng: &rng)
        let x = rng.array(cols).map(Float.init)
        var fast = [Float](repeating: .nan, count: rows), scalar = [Float](repeating: .nan, count: rows)
        bytes.withUnsafeBytes { raw in
            x.withUnsafeBufferPointer { xp in
                ExactMatVec.multiply(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: xp.baseAddress!, y: &fast)
                ExactMatVec.multiply(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: xp.baseAddress!, y: &scalar, scalar: true)
            }
        }
        for r in 0..<rows {
            var ref = 0.0, mag = 0.0
            for j in 0..<cols {
                let t = Double(decoded[r * cols + j]) * Double(x[j])
                ref += t
                mag += abs(t)
            }
            #expect(abs(Double(fast[r]) - ref) <= 1e-5 * mag, "row \(r): \(fast[r]) vs \(ref)")
            #expect(abs(Double(scalar[r]) - ref) <= 1e-5 * mag, "row \(r) scalar: \(scalar[r]) vs \(ref)")
        }
    }

    /// Several rows of x at once (`multiplyRows`, a short prompt) give each row exactly what the one-row kernel gives it,
    /// at every ISA level (1 … 17 rows: passes of 8 and the remainders; a range of W's rows only), and the scalar
    /// references the f64 product over the decoded weights.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func rowsAtOnceEqualRowByRow(dtype: DType) throws {
        let rows = 70, cols = 320, nb = cols / 32
        var rng = TestRNG(UInt64(dtype.ggmlType) + 90)
        let (bytes, decoded) = try Self.quantized(dtype, rows: rows, cols: cols, rng: &rng)
        for count in [1, 2, 5, 8, 9, 16, 17] {
            let x = rng.array(count * cols).map(Float.init)
            for level in Int32(0)...finch_isa_supported() {
                #expect(finch_isa_set_thread(level) == level)
                defer { _ = finch_isa_set_thread(-1) }
                var together = [Float](repeating: .nan, count: count * rows), apart = together
                bytes.withUnsafeBytes { raw in
                    x.withUnsafeBufferPointer { xp in
                        ExactMatVec.multiplyRows(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: xp.baseAddress!,
                                                 count: count, y: &together)
                        for i in 0..<count {
                            apart.withUnsafeMutableBufferPointer { yp in
                                ExactMatVec.multiply(weights: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols,
                                                     x: xp.baseAddress! + i * cols, y: yp.baseAddress! + i * rows)
                            }
                        }
                    }
                }
                #expect(together.map(\.bitPattern) == apart.map(\.bitPattern), "\(dtype), \(count) rows, level \(level)")
            }
            // Only W's rows 3 ..< 50 (a thread's share): the others are left alone.
            var part = [Float](repeating: .nan, count: count * rows), scalar = part
            var xsum = [Float](repeating: 0, count: count * nb)
            for i in 0..<count { for b in 0..<nb { xsum[i * nb + b] = (0..<32).reduce(0) { $0 + x[i * cols + b * 32 + $1] } } }
            bytes.withUnsafeBytes { raw in
                let wp = raw.baseAddress!
                switch dtype {
                case .q4_0:
                    finch_matrows_f32x_q4_0(wp, x, cols, count, &part, rows, 3, 50, cols)
                    finch_matrows_f32x_q4_0_scalar(wp, x, cols, count, &scalar, rows, 3, 50, cols)
                case .q4_1:
                    finch_matrows_f32x_q4_1(wp, x, cols, xsum, nb, count, &part, rows, 3, 50, cols)
                    finch_matrows_f32x_q4_1_scalar(wp, x, cols, xsum, nb, count, &scalar, rows, 3, 50, cols)
                default:
                    finch_matrows_f32x_q8_0(wp, x, cols, count, &part, rows, 3, 50, cols)
                    finch_matrows_f32x_q8_0_scalar(wp, x, cols, count, &scalar, rows, 3, 50, cols)
                }
            }
            for i in 0..<count {
                for r in 0..<rows {
                    let idx = i * rows + r
                    guard (3..<50).contains(r) else {
                        #expect(part[idx].isNaN && scalar[idx].isNaN)
                        continue
                    }
                    var ref = 0.0, mag = 0.0
                    for j in 0..<cols {
                        let t = Double(decoded[r * cols + j]) * Double(x[i * cols + j])
                        ref += t
                        mag += abs(t)
                    }
                    #expect(abs(Double(part[idx]) - ref) <= 1e-5 * mag && abs(Double(scalar[idx]) - ref) <= 1e-5 * mag,
                            "\(dtype) row \(i), W row \(r): \(part[idx]), \(scalar[idx]) vs \(ref)")
                }
            }
        }
    }

    /// `Ops.linear` over quantized weights at every row count a short prompt brings: up to 16 rows through the
    /// mat-vec kernels above (one row, or several at once), from 17 through a product over rows of W decoded to f32,
    /// at every ISA level: both equal the f64 product over the decoded weights (1e-5 of Σ|w·x|).
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func linearMatchesDequantizedProductAtAnyRowCount(dtype: DType) throws {
        let outF = 200, inF = 1536
        var rng = TestRNG(UInt64(dtype.ggmlType) + 40)
        let (bytes, decoded) = try Self.quantized(dtype, rows: outF, cols: inF, rng: &rng)
        let stored = try bytes.withUnsafeBytes { try Tensor(shape: [outF, inF], dtype: dtype, bytes: $0.baseAddress!, owner: nil) }
        for rows in [1, 7, 8, 16, 17, 21] {
            let x = rng.array(rows * inF).map(Float.init)
            for level in Int32(0)...finch_isa_supported() {
                #expect(finch_isa_set_thread(level) == level)
                defer { _ = finch_isa_set_thread(-1) }
                let y = try GradMode.noGrad { try Ops.linear(try Tensor(x, shape: [rows, inF]), stored).toArray() }
                var bad = 0
                for i in 0..<rows {
                    for o in 0..<outF {
                        var ref = 0.0, mag = 0.0
                        for j in 0..<inF {
                            let t = Double(decoded[o * inF + j]) * Double(x[i * inF + j])
                            ref += t
                            mag += abs(t)
                        }
                        if !(abs(Double(y[i * outF + o]) - ref) <= 1e-5 * mag) { bad += 1 }
                    }
                }
                #expect(bad == 0, "\(dtype) \(rows) rows at level \(level): \(bad) of \(rows * outF) outputs off")
            }
        }
        // The product over stored W itself (`CPUBackend.gemmStoredB`, which `linear` skips below 8 rows) with α, β = 1
        // and offsets into A, B and C (A's rows 3 …, W's rows 5 … 155, C's columns 7 … 157): at 6 rows (the narrow
        // kernels) and at 20 (the packed ones).
        let cpu = Backends.cpu
        for rows in [6, 20] {
            let x = rng.array((rows + 3) * inF).map(Float.init), c0 = rng.array(rows * outF).map(Float.init)
            for level in Int32(0)...finch_isa_supported() {
                #expect(finch_isa_set_thread(level) == level)
                defer { _ = finch_isa_set_thread(-1) }
                let xt = try Tensor(x, shape: [rows + 3, inF]), ct = try Tensor(c0, shape: [rows, outF])
                var p = GemmParams(m: rows, n: 150, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF)
                (p.offsetA, p.offsetB, p.offsetC, p.alpha, p.beta) = (3 * inF, 5 * inF, 7, 0.75, 1)
                cpu.gemm(p, a: xt, b: stored, c: ct)
                let got = ct.toArray()
                var bad = 0
                for i in 0..<rows {
                    for o in 0..<outF {
                        let idx = i * outF + o
                        guard o >= 7, o < 157 else {
                            if got[idx].bitPattern != c0[idx].bitPattern { bad += 1 }  // outside C's block: untouched
                            continue
                        }
                        var ref = 0.0, mag = 0.0
                        for j in 0..<inF {
                            let t = Double(decoded[(5 + o - 7) * inF + j]) * Double(x[(3 + i) * inF + j])
                            ref += t
                            mag += abs(t)
                        }
                        ref = 0.75 * ref + Double(c0[idx])
                        if !(abs(Double(got[idx]) - ref) <= 1e-5 * (mag + abs(Double(c0[idx])))) { bad += 1 }
                    }
                }
                #expect(bad == 0, "\(dtype) product, \(rows) rows at level \(level): \(bad) outputs off")
            }
        }
    }
}
