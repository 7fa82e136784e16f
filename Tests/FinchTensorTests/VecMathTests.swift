import CFinchKernels
import Foundation
import Testing

/// The vectorised exp and the row kernels built on it, against f64 math and their scalar references.
/// exp: relative error ≤ 4 ulp (2.4e-7) over [-87, 88.5]; 0 below -104; inf, NaN and ±0 as expf.
/// Each test runs at every ISA level this CPU executes (finch_isa.h; the level is set for this thread only).
@Suite struct VecMathTests {
    static var levels: [Int32] { Array(0...finch_isa_supported()) }

    @Test(arguments: levels) func expMatchesDouble(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        let n = 200_003
        let x = (0..<n).map { Float(-87 + 175.5 * Double($0) / Double(n - 1)) }
        var y = [Float](repeating: .nan, count: n), r = y
        finch_exp_f32(x, &y, n)
        finch_exp_f32_ref(x, &r, n)
        var worst = 0.0
        for i in 0..<n {
            let ref = exp(Double(x[i]))
            worst = max(worst, abs(Double(y[i]) - ref) / ref)
            #expect(abs(Double(r[i]) - ref) / ref <= 2.4e-7)
        }
        #expect(worst <= 2.4e-7, "level \(level): max relative error \(worst)")
        // Subnormal results and the top of the range (2^n built in two halves without AVX-512's scalef).
        let edges: [Float] = [-100, -95.3, -88, -87.5, 88.7, 88.72]
        var eo = [Float](repeating: 0, count: 8), er = eo
        let padded = edges + [0, 1]  // a full 8-lane vector
        finch_exp_f32(padded, &eo, 8)
        finch_exp_f32_ref(padded, &er, 8)
        for i in 0..<edges.count { #expect(abs(Double(eo[i]) - Double(er[i])) <= 4e-7 * Double(er[i]) + 3e-45, "exp(\(edges[i])): \(eo[i]) vs \(er[i])") }
        let special: [Float] = [-.infinity, -200, -104.5, 0, -0.0, .nan, .infinity]
        var out = [Float](repeating: 7, count: special.count)
        finch_exp_f32(special, &out, special.count)
        #expect(out[0] == 0 && out[1] == 0 && out[2] == 0)
        #expect(out[3] == 1 && out[4] == 1)
        #expect(out[5].isNaN)
        #expect(out[6] == .infinity)
    }

    @Test(arguments: levels) func rowKernelsMatchReferences(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        var rng = TestRNG(11)
        for n in [1, 15, 16, 17, 33, 1000] {
            let x = (0..<n).map { _ in Float(rng.uniform(-20, 20)) }
            #expect(finch_max_f32(x, n) == finch_max_f32_ref(x, n))
            let m = finch_max_f32(x, n)
            var e1 = [Float](repeating: 0, count: n), e2 = e1
            let s1 = finch_exp_shift_sum_f32(x, &e1, n, m), s2 = finch_exp_shift_sum_f32_ref(x, &e2, n, m)
            #expect(abs(s1 - s2) <= 1e-6 * s2)
            #expect(abs(finch_sum_exp_shift_f32(x, n, m) - s2) <= 1e-6 * s2)
            for i in 0..<n { #expect(abs(e1[i] - e2[i]) <= 2.4e-7 * e2[i]) }
            // SwiGLU forward and backward.
            let g = (0..<n).map { _ in Float(rng.uniform(-10, 10)) }, u = (0..<n).map { _ in Float(rng.uniform()) }
            let d = (0..<n).map { _ in Float(rng.uniform()) }
            var o1 = [Float](repeating: 0, count: n), o2 = o1
            finch_swiglu_f32(g, u, &o1, n)
            finch_swiglu_f32_ref(g, u, &o2, n)
            var dg1 = o1, du1 = o1, dg2 = o1, du2 = o1
            finch_swiglu_backward_f32(g, u, d, &dg1, &du1, n)
            finch_swiglu_backward_f32_ref(g, u, d, &dg2, &du2, n)
            for i in 0..<n {
                #expect(abs(o1[i] - o2[i]) <= 1e-6 * (abs(g[i] * u[i]) + 1e-30))
                #expect(abs(du1[i] - du2[i]) <= 1e-6 * (abs(g[i] * d[i]) + 1e-30))
                #expect(abs(dg1[i] - dg2[i]) <= 1e-6 * (abs(d[i] * u[i]) * (1 + abs(g[i]))) + 1e-30)
            }
        }
        #expect(finch_max_f32([], 0) == -.infinity)
    }
}
