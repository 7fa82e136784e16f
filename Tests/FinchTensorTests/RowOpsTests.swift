import CFinchKernels
import Foundation
import Testing
@testable import FinchTensor

/// The row kernels of the training step's pointwise ops (CFinchKernels/rowops.c) against their scalar
/// references, and the ops built on them against f64 references with gradients by finite differences,
/// at every ISA level this CPU runs (set for this thread: the test tensors are small enough that the
/// parallel loops run on it). Kernels: within 2e-6 of the reference relative to the row's scale (lane
/// sums round differently); ops: the tolerances of GradCheckTests (forward 1e-4, gradients 2e-3).
@Suite struct RowOpsTests {
    static var levels: [CPUISA] { CPUISA.runnable }

    /// Widths around the vector lengths (8, 16, 32 lanes) and the model's 576.
    static let widths = Array(1...40) + [63, 64, 65, 576, 577]

    func close(_ a: [Float], _ b: [Float], scale: Float, _ what: String, level: CPUISA) {
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 2e-6 * scale, "\(what) at \(level): max difference \(worst) (scale \(scale))")
    }

    @Test(arguments: levels) func rmsNormKernelsMatchTheReference(level: CPUISA) {
        var rng = TestRNG(5)
        CPUISA.with(level) {
            for c in Self.widths {
                let x = rng.array(c, -3, 3).map(Float.init), a = rng.array(c, -3, 3).map(Float.init)
                let w = rng.array(c).map(Float.init), dy = rng.array(c).map(Float.init)
                var o1 = [Float](repeating: 0, count: c), o2 = o1, s1 = o1, s2 = o1
                let r1 = finch_rmsnorm_f32(x, w, &o1, c, 1e-5), r2 = finch_rmsnorm_f32_ref(x, w, &o2, c, 1e-5)
                #expect(abs(r1 - r2) <= 2e-6 * r2, "rstd at \(level), \(c) columns")
                close(o1, o2, scale: 3 * r2, "rmsnorm \(c)", level: level)
                let q1 = finch_add_rmsnorm_f32(x, a, &s1, w, &o1, c, 1e-5), q2 = finch_add_rmsnorm_f32_ref(x, a, &s2, w, &o2, c, 1e-5)
                #expect(s1 == s2, "the residual sum is exact at \(level)")
                #expect(abs(q1 - q2) <= 2e-6 * q2)
                close(o1, o2, scale: 6 * q2, "add + rmsnorm \(c)", level: level)
                for accumulate: Int32 in [0, 1] {
                    let start = rng.array(c).map(Float.init)
                    var d1 = start, d2 = start
                    finch_rmsnorm_backward_f32(x, w, dy, r2, &d1, c, accumulate)
                    finch_rmsnorm_backward_f32_ref(x, w, dy, r2, &d2, c, accumulate)
                    close(d1, d2, scale: 1 + 6 * r2, "rmsnorm backward \(c) accumulate \(accumulate)", level: level)
                }
            }
        }
    }

    @Test(arguments: levels) func ropeKernelMatchesTheReference(level: CPUISA) {
        var rng = TestRNG(6)
        CPUISA.with(level) {
            for half in [1, 3, 8, 15, 16, 17, 32, 40] {
                let heads = 3, n = heads * 2 * half
                let x = rng.array(n, -2, 2).map(Float.init)
                let cosT = rng.array(half).map(Float.init), sinT = rng.array(half).map(Float.init)
                for sign: Float in [1, -1] {
                    var o1 = [Float](repeating: 0, count: n), o2 = o1
                    finch_rope_f32(x, cosT, sinT, &o1, heads, half, sign)
                    finch_rope_f32_ref(x, cosT, sinT, &o2, heads, half, sign)
                    close(o1, o2, scale: 4, "rope half \(half) sign \(sign)", level: level)
                    var inPlace = x  // out may be x (the backward rotates its gradient in place)
                    inPlace.withUnsafeMutableBufferPointer { finch_rope_f32($0.baseAddress, cosT, sinT, $0.baseAddress, heads, half, sign) }
                    #expect(inPlace == o1, "in place at \(level)")
                }
            }
        }
    }

    func expectClose(_ r: (fwd: Double, grads: [Double]), level: CPUISA, _ what: String) {
        #expect(r.fwd < 1e-4, "\(what) at \(level): forward error \(r.fwd)")
        for (i, g) in r.grads.enumerated() { #expect(g < 2e-3, "\(what) at \(level): gradient \(i) error \(g)") }
    }

    @Test(arguments: levels) func opsMatchF64References(level: CPUISA) throws {
        try CPUISA.with(level) {
            let (rows, cols) = (5, 37)
            expectClose(try gradCheck(shapes: [[rows, cols], [cols]], op: { try Ops.rmsNorm($0[0], weight: $0[1], eps: 1e-5) },
                                      ref: { Ref.rmsNorm($0[0], $0[1], cols: cols, eps: 1e-5) }), level: level, "rmsNorm")
            // Both outputs of the fused add + norm feed the result, so the sum's gradient takes the norm's
            // backward on top of the other branch's (the in-place accumulation).
            expectClose(try gradCheck(shapes: [[rows, cols], [rows, cols], [cols]], op: {
                let (sum, normed) = try Ops.addRMSNorm($0[0], $0[1], weight: $0[2], eps: 1e-5)
                return try Ops.add(try Ops.scale(sum, 0.5), normed)
            }, ref: { v in
                let sum = zip(v[0], v[1]).map(+)
                return zip(sum, Ref.rmsNorm(sum, v[2], cols: cols, eps: 1e-5)).map { 0.5 * $0 + $1 }
            }), level: level, "addRMSNorm")
            // The norm's gradient first (a fresh buffer), then the other branch adds onto it.
            expectClose(try gradCheck(shapes: [[rows, cols], [cols]], op: {
                try Ops.add(try Ops.rmsNorm($0[0], weight: $0[1], eps: 1e-5), try Ops.scale($0[0], 2))
            }, ref: { v in zip(Ref.rmsNorm(v[0], v[1], cols: cols, eps: 1e-5), v[0]).map { $0 + 2 * $1 } }), level: level, "rmsNorm + 2x")
            expectClose(try gradCheck(shapes: [[3, 37], [3, 37]], range: 4, op: { try Ops.swiglu(gate: $0[0], up: $0[1]) },
                                      ref: { zip($0[0], $0[1]).map { Ref.silu($0) * $1 } }), level: level, "swiglu")
            let (heads, d) = (3, 40)
            let table = RopeTable(headDim: d, maxPositions: 64, theta: 10_000)
            let positions: [Int32] = [0, 1, 5, 17, 63]
            let inv = (0..<(d / 2)).map { 1 / pow(10_000.0, Double(2 * $0) / Double(d)) }
            expectClose(try gradCheck(shapes: [[positions.count, heads * d]],
                                      op: { try Ops.rope($0[0], table: table, positions: positions, heads: heads) },
                                      ref: { Ref.rope($0[0], positions: positions.map(Int.init), heads: heads, headDim: d, invFreq: inv) }),
                        level: level, "rope")
        }
    }

    /// The fused op gives the unfused results: the same sum, and the norm within rounding.
    @Test func addRMSNormMatchesAddThenNorm() throws {
        var rng = TestRNG(9)
        let x = tensor(rng.array(6 * 576, -2, 2), [6, 576]), a = tensor(rng.array(6 * 576, -2, 2), [6, 576])
        let w = tensor(rng.array(576), [576])
        let (sum, normed) = try Ops.addRMSNorm(x, a, weight: w, eps: 1e-6)
        let sum2 = try Ops.add(x, a)
        let normed2 = try Ops.rmsNorm(sum2, weight: w, eps: 1e-6)
        #expect(sum.toArray() == sum2.toArray())
        #expect(maxRelError(normed.toArray().map(Double.init), normed2.toArray().map(Double.init)) < 1e-6)
        #expect(throws: TensorError.shapeMismatch(op: "addRMSNorm", lhs: [6, 576], rhs: [3])) {
            try Ops.addRMSNorm(x, a, weight: tensor([1, 2, 3], [3]), eps: 1e-6)
        }
    }

    static let adamw = finch_adamw_hyper(beta1: 0.9, beta2: 0.999, eps: 1e-8, step_size: 2e-4 / 0.271, bc2_sqrt: 0.0632, decay: 1 - 2e-6)

    /// AdamW's vector versions do the reference's operations lane by lane, so they must equal it bit for bit
    /// (tails included); the sum of squares sums in lanes (2e-6 relative to it; both within 2e-5 of an f64 sum, the rounding of f32 blocks of 4096).
    @Test(arguments: levels) func optimizerKernelsMatchTheReference(level: CPUISA) {
        var rng = TestRNG(7)
        var h = Self.adamw
        CPUISA.with(level) {
            for n in Self.widths + [4095, 4096, 4097, 9000] {
                let p = rng.array(n).map(Float.init), g = rng.array(n, -0.1, 0.1).map(Float.init)
                let m = rng.array(n, -0.01, 0.01).map(Float.init), v = rng.array(n, 0, 1e-4).map(Float.init)
                var (p1, m1, v1) = (p, m, v), (p2, m2, v2) = (p, m, v)
                finch_adamw_f32(&p1, g, &m1, &v1, n, &h)
                finch_adamw_f32_ref(&p2, g, &m2, &v2, n, &h)
                #expect(p1 == p2 && m1 == m2 && v1 == v2, "AdamW over \(n) at \(level)")
                #expect(p1 != p, "the step moved the parameter")
                let exact = p.reduce(0.0) { $0 + Double($1) * Double($1) }
                let s1 = finch_sum_squares_f32(p, n), s2 = finch_sum_squares_f32_ref(p, n)
                #expect(abs(s1 - s2) <= 2e-6 * s2 && abs(s1 - exact) <= 2e-5 * exact, "sum of squares over \(n) at \(level): \(s1), \(s2), \(exact)")
            }
        }
    }

    /// The backend's passes over many tensors (an adapter's) split the elements end to end across threads, a
    /// share spanning several tensors and a tensor several shares: every element once, as each tensor alone.
    @Test(arguments: levels) func multiTensorPassesCoverEveryElementOnce(level: CPUISA) throws {
        var rng = TestRNG(8)
        var h = Self.adamw
        try CPUISA.with(level) {
            let sizes = [3, 9216, 40_000, 1, 17, 20_000, 5000]  // 74 K elements: shares of 16 K and more
            var ps: [[Float]] = [], gs: [[Float]] = [], ms: [[Float]] = [], vs: [[Float]] = []
            for n in sizes {
                ps.append(rng.array(n).map(Float.init)); gs.append(rng.array(n, -0.1, 0.1).map(Float.init))
                ms.append(rng.array(n, -0.01, 0.01).map(Float.init)); vs.append(rng.array(n, 0, 1e-4).map(Float.init))
            }
            let work = try sizes.indices.map { i in
                AdamWTensors(param: try Tensor(ps[i], shape: [sizes[i]]), grad: try Tensor(gs[i], shape: [sizes[i]]),
                             m: try Tensor(ms[i], shape: [sizes[i]]), v: try Tensor(vs[i], shape: [sizes[i]]))
            }
            let step = AdamWStep(beta1: h.beta1, beta2: h.beta2, eps: h.eps, stepSize: h.step_size, bc2Sqrt: h.bc2_sqrt, decay: h.decay)
            Backends.cpu.adamwStep(work, step)
            var exact = 0.0
            for i in sizes.indices {
                exact += ps[i].reduce(0.0) { $0 + Double($1) * Double($1) }
                finch_adamw_f32_ref(&ps[i], gs[i], &ms[i], &vs[i], sizes[i], &h)
                #expect(work[i].param.toArray() == ps[i] && work[i].m.toArray() == ms[i] && work[i].v.toArray() == vs[i],
                        "tensor \(i) of \(sizes[i]) at \(level)")
            }
            let updated = ps.reduce(0.0) { $0 + $1.reduce(0.0) { $0 + Double($1) * Double($1) } }
            let sum = Backends.cpu.sumSquares(work.map(\.param))
            #expect(abs(sum - updated) <= 2e-5 * updated && abs(updated - exact) > 1e-9, "sum of squares \(sum) against \(updated)")
        }
    }
}
