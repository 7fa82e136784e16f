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
