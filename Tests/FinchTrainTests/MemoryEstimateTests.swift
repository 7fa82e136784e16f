import Foundation
import FinchSupport
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// #17: the estimate printed before training and the peak reported after it measure the same thing, the
/// process's peak resident memory; the f32 copies of quantized frozen weights (decoded for the run) count.
@Suite struct MemoryEstimateTests {
    @Test func theEstimateCountsDecodedWeightsAndPredictsThePeakTheResultReports() throws {
        let (model, _) = try tinyModel()
        var quantizedBytes = 0
        for (_, lin) in model.namedProjections {
            lin.weight = try ModelLoader.convertTensor(lin.weight, to: .f16)   // any non-f32 form is decoded (q8_0 needs wider rows than the fixture has)
            quantizedBytes += lin.weight.count * 4
        }
        try model.attachLoRA(LoRAConfig())
        let est = MemoryEstimate(model: model, batch: 2, seqLen: 8, checkpointing: false)
        #expect(est.decodedWeights == quantizedBytes + (model.lmHead.dtype == .f32 ? 0 : model.lmHead.count * 4))
        #expect(est.decodedWeights > 0)
        // Packed copies of the decoded projections for their forward products and their input gradients'
        // (FrozenWeights.packingLists; only the first with FINCH_PACK_WEIGHTS=forward, none with 0).
        let mode = ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"]
        let projections = model.namedProjections.map { $0.1.weight }
        let packed = mode == "0" ? 0 : projections.reduce(0) { $0 + PackedWeights.bytes(rows: $1.shape[0], cols: $1.shape[1], transposed: true)
            + (mode == "forward" ? 0 : PackedWeights.bytes(rows: $1.shape[0], cols: $1.shape[1], transposed: false)) }
        #expect(est.packedWeights == packed)
        if CPUBackend.usePackedGemm && mode != "0" { #expect(packed >= quantizedBytes) }
        #expect(est.total == est.weights + est.decodedWeights + est.packedWeights + est.adapters + est.activations)
        let now = 300 << 20
        let added = est.decodedWeights + est.packedWeights + est.adapters + est.activations
        #expect(est.expectedPeakResident(residentNow: now, peakSoFar: 0) == now + added)
        #expect(est.expectedPeakResident(residentNow: now, peakSoFar: 2 << 30) == 2 << 30)   // an earlier, higher peak stays
        let line = est.report(residentNow: now, peakSoFar: 0)
        #expect(line.contains("frozen weights decoded to f32 "))
        #expect(line.contains("expect a peak resident of about \(formatBytes(now + added))"))
        // the f32 tiny model decodes nothing
        let (plain, _) = try tinyModel()
        #expect(MemoryEstimate(model: plain, batch: 2, seqLen: 8, checkpointing: false).decodedWeights == 0)
        let result = TrainResult()
        result.peakResidentBytes = 752 << 20
        #expect(result.description.contains("peak resident 752"))
    }
}
