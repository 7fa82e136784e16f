import Testing
@testable import FinchTensor

/// Reproducible values in [-scale, scale) for the tests below.
private struct LCG {
    var seed: UInt64
    mutating func values(_ n: Int, _ scale: Float) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return (Float(seed >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }
}

@Suite struct LoRALinearTests {
    /// The fused node gives the output and gradients of the composed ops (linear, linear, linear, addScaled).
    @Test func fusedLoRALinearMatchesTheComposition() throws {
        var lcg = LCG(seed: 5)
        func rand(_ n: Int, _ scale: Float = 1) -> [Float] { lcg.values(n, scale) }
        let (n, inF, outF, r) = (13, 24, 20, 4)
        let xv = rand(n * inF), wv = rand(outF * inF, 0.3), bv = rand(outF), av = rand(r * inF, 0.3), bbv = rand(outF * r, 0.3), dyv = rand(n * outF)
        func run(fused: Bool) throws -> [[Float]] {
            let x = try Tensor(xv, shape: [n, inF]); x.requiresGrad = true
            let w = try Tensor(wv, shape: [outF, inF])
            let bias = try Tensor(bv, shape: [outF])
            let a = try Tensor(av, shape: [r, inF]); a.requiresGrad = true
            let b = try Tensor(bbv, shape: [outF, r]); b.requiresGrad = true
            let y = fused ? try Ops.loraLinear(x, weight: w, bias: bias, a: a, b: b, scale: 2.5)
                : try Ops.addScaled(try Ops.linear(x, w, bias: bias), try Ops.linear(try Ops.linear(x, a), b), 2.5)
            try y.backward(seed: try Tensor(dyv, shape: [n, outF]))
            return [y.toArray(), x.grad!.toArray(), a.grad!.toArray(), b.grad!.toArray()]
        }
        let f = try run(fused: true), c = try run(fused: false)
        for (got, want) in zip(f, c) {
            let err = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(err < 1e-5, "max |Δ| \(err)")
        }
    }

    /// At sizes where the CPU runs base and branch as one packed product (`Backend.gemm(_:…plus:…)`: the forward's y
    /// and the backward's dx), both LoRA forms give the output and gradients of the composed ops at every ISA level,
    /// over an f32 W and over a bf16 one holding the same values (a stored W: the products in turn). Tolerance: 2e-5
    /// absolute on values of order 1 (f32 sums of ~100 terms in another order).
    @Test(arguments: CPUISA.runnable)
    func packedPairMatchesTheComposition(level: CPUISA) throws {
        var lcg = LCG(seed: 21)
        func rand(_ n: Int, _ scale: Float = 1) -> [Float] { lcg.values(n, scale) }
        let (n, inF, r) = (40, 72, 8), outs = [80, 56]
        let xv = rand(n * inF), bv = rand(outs[0])
        // W's values exactly representable in bf16, so that the stored W and the f32 one are the same matrix.
        let wbits = outs.map { rand($0 * inF, 0.3).map { UInt16($0.bitPattern >> 16) } }
        let wv = wbits.map { $0.map { Float(bitPattern: UInt32($0) << 16) } }
        let av = outs.map { _ in rand(r * inF, 0.3) }, bbv = outs.map { rand($0 * r, 0.3) }, dyv = outs.map { rand(n * $0) }
        func weight(_ i: Int, stored: Bool) throws -> Tensor {
            guard stored else { return try Tensor(wv[i], shape: [outs[i], inF]) }
            let t = Tensor(shape: [outs[i], inF], storage: Backends.cpu.allocate(bytes: 2 * wbits[i].count, dtype: .bf16))
            wbits[i].withUnsafeBytes { Backends.cpu.upload($0.baseAddress!, byteCount: $0.count, into: t) }
            #expect(t.dtype == .bf16)
            return t
        }
        // form: 0 the plain node, 1 the shared-xa node (both projections from one x·[A_1; A_2]ᵀ), 2 the composed ops.
        func run(form: Int, stored: Bool) throws -> [[Float]] {
            let x = try Tensor(xv, shape: [n, inF]); x.requiresGrad = true
            let bias = try Tensor(bv, shape: [outs[0]]); bias.requiresGrad = true
            let a = try outs.indices.map { i in let t = try Tensor(av[i], shape: [r, inF]); t.requiresGrad = true; return t }
            let b = try outs.indices.map { i in let t = try Tensor(bbv[i], shape: [outs[i], r]); t.requiresGrad = true; return t }
            let xa = form == 1 ? try Ops.linear(x, try Ops.concatRows(a)) : nil
            var total: Tensor?
            var ys: [Tensor] = []
            for i in outs.indices {
                let w = try weight(i, stored: stored), bi = i == 0 ? bias : nil
                let y: Tensor
                switch form {
                case 0: y = try Ops.loraLinear(x, weight: w, bias: bi, a: a[i], b: b[i], scale: 1.75)
                case 1: y = try Ops.loraLinear(x, weight: w, bias: bi, sharedXA: xa!, column: i * r, b: b[i], scale: 1.75)
                default: y = try Ops.addScaled(try Ops.linear(x, w, bias: bi), try Ops.linear(try Ops.linear(x, a[i]), b[i]), 1.75)
                }
                ys.append(y)
                let loss = try Ops.sum(try Ops.mul(y, try Tensor(dyv[i], shape: [n, outs[i]])))
                total = try total.map { try Ops.add($0, loss) } ?? loss
            }
            try total!.backward()
            return ys.map { $0.toArray() } + [x.grad!.toArray(), bias.grad!.toArray()] + a.map { $0.grad!.toArray() } + b.map { $0.grad!.toArray() }
        }
        // The packed kernels are chosen once per process, on the first thread that asks: not this one at scalar.
        #expect(CPUBackend.usePackedGemm == (CPUISA.supported != .scalar))
        try CPUISA.with(level) {
            let want = try run(form: 2, stored: false)
            for form in [0, 1] {
                for stored in [false, true] {
                    for (t, (got, ref)) in zip(try run(form: form, stored: stored), want).enumerated() {
                        let err = zip(got, ref).map { abs($0 - $1) }.max()!
                        #expect(err < 2e-5, "\(level) form \(form) stored \(stored) tensor \(t): max |Δ| \(err)")
                    }
                }
            }
        }
    }

