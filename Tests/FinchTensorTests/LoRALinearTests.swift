import Testing
@testable import FinchTensor

@Suite struct LoRALinearTests {
    /// The fused node gives the output and gradients of the composed ops (linear, linear, linear, addScaled).
    @Test func fusedLoRALinearMatchesTheComposition() throws {
        var seed: UInt64 = 5
        func rand(_ n: Int, _ scale: Float = 1) -> [Float] {
            (0..<n).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return (Float(seed >> 40) / Float(1 << 24) * 2 - 1) * scale
            }
        }
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
}
