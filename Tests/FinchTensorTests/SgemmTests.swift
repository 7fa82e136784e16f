import CBLAS
import CFinchKernels
import Testing
@testable import FinchTensor

/// The packed SGEMM at every ISA level this CPU runs (AVX-512 12×32, AVX2 6×16, scalar; and the threaded
/// CPUBackend.sgemm around it, splitting m, n or k) against an f64 reference,
/// the scalar C reference and cblas, on shapes that are not multiples of the 12×32 register tile or
/// of the cache blocks (k > 576, m > 144, n > 1024), with all four transpose combinations, padded
/// leading dimensions, alpha ≠ 1, and beta 0 (C starts as NaN, which must never be read) or 1.
/// Tolerance: f32 accumulation, 1e-5 of the sum of |terms| per element.
@Suite struct SgemmTests {
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (13, 35, 7), (37, 45, 53), (12, 32, 256), (150, 70, 1300), (300, 33, 17), (25, 2100, 20), (5, 3, 600),
        // Packed (n > 64, m > 16), for the vector-transposing packs: partial groups of 4 rows of A and of 8 columns
        // of B (ragged panels past 8 columns), k not a multiple of 4 or 8.
        (23, 77, 53), (41, 70, 9), (37, 109, 331),
        // k ≥ 4·max(m, n) and over a million multiply-adds: CPUBackend.sgemm splits k over its threads.
        (50, 70, 900),
    ]

    /// The narrow path (n ≤ 64 or m ≤ 16: the LoRA rank-16 products, alone or up to three side by side, and
    /// attention's 64-wide heads):
    /// full 16-row / 16-column tiles, 12 × 32, 8 × 48 and 6 × 64 ones, remainders of 8, 4, 2 and 1 rows, masked
    /// columns, widths past one 64-column pass, k = 1.
    static let narrowShapes: [(Int, Int, Int)] = [
        (1030, 16, 70), (16, 1100, 70), (61, 16, 300), (45, 15, 9), (7, 5, 1), (3, 1, 70), (16, 130, 41), (11, 64, 5), (16, 200, 1), (5, 77, 260),
        (13, 16, 16), (200, 16, 16),
        (1030, 32, 70), (61, 48, 300), (45, 33, 9), (200, 17, 16), (7, 40, 5), (27, 47, 1),
        // 6 × 64 tiles (attention's P·V, dS·K, Pᵀ·dO, dSᵀ·Q at head dim 64), ragged past 48 columns.
        (200, 64, 96), (61, 57, 300), (30, 49, 7), (15, 100, 33), (13, 64, 20),
    ]

    /// Aᵀ of 17 … 48 rows against an untransposed B wider than 64 (an adapter's weight gradient dA = d(xa)ᵀ·x):
    /// narrow only in that orientation (finch_sgemm_takes_narrow), packed in the other three. 6-row tiles with
    /// remainders, ragged 64-column passes, k = 1.
    static let gradientShapes: [(Int, Int, Int)] = [(48, 130, 41), (17, 100, 70), (33, 65, 1), (47, 200, 33), (40, 77, 260)]

    static let transposes = [(false, false), (false, true), (true, false), (true, true)]
    /// The ISA levels this CPU executes (FINCH_ISA_SCALAR … finch_isa_supported()).
    static let levels: [Int32] = Array(0...finch_isa_supported())

    @Test(arguments: levels, transposes)
    func matchesReference(level: Int32, trans: (Bool, Bool)) {
        check(level: level, trans: trans, shapes: Self.shapes, offset: 0)
    }

    /// Narrow shapes, with the operands and C starting at an offset into their buffers.
    @Test(arguments: levels, transposes)
    func narrowMatchesReference(level: Int32, trans: (Bool, Bool)) {
        for (m, n, k) in Self.narrowShapes { #expect(finch_sgemm_is_narrow(m, n, k) != 0) }
        check(level: level, trans: trans, shapes: Self.narrowShapes, offset: 5)
    }

    @Test(arguments: levels, transposes)
    func gradientShapesMatchReference(level: Int32, trans: (Bool, Bool)) {
        for (m, n, k) in Self.gradientShapes {
            #expect(finch_sgemm_is_narrow(m, n, k) == 0)
            #expect((finch_sgemm_takes_narrow(trans.0 ? 1 : 0, trans.1 ? 1 : 0, m, n, k) != 0) == (trans.0 && !trans.1))
        }
        check(level: level, trans: trans, shapes: Self.gradientShapes, offset: 3)
    }

    /// The tests do run the level asked for (AVX2 included on an AVX-512 CPU).
    @Test func everySupportedLevelIsTested() {
        #expect(Self.levels.last == finch_isa_supported())
        for level in Self.levels {
            #expect(finch_isa_set_thread(level) == level)
        }
        _ = finch_isa_set_thread(-1)
    }

    func check(level: Int32, trans: (Bool, Bool), shapes: [(Int, Int, Int)], offset o: Int) {
        // CPUBackend.sgemm's choice of the packed kernel is made once, at the process level (whatever the
        // thread that first asks: here one at the scalar level, in other tests a pool worker running at one).
        #expect(CPUBackend.usePackedGemm == (finch_isa_process() >= 1))
        // This thread's kernels, and the pool workers running CPUBackend.sgemm's parts, run at `level`.
        #expect(finch_isa_set_thread(level) == level)
        defer { _ = finch_isa_set_thread(-1) }
        let (ta, tb) = trans
        for (si, (m, n, k)) in shapes.enumerated() {
            for beta: Float in [0, 1] {
                var rng = TestRNG(UInt64(si * 16 + (ta ? 8 : 0) + (tb ? 4 : 0) + Int(beta)))
                let alpha: Float = 0.75
                // Stored A is (m×k) or, transposed, (k×m); leading dimensions padded by 3.
                let (aRows, aCols) = ta ? (k, m) : (m, k)
                let (bRows, bCols) = tb ? (n, k) : (k, n)
                let lda = aCols + 3, ldb = bCols + 3, ldc = n + 3
                // Operands and C start `o` elements into their buffers (the elements before stay untouched).
                let a = (0..<(o + aRows * lda)).map { _ in Float(rng.uniform()) }
                let b = (0..<(o + bRows * ldb)).map { _ in Float(rng.uniform()) }
                let c0 = (0..<(o + m * ldc)).map { _ in beta == 0 ? Float.nan : Float(rng.uniform()) }
                func A(_ i: Int, _ p: Int) -> Double { Double(ta ? a[o + p * lda + i] : a[o + i * lda + p]) }
                func B(_ p: Int, _ j: Int) -> Double { Double(tb ? b[o + j * ldb + p] : b[o + p * ldb + j]) }
                var packed = c0, narrow = c0, threaded = c0, scalar = c0, blas = c0
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        let pa = ap.baseAddress! + o, pb = bp.baseAddress! + o
                        let ita: Int32 = ta ? 1 : 0, itb: Int32 = tb ? 1 : 0
                        packed.withUnsafeMutableBufferPointer { finch_sgemm_avx512(ita, itb, m, n, k, alpha, pa, lda, pb, ldb, beta, $0.baseAddress! + o, ldc) }
                        narrow.withUnsafeMutableBufferPointer { finch_sgemm_narrow(ita, itb, m, n, k, alpha, pa, lda, pb, ldb, beta, $0.baseAddress! + o, ldc) }
                        scalar.withUnsafeMutableBufferPointer { finch_sgemm_ref(ita, itb, m, n, k, alpha, pa, lda, pb, ldb, beta, $0.baseAddress! + o, ldc) }
                        threaded.withUnsafeMutableBufferPointer { cp in
                            CPUBackend.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, pa, lda: lda, pb, ldb: ldb,
                                             beta: beta, cp.baseAddress! + o, ldc: ldc)
                        }
                        blas.withUnsafeMutableBufferPointer {
                            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                                        Int32(m), Int32(n), Int32(k), alpha, pa, Int32(lda), pb, Int32(ldb), beta, $0.baseAddress! + o, Int32(ldc))
                        }
                    }
                }
                var bad = 0
                for i in 0..<m {
                    for j in 0..<n {
                        var ref = 0.0, mag = 0.0
                        for p in 0..<k {
                            let t = A(i, p) * B(p, j)
                            ref += t
                            mag += abs(t)
                        }
                        ref *= Double(alpha)
                        mag *= Double(alpha)
                        if beta != 0 {
                            ref += Double(beta) * Double(c0[o + i * ldc + j])
                            mag += abs(Double(c0[o + i * ldc + j]))
                        }
                        let tol = 1e-5 * mag + 1e-30
                        for (name, got) in [("packed", packed), ("narrow", narrow), ("threaded", threaded), ("scalar", scalar), ("cblas", blas)] {
                            let v = Double(got[o + i * ldc + j])
                            if !(abs(v - ref) <= tol) {
                                bad += 1
                                if bad < 5 { Issue.record("\(String(cString: finch_isa_name(level))) \(name) \(m)×\(n)×\(k) tA \(ta) tB \(tb) β \(beta) [\(i),\(j)]: \(v) vs \(ref)") }
                            }
                        }
                    }
                }
                #expect(bad == 0)
                // Padding columns of C, and the elements before its offset, are never written.
                var touched = 0
                for idx in 0..<c0.count where idx < o || (idx - o) % ldc >= n {
                    for got in [packed, narrow, threaded] where got[idx].bitPattern != c0[idx].bitPattern { touched += 1 }
                }
                #expect(touched == 0)
            }
        }
    }
}