    /// The MLP tail as one node that rebuilds silu(gate) ⊙ up in its backward gives the output and gradients of
    /// `loraLinear(swiglu(gate, up))` at every ISA level: 500 rows of 600 columns (each thread's share of the rows
    /// over more than one pass of the kernel's 218 rows, and the threads' partial dA added), rank 5, with a bias.
    /// Tolerance: 2e-5 of the largest value of each tensor (f32 sums of up to 500 terms in another order).
    @Test(arguments: CPUISA.runnable)
    func swigluLoRALinearMatchesTheComposition(level: CPUISA) throws {
        var lcg = LCG(seed: 33)
        func rand(_ n: Int, _ scale: Float = 1) -> [Float] { lcg.values(n, scale) }
        let (n, f, outF, r) = (500, 600, 40, 5)
        let gv = rand(n * f, 3), uv = rand(n * f), wv = rand(outF * f, 0.1), bv = rand(outF)
        let av = rand(r * f, 0.1), bbv = rand(outF * r, 0.3), dyv = rand(n * outF)
        func run(fused: Bool) throws -> [[Float]] {
            let gate = try Tensor(gv, shape: [n, f]); gate.requiresGrad = true
            let up = try Tensor(uv, shape: [n, f]); up.requiresGrad = true
            let w = try Tensor(wv, shape: [outF, f])
            let bias = try Tensor(bv, shape: [outF]); bias.requiresGrad = true
            let a = try Tensor(av, shape: [r, f]); a.requiresGrad = true
            let b = try Tensor(bbv, shape: [outF, r]); b.requiresGrad = true
            let y = fused ? try Ops.swigluLoRALinear(gate: gate, up: up, weight: w, bias: bias, a: a, b: b, scale: 1.5)
                : try Ops.loraLinear(try Ops.swiglu(gate: gate, up: up), weight: w, bias: bias, a: a, b: b, scale: 1.5)
            try y.backward(seed: try Tensor(dyv, shape: [n, outF]))
            return [y, gate.grad!, up.grad!, a.grad!, b.grad!, bias.grad!].map { $0.toArray() }
        }
        try CPUISA.with(level) {
            let want = try run(fused: false)
            for (t, (got, ref)) in zip(try run(fused: true), want).enumerated() {
                let err = zip(got, ref).map { abs($0 - $1) }.max()!, size = ref.map { abs($0) }.max()!
                #expect(err <= 2e-5 * max(1, size), "\(level) tensor \(t): max |Δ| \(err) of \(size)")
            }
        }
    }

    /// An input read by several products (as x is by q, k and v) gets the sum of their gradients,
    /// whether each adds into the gradient through its GEMM's β or comes alone.
    @Test func gradientsOfSharedInputsAccumulateThroughTheProducts() throws {
        var lcg = LCG(seed: 9)
        func rand(_ n: Int, _ scale: Float = 1) -> [Float] { lcg.values(n, scale) }
        let (n, inF, r) = (9, 16, 3)
        let xv = rand(n * inF), outs = [12, 7, 5]
        let ws = outs.map { rand($0 * inF, 0.3) }, av = outs.map { _ in rand(r * inF, 0.3) }
        let bvs = outs.map { rand($0 * r, 0.3) }, dys = outs.map { rand(n * $0) }
        // Each projection alone: x's gradient from that one product.
        var expected = [Float](repeating: 0, count: n * inF)
        for i in outs.indices {
            let x = try Tensor(xv, shape: [n, inF]); x.requiresGrad = true
            let y = try Ops.loraLinear(x, weight: try Tensor(ws[i], shape: [outs[i], inF]), bias: nil,
                                       a: try Tensor(av[i], shape: [r, inF]), b: try Tensor(bvs[i], shape: [outs[i], r]), scale: 1.5)
            try y.backward(seed: try Tensor(dys[i], shape: [n, outs[i]]))
            for (j, g) in x.grad!.toArray().enumerated() { expected[j] += g }
        }
        // All three from one input, one backward through their sum of losses: the second and third
        // products add into the first's buffer (β = 1).
        let x = try Tensor(xv, shape: [n, inF]); x.requiresGrad = true
        var total: Tensor?
        for i in outs.indices {
            let y = try Ops.loraLinear(x, weight: try Tensor(ws[i], shape: [outs[i], inF]), bias: nil,
                                       a: try Tensor(av[i], shape: [r, inF]), b: try Tensor(bvs[i], shape: [outs[i], r]), scale: 1.5)
            let loss = try Ops.sum(try Ops.mul(y, try Tensor(dys[i], shape: [n, outs[i]])))
            total = try total.map { try Ops.add($0, loss) } ?? loss
        }
        try total!.backward()
        let err = zip(x.grad!.toArray(), expected).map { abs($0 - $1) }.max()!
        #expect(err < 1e-5, "max |Δ| \(err)")
    }
}
