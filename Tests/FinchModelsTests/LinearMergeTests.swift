import Testing
@testable import FinchModels
import FinchTensor

/// Merging an adapter into its base ("merge": weights; "fused": kernels) gives the weight whose
/// plain product is the layer with its LoRA branch.
@Suite struct LinearMergeTests {
    @Test func mergedWeightIsBasePlusScaledBA() throws {
        var rng = SplitMix64(seed: 3)
        let (inF, outF, r) = (6, 5, 2)
        let w = try Tensor((0..<outF * inF).map { _ in rng.nextFloat() - 0.5 }, shape: [outF, inF])
        let layer = Linear(weight: w)
        let lora = LoRA(inFeatures: inF, outFeatures: outF, rank: r, alpha: 8, rng: &rng)
        for i in 0..<lora.b.count { lora.b.data[i] = rng.nextFloat() - 0.5 }  // a trained B: not zero
        layer.lora = lora
        let x = try Tensor((0..<3 * inF).map { _ in rng.nextFloat() - 0.5 }, shape: [3, inF])
        let expected = try GradMode.noGrad { try layer(x) }.toArray()
        let merged = try layer.mergedWeight()
        let got = try GradMode.noGrad { try Ops.linear(x, merged) }.toArray()
        #expect(zip(expected, got).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(w.toArray(), merged.toArray()).contains { abs($0 - $1) > 1e-3 })  // the adapter changed it
    }
}
