import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

/// The one-call decoder with LoRA adapters on SmolLM2-135M (a model of its own: the shared one stays without).
@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"), .serialized)
struct RealModelLoRADecodeTests {
    /// Teacher-forced logprobs of the fixture texts with rank-16 adapters on all seven projections (B random, as
    /// after training): the decoder against the Tensor ops' prefill path with the same adapters.
    @Test func decoderWithAdaptersMatchesTheOps() throws {
        let model = try ModelLoader.load("smollm2")
        let texts = (RealModelSmolLM2Tests.reference["logprobs"] as! [Any]).compactMap { ($0 as? [String: Any])?["ids"] as? [Int] }
        let base = try texts.map { try model.network.logprobs(ids: $0.map(Int32.init)) }
        try FastDecodeTests.attachAdapters(model.network, rank: 16, alpha: 32, seed: 7)
        FastDecodeTests.randomizeB(model.network, seed: 8, scale: 0.02)
        var moved: Float = 0
        var worst: [DecodeMode: Float] = [:]
        for (text, baseline) in zip(texts, base) {
            let ids = text.map(Int32.init)
            let ops = try model.network.logprobs(ids: ids)
            moved = max(moved, zip(ops, baseline).map { abs($0 - $1) }.max() ?? 0)
            for mode in [DecodeMode.exact, .int16] {
                let got = try RealModelSmolLM2Tests.decoderLogprobs(model.network, ids, mode: mode)
                worst[mode] = max(worst[mode] ?? 0, zip(got, ops).map { abs($0 - $1) }.max() ?? 0)
            }
        }
        print("decoder with LoRA r=16 max |Δ logprob| vs ops: exact \(worst[.exact]!), int16 \(worst[.int16]!); the adapters move logprobs by up to \(moved) [isa \(CPUISA.active)]")
        #expect(moved > 0.1, "the adapters change too little for the check to mean anything")
        #expect(worst[.exact]! < 1e-3)
        #expect(worst[.int16]! < 2e-2)
    }
}
