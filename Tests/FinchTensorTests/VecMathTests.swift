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

    /// (heads, rows, keys, valid0) of the attention row kernels' tests: rows that see fewer keys than a vector,
    /// whole vectors, ragged tails, a fully visible row, and masked tails of one key up to most of the row.
    static let attentionRowShapes = [(3, 5, 40, 1), (2, 7, 37, 31), (1, 4, 16, 13), (3, 32, 96, 65), (2, 3, 9, 20)]

    /// Attention's backward sweep (P = exp(S − lse), dS = P ⊙ (dP − D), zero past each row's visible keys) at
    /// every level against its scalar reference and f64 math, on `attentionRowShapes`.
    @Test(arguments: levels) func attentionGradRowsMatchReference(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        var rng = TestRNG(23)
        for (heads, rows, keys, valid0) in Self.attentionRowShapes {
            let m = heads * rows, lseStride = rows + 2
            let s = (0..<(m * keys)).map { _ in Float(rng.uniform(-8, 2)) }
            let dp = (0..<(m * keys)).map { _ in Float(rng.uniform(-1, 1)) }
            let lse = (0..<(heads * lseStride)).map { _ in Float(rng.uniform(0, 3)) }
            let d = (0..<m).map { _ in Float(rng.uniform(-1, 1)) }
            var s1 = s, dp1 = dp, s2 = s, dp2 = dp
            finch_attention_grad_rows_f32(&s1, &dp1, heads, rows, keys, valid0, lse, lseStride, d)
            finch_attention_grad_rows_f32_ref(&s2, &dp2, heads, rows, keys, valid0, lse, lseStride, d)
            for h in 0..<heads {
                for i in 0..<rows {
                    let r = h * rows + i, valid = min(keys, valid0 + i)
                    for j in 0..<keys {
                        let x = r * keys + j
                        guard j < valid else {
                            #expect(s1[x] == 0 && dp1[x] == 0 && s2[x] == 0 && dp2[x] == 0, "level \(level): masked key \(j) of row \(r)")
                            continue
                        }
                        let shifted = Double(s[x]) - Double(lse[h * lseStride + i]), p = exp(shifted)
                        let ds = p * (Double(dp[x]) - Double(d[r]))
                        // exp's 4 ulp, plus the rounding of S − lse in f32 (half an ulp of |S − lse| ≤ 11).
                        let rel = 2.4e-7 + 6e-8 * abs(shifted)
                        #expect(abs(Double(s1[x]) - p) <= rel * p && abs(Double(s2[x]) - p) <= rel * p, "level \(level): P[\(r), \(j)]")
                        let tol = rel * abs(ds) + 2e-7 * p * (abs(Double(dp[x])) + abs(Double(d[r]))) + 1e-30
                        #expect(abs(Double(dp1[x]) - ds) <= tol && abs(Double(dp2[x]) - ds) <= tol, "level \(level): dS[\(r), \(j)]")
                    }
                }
            }
        }
    }

    /// Attention's forward softmax rows (exp(S − max) at the visible keys, 0 past them, 1 / Σ and max + log Σ) at
    /// every level against its scalar reference and f64 math, on `attentionRowShapes`.
    @Test(arguments: levels) func attentionSoftmaxRowsMatchReference(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        var rng = TestRNG(29)
        for (heads, rows, keys, valid0) in Self.attentionRowShapes {
            let m = heads * rows, lseStride = rows + 2
            let s = (0..<(m * keys)).map { _ in Float(rng.uniform(-6, 6)) }
            var s1 = s, s2 = s
            var inv1 = [Float](repeating: .nan, count: m), inv2 = inv1
            var lse1 = [Float](repeating: .nan, count: heads * lseStride), lse2 = lse1
            finch_attention_softmax_rows_f32(&s1, heads, rows, keys, valid0, &inv1, &lse1, lseStride)
            finch_attention_softmax_rows_f32_ref(&s2, heads, rows, keys, valid0, &inv2, &lse2, lseStride)
            for h in 0..<heads {
                for i in 0..<rows {
                    let r = h * rows + i, valid = min(keys, valid0 + i)
                    let row = (0..<valid).map { Double(s[r * keys + $0]) }
                    let mx = row.max()!, sum = row.reduce(0) { $0 + exp($1 - mx) }
                    for (name, out, inv, lse) in [("vector", s1, inv1, lse1), ("reference", s2, inv2, lse2)] {
                        for j in 0..<keys {
                            let x = out[r * keys + j]
                            if j >= valid { #expect(x == 0, "level \(level) \(name): masked key \(j) of row \(r)"); continue }
                            let shifted = Double(s[r * keys + j]) - mx, e = exp(shifted)
                            // exp's 4 ulp, plus the rounding of S − max in f32 (half an ulp of |S − max| ≤ 12).
                            #expect(abs(Double(x) - e) <= (2.4e-7 + 6e-8 * abs(shifted)) * e, "level \(level) \(name): e[\(r), \(j)]")
                        }
                        // Σ of up to 96 terms in f32 lanes: 1e-6 relative.
                        #expect(abs(Double(inv[r]) * sum - 1) <= 1e-6, "level \(level) \(name): 1 / Σ of row \(r)")
                        #expect(abs(Double(lse[h * lseStride + i]) - (mx + log(sum))) <= 1e-6 * (1 + abs(mx)), "level \(level) \(name): lse")
                    }
                }
            }
        }
    }

    /// The backward's rebuilt h is the forward's to the bit, and its dg, du are `finch_swiglu_backward_f32`'s, at
    /// every level (lengths with every tail).
    @Test(arguments: levels) func swigluBackwardRebuildsTheForwardProduct(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        var rng = TestRNG(41)
        for n in [1, 7, 8, 15, 16, 17, 40, 100] {
            let g = (0..<n).map { _ in Float(rng.uniform(-12, 12)) }, u = (0..<n).map { _ in Float(rng.uniform(-2, 2)) }
            let d = (0..<n).map { _ in Float(rng.uniform(-1, 1)) }
            var h = [Float](repeating: .nan, count: n), fwd = h, dg = h, du = h, dg2 = h, du2 = h
            finch_swiglu_f32(g, u, &fwd, n)
            finch_swiglu_backward_h_f32(g, u, d, &dg, &du, &h, n)
            finch_swiglu_backward_f32(g, u, d, &dg2, &du2, n)
            #expect(h.map(\.bitPattern) == fwd.map(\.bitPattern), "level \(level) n \(n): h")
            #expect(dg.map(\.bitPattern) == dg2.map(\.bitPattern) && du.map(\.bitPattern) == du2.map(\.bitPattern), "level \(level) n \(n)")
        }
    }

    /// finch_swiglu_lora_backward_f32 against the scalar backward and an f64 dA = dxaᵀ·h, at every level: rows past
    /// one pass (451 rows of 290 columns a pass), ranks under and over the narrow kernels' 48, rows longer than the
    /// scratch (a row at a time, in pieces), and no rows (dA zeroed).
    @Test(arguments: levels) func swigluLoRABackwardMatchesReference(level: Int32) {
        finch_isa_set_thread(level)
        defer { finch_isa_set_thread(-1) }
        var rng = TestRNG(43)
        let scratchFloats = Int(FINCH_SWIGLU_LORA_SCRATCH)
        for (rows, cols, r) in [(600, 290, 5), (37, 300, 50), (0, 40, 3), (3, scratchFloats + 1000, 2)] {
            let count = rows * cols
            let g = (0..<count).map { _ in Float(rng.uniform(-6, 6)) }, u = (0..<count).map { _ in Float(rng.uniform(-2, 2)) }
            let dh = (0..<count).map { _ in Float(rng.uniform(-1, 1)) }, dxa = (0..<(rows * r)).map { _ in Float(rng.uniform(-1, 1)) }
            var dg = [Float](repeating: .nan, count: count), du = dg, da = [Float](repeating: .nan, count: r * cols)
            var scratch = [Float](repeating: 0, count: scratchFloats)
            finch_swiglu_lora_backward_f32(g, u, dh, &dg, &du, rows, cols, dxa, r, &da, &scratch)
            var dgRef = [Float](repeating: 0, count: count), duRef = dgRef
            finch_swiglu_backward_f32_ref(g, u, dh, &dgRef, &duRef, count)
            // The vector exp against expf: a few ulp.
            func off(_ got: Float, _ want: Float) -> Bool { !(abs(got - want) <= 1e-6 * (1 + abs(want))) }
            let worst = (0..<count).filter { off(dg[$0], dgRef[$0]) || off(du[$0], duRef[$0]) }
            #expect(worst.isEmpty, "level \(level) \(rows) × \(cols): dg, du differ at \(worst.prefix(3))")
            for j in 0..<r {
                for c in 0..<cols {
                    var want = 0.0, size = 0.0
                    for i in 0..<rows {
                        let gi = Double(g[i * cols + c]), h = gi / (1 + exp(-gi)) * Double(u[i * cols + c])
                        want += Double(dxa[i * r + j]) * h
                        size += abs(Double(dxa[i * r + j]) * h)
                    }
                    // f32 sums of up to 600 terms: 1e-6 of the sum of magnitudes.
                    #expect(abs(Double(da[j * cols + c]) - want) <= 1e-6 * (1 + size), "level \(level) \(rows) × \(cols) r \(r): dA[\(j), \(c)]")
                }
            }
        }
    }
}
