import CBLAS
import CFinchKernels
import Testing
@testable import FinchTensor

/// The packed AVX-512 SGEMM (and the threaded CPUBackend.sgemm around it) against an f64 reference,
/// the scalar C reference and cblas, on shapes that are not multiples of the 12×32 register tile or
/// of the cache blocks (k > 256, m > 144, n > 2048), with all four transpose combinations, padded
/// leading dimensions, alpha ≠ 1, and beta 0 (C starts as NaN, which must never be read) or 1.
/// Tolerance: f32 accumulation, 1e-5 of the sum of |terms| per element.
@Suite struct SgemmTests {
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (13, 35, 7), (37, 45, 53), (12, 32, 256), (150, 70, 300), (300, 33, 17), (25, 2100, 20), (5, 3, 600),
    ]

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matchesReference(trans: (Bool, Bool)) {
        let (ta, tb) = trans
        for (si, (m, n, k)) in Self.shapes.enumerated() {
            for beta: Float in [0, 1] {
                var rng = TestRNG(UInt64(si * 16 + (ta ? 8 : 0) + (tb ? 4 : 0) + Int(beta)))
                let alpha: Float = 0.75
                // Stored A is (m×k) or, transposed, (k×m); leading dimensions padded by 3.
                let (aRows, aCols) = ta ? (k, m) : (m, k)
                let (bRows, bCols) = tb ? (n, k) : (k, n)
                let lda = aCols + 3, ldb = bCols + 3, ldc = n + 3
                let a = (0..<(aRows * lda)).map { _ in Float(rng.uniform()) }
                let b = (0..<(bRows * ldb)).map { _ in Float(rng.uniform()) }
                let c0 = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : Float(rng.uniform()) }
                func A(_ i: Int, _ p: Int) -> Double { Double(ta ? a[p * lda + i] : a[i * lda + p]) }
                func B(_ p: Int, _ j: Int) -> Double { Double(tb ? b[j * ldb + p] : b[p * ldb + j]) }
                var packed = c0, threaded = c0, scalar = c0, blas = c0
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        let pa = ap.baseAddress!, pb = bp.baseAddress!
                        let ita: Int32 = ta ? 1 : 0, itb: Int32 = tb ? 1 : 0
                        finch_sgemm_avx512(ita, itb, m, n, k, alpha, pa, lda, pb, ldb, beta, &packed, ldc)
                        finch_sgemm_ref(ita, itb, m, n, k, alpha, pa, lda, pb, ldb, beta, &scalar, ldc)
                        threaded.withUnsafeMutableBufferPointer { cp in
                            CPUBackend.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, pa, lda: lda, pb, ldb: ldb,
                                             beta: beta, cp.baseAddress!, ldc: ldc)
                        }
                        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                                    Int32(m), Int32(n), Int32(k), alpha, pa, Int32(lda), pb, Int32(ldb), beta, &blas, Int32(ldc))
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
                            ref += Double(beta) * Double(c0[i * ldc + j])
                            mag += abs(Double(c0[i * ldc + j]))
                        }
                        let tol = 1e-5 * mag + 1e-30
                        for (name, got) in [("packed", packed), ("threaded", threaded), ("scalar", scalar), ("cblas", blas)] {
                            let v = Double(got[i * ldc + j])
                            if !(abs(v - ref) <= tol) {
                                bad += 1
                                if bad < 5 { Issue.record("\(name) \(m)×\(n)×\(k) tA \(ta) tB \(tb) β \(beta) [\(i),\(j)]: \(v) vs \(ref)") }
                            }
                        }
                    }
                }
                #expect(bad == 0)
                // Padding columns of C are never written.
                for i in 0..<m {
                    for j in n..<ldc {
                        let expected = c0[i * ldc + j]
                        for got in [packed, threaded] {
                            #expect(got[i * ldc + j].bitPattern == expected.bitPattern)
                        }
                    }
                }
            }
        }
    }
}
