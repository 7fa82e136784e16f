import CFinchKernels
import Testing
@testable import FinchTensor

/// finch_sgemm2 (a LoRA branch packed as more k columns of its base product) and the threaded CPUBackend.sgemm2 at
/// every ISA level this CPU runs, against an f64 reference of C = α·op(A)·op(B) + α₂·op(A2)·op(B2) + β·C. Shapes
/// cover the branch wholly inside the last k block, k blocks that straddle the two pairs (k < k2, k + k2 > 576),
/// n past one 1024-column block, ragged register tiles, the narrow shapes and the scalar level (products in
/// turn), and over a million multiply-adds (split over threads). Tolerance: f32 accumulation, 1e-5 of the sum of
/// |terms| per element; padding columns of C are never written.
@Suite struct SgemmPairTests {
    /// (m, n, k, k2)
    static let shapes: [(Int, Int, Int, Int)] = [
        (37, 109, 331, 16), (150, 70, 300, 7), (25, 2100, 20, 5), (13, 35, 7, 3), (41, 50, 250, 20),
        (23, 77, 10, 300), (150, 200, 40, 8), (61, 16, 300, 16), (30, 64, 256, 48),
        (23, 77, 10, 600), (41, 50, 650, 20),
    ]
    static let transposes = [(false, false), (false, true), (true, false), (true, true)]

    @Test(arguments: CPUISA.runnable, transposes)
    func pairMatchesReference(level: CPUISA, trans: (Bool, Bool)) {
        // The packed kernels are chosen once per process, on the first thread that asks: not this one at scalar.
        #expect(CPUBackend.usePackedGemm == (CPUISA.supported != .scalar))
        CPUISA.with(level) {
            for (si, (m, n, k, k2)) in Self.shapes.enumerated() {
                // The branch's transposes differ from the base product's (the forward's x·Wᵀ + xa·Bᵀ is NT + NT,
                // the backward's dy·W + dxa·A NN + NN): both pairings of each.
                for trans2 in [trans, (!trans.0, trans.1)] {
                    for beta: Float in [0, 1] { check(m, n, k, k2, trans, trans2, beta, seed: UInt64(si * 64 + (trans2.0 ? 2 : 0) + Int(beta))) }
                }
            }
        }
    }

