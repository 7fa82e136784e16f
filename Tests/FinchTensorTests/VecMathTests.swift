import CFinchKernels
import Foundation
import Testing

/// The vectorised exp and the row kernels built on it, against f64 math and their scalar references.
/// exp: relative error ≤ 4 ulp (2.4e-7) over [-87, 88.5]; 0 below -104; inf, NaN and ±0 as expf.
@Suite struct VecMathTests {
    @Test func expMatchesDouble() {
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
        #expect(worst <= 2.4e-7, "max relative error \(worst)")
        let special: [Float] = [-.infinity, -200, -104.5, 0, -0.0, .nan, .infinity]
        var out = [Float](repeating: 7, count: special.count)
        finch_exp_f32(special, &out, special.count)
        #expect(out[0] == 0 && out[1] == 0 && out[2] == 0)
        #expect(out[3] == 1 && out[4] == 1)
        #expect(out[5].isNaN)
        #expect(out[6] == .infinity)
    }

    @Test func rowKernelsMatchReferences() {
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