    /// finch_sgemm_rows_pair (E = α·D·F + βe·E and G = α·Dᵀ·H + βg·G in one pass over D: the LoRA backward's dxa and
    /// dB) and the threaded CPUBackend.sgemmRowsPair, at every level, against an f64 reference: one and several row
    /// blocks with a ragged last one, 1, 2 and 3 zmm of columns, no rows, padded leading dimensions. Tolerance as above.
    @Test(arguments: CPUISA.runnable)
    func rowsPairMatchesReference(level: CPUISA) {
        #expect(CPUBackend.usePackedGemm == (CPUISA.supported != .scalar))
        CPUISA.with(level) {
            // (m, n, r): D is m × n
            for (si, (m, n, r)) in [(300, 200, 16), (1030, 40, 16), (37, 1600, 8), (100, 70, 48), (5, 3, 1), (0, 20, 4), (61, 90, 33)].enumerated() {
                for (betaE, betaG): (Float, Float) in [(0, 0), (1, 1), (0, 1)] {
                    var rng = TestRNG(UInt64(500 + si * 4) + UInt64(betaE + 2 * betaG))
                    func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.uniform()) } }
                    let ldd = n + 2, ldf = r + 1, lde = r + 3, ldh = r + 2, ldg = r + 5, alpha: Float = 0.875
                    let d = values(m * ldd), f = values(n * ldf), h = values(m * ldh)
                    let e0 = (0..<(m * lde)).map { _ in betaE == 0 ? Float.nan : Float(rng.uniform()) }
                    let g0 = (0..<(n * ldg)).map { _ in betaG == 0 ? Float.nan : Float(rng.uniform()) }
                    var results: [(String, [Float], [Float])] = []
                    for threaded in [false, true] {
                        var e = e0, g = g0
                        e.withUnsafeMutableBufferPointer { ep in
                            g.withUnsafeMutableBufferPointer { gp in
                                if threaded {
                                    CPUBackend.sgemmRowsPair(m: m, n: n, r: r, alpha: alpha, d, ldd: ldd, f, ldf: ldf, betaE: betaE, ep.baseAddress!, lde: lde,
                                                             h, ldh: ldh, betaG: betaG, gp.baseAddress!, ldg: ldg)
                                } else {
                                    finch_sgemm_rows_pair(m, n, r, alpha, d, ldd, f, ldf, betaE, ep.baseAddress!, lde, h, ldh, betaG, gp.baseAddress!, ldg)
                                }
                            }
                        }
                        results.append((threaded ? "threaded" : "single", e, g))
                    }
                    var bad = 0, touched = 0
                    // out (rows × r, leading dimension ld) against Σ_p α·X(i, p)·Y(p, j) + β·start; columns past r untouched.
                    func compare(_ name: String, rows: Int, k: Int, _ x: (Int, Int) -> Float, _ y: (Int, Int) -> Float, beta: Float,
                                 got: [Float], start: [Float], ld: Int) {
                        for i in 0..<rows {
                            for j in 0..<r {
                                var ref = 0.0, mag = 0.0
                                for p in 0..<k { let t = Double(alpha) * Double(x(i, p)) * Double(y(p, j)); ref += t; mag += abs(t) }
                                if beta != 0 { ref += Double(start[i * ld + j]); mag += abs(Double(start[i * ld + j])) }
                                let v = got[i * ld + j]
                                if !(abs(Double(v) - ref) <= 1e-5 * mag + 1e-30) {
                                    bad += 1
                                    if bad < 5 { Issue.record("\(CPUISA.active) \(name)[\(i),\(j)] \(m)×\(n) r \(r) βe \(betaE) βg \(betaG): \(v) vs \(ref)") }
                                }
                            }
                            for j in r..<ld where got[i * ld + j].bitPattern != start[i * ld + j].bitPattern { touched += 1 }
                        }
                    }
                    for (name, e, g) in results {
                        compare("\(name) E", rows: m, k: n, { d[$0 * ldd + $1] }, { f[$0 * ldf + $1] }, beta: betaE, got: e, start: e0, ld: lde)
                        compare("\(name) G", rows: n, k: m, { d[$1 * ldd + $0] }, { h[$0 * ldh + $1] }, beta: betaG, got: g, start: g0, ld: ldg)
                    }
                    #expect(bad == 0)
                    #expect(touched == 0)
                }
            }
        }
    }

    func check(_ m: Int, _ n: Int, _ k: Int, _ k2: Int, _ t1: (Bool, Bool), _ t2: (Bool, Bool), _ beta: Float, seed: UInt64) {
        var rng = TestRNG(seed)
        let alpha: Float = 1, alpha2: Float = 0.625
        func operand(_ rows: Int, _ cols: Int, _ trans: Bool) -> (values: [Float], ld: Int) {
            let (r, c) = trans ? (cols, rows) : (rows, cols)
            return ((0..<(r * (c + 3))).map { _ in Float(rng.uniform()) }, c + 3)
        }
        let (a, lda) = operand(m, k, t1.0), (b, ldb) = operand(k, n, t1.1)
        let (a2, lda2) = operand(m, k2, t2.0), (b2, ldb2) = operand(k2, n, t2.1)
        let ldc = n + 3
        let c0 = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : Float(rng.uniform()) }
        func at(_ x: [Float], _ ld: Int, _ trans: Bool, _ i: Int, _ j: Int) -> Double { Double(trans ? x[j * ld + i] : x[i * ld + j]) }
        var single = c0, threaded = c0
        let i1: Int32 = t1.0 ? 1 : 0, j1: Int32 = t1.1 ? 1 : 0, i2: Int32 = t2.0 ? 1 : 0, j2: Int32 = t2.1 ? 1 : 0
        single.withUnsafeMutableBufferPointer { c in
            finch_sgemm2(i1, j1, m, n, k, alpha, a, lda, b, ldb, i2, j2, k2, alpha2, a2, lda2, b2, ldb2, beta, c.baseAddress!, ldc)
        }
        threaded.withUnsafeMutableBufferPointer { c in
            CPUBackend.sgemm2(transA: t1.0, transB: t1.1, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb,
                              transA2: t2.0, transB2: t2.1, k2: k2, alpha2: alpha2, a2, lda2: lda2, b2, ldb2: ldb2,
                              beta: beta, c.baseAddress!, ldc: ldc)
        }
        var bad = 0
        for i in 0..<m {
            for j in 0..<n {
                var ref = 0.0, mag = 0.0
                for p in 0..<k {
                    let t = Double(alpha) * at(a, lda, t1.0, i, p) * at(b, ldb, t1.1, p, j)
                    ref += t; mag += abs(t)
                }
                for p in 0..<k2 {
                    let t = Double(alpha2) * at(a2, lda2, t2.0, i, p) * at(b2, ldb2, t2.1, p, j)
                    ref += t; mag += abs(t)
                }
                if beta != 0 {
                    ref += Double(beta) * Double(c0[i * ldc + j])
                    mag += abs(Double(c0[i * ldc + j]))
                }
                for (name, got) in [("single", single), ("threaded", threaded)] where !(abs(Double(got[i * ldc + j]) - ref) <= 1e-5 * mag + 1e-30) {
                    bad += 1
                    if bad < 5 { Issue.record("\(CPUISA.active) \(name) \(m)×\(n)×\(k)+\(k2) \(t1) \(t2) β \(beta) [\(i),\(j)]: \(got[i * ldc + j]) vs \(ref)") }
                }
            }
        }
        #expect(bad == 0)
        var touched = 0
        for idx in 0..<c0.count where idx % ldc >= n {
            for got in [single, threaded] where got[idx].bitPattern != c0[idx].bitPattern { touched += 1 }
        }
        #expect(touched == 0)
    }
}
