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
        // Where both orientations are packed, the stored projections are packed from their stored form and keep
        // no f32 copy (FrozenWeights.packsStoredProjections); otherwise each is decoded to f32 for the run.
        let mode = ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"]
        let packsStored = FrozenWeights.packsStoredProjections(model)
        #expect(packsStored == (CPUBackend.usePackedGemm && mode == nil))
        #expect(est.decodedWeights == (packsStored ? 0 : quantizedBytes) + (model.lmHead.dtype == .f32 ? 0 : model.lmHead.count * 4))
        #expect(packsStored || est.decodedWeights > 0)
        // Packed copies of the projections for their forward products and their input gradients'
        // (FrozenWeights.packingLists; only the first with FINCH_PACK_WEIGHTS=forward, none with 0).
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
        #expect(line.contains("frozen weights decoded to f32 ") == (est.decodedWeights > 0))
        #expect(line.contains("expect a peak resident of about \(formatBytes(now + added))"))
        // the f32 tiny model decodes nothing
        let (plain, _) = try tinyModel()
        #expect(MemoryEstimate(model: plain, batch: 2, seqLen: 8, checkpointing: false).decodedWeights == 0)
        let result = TrainResult()
        result.peakResidentBytes = 752 << 20
        #expect(result.description.contains("peak resident 752"))
    }

    /// Where down_proj's adapter trains through the MLP tail node (no dropout, on the CPU), the estimate leaves out
    /// the SwiGLU product the node does not keep: N × F floats a layer fewer than with dropout or no adapter there.
    @Test func theEstimateLeavesOutTheSwiGLUProductTheMLPTailDoesNotKeep() throws {
        let (fused, _) = try tinyModel(), (dropped, _) = try tinyModel(), (bare, _) = try tinyModel()
        try fused.attachLoRA(LoRAConfig())
        var withDropout = LoRAConfig()
        withDropout.dropout = 0.1
        try dropped.attachLoRA(withDropout)
        let dropsProduct = { (m: Transformer) in m.layers.map { $0.downProj.trainsWithoutSwiGLUProduct } }
        #expect(dropsProduct(fused).allSatisfy { $0 })
        #expect(!dropsProduct(dropped).contains(true) && !dropsProduct(bare).contains(true))
        let (batch, seqLen) = (2, 8), c = fused.config
        let product = batch * seqLen * c.intermediateSize * 4 * c.numHiddenLayers
        let estimate = { (m: Transformer) in MemoryEstimate(model: m, batch: batch, seqLen: seqLen, checkpointing: false).activations }
        #expect(estimate(dropped) - estimate(fused) == product)
        #expect(estimate(bare) == estimate(dropped))
    }

    /// Stored projections packed from their stored form train as their f32 decoding does: during the run each
    /// stays stored with both packed forms registered, afterwards neither is, and the losses and the adapter of 4
    /// steps match those of the same model converted to f32 beforehand (packed from its f32 copies), to 1e-5 relative.
    @Test func storedProjectionsTrainFromTheirPackedForms() throws {
        guard CPUBackend.usePackedGemm, ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"] == nil else { return }
        let (stored, _) = try tinyModel(), (converted, _) = try tinyModel()
        for ((_, s), (_, c)) in zip(stored.namedProjections, converted.namedProjections) {
            s.weight = try ModelLoader.convertTensor(s.weight, to: .f16)
            c.weight = try ModelLoader.convertTensor(s.weight, to: .f32)
        }
        #expect(FrozenWeights.packsStoredProjections(stored))
        #expect(!FrozenWeights.packsStoredProjections(converted))
        func registered(_ w: Tensor) -> (Bool, Bool) {
            let rows = w.shape[0], cols = w.shape[1]
            let fwd = GemmParams(m: 32, n: rows, k: cols, transA: false, transB: true, lda: cols, ldb: cols, ldc: rows)
            let bwd = GemmParams(m: 32, n: cols, k: rows, transA: false, transB: false, lda: rows, ldb: cols, ldc: cols)
            return (Backends.cpu.packedWeights.lookup(fwd, b: w) != nil, Backends.cpu.packedWeights.lookup(bwd, b: w) != nil)
        }
        var results: [(losses: [Float], adapter: [Float])] = []
        for model in [stored, converted] {
            try model.attachLoRA(LoRAConfig())
            var cfg = TrainConfig(); cfg.steps = 4; cfg.batchSize = 2
            let t = try Trainer(model: model, train: countingRows(8, length: 6, seed: 1), config: cfg, padId: 0)
            var during: [(Bool, Bool)] = [], dtypes: [DType] = []
            let r = try t.run(onStep: { s in
                guard s.step == 1 else { return }
                during = model.namedProjections.map { registered($0.1.weight) }
                dtypes = model.namedProjections.map { $0.1.weight.dtype }
            })
            #expect(during.allSatisfy { $0.0 && $0.1 })
            #expect(dtypes.allSatisfy { $0 == (model === stored ? .f16 : .f32) })
            #expect(model.namedProjections.allSatisfy { registered($0.1.weight) == (false, false) })
            results.append((r.steps.map { Float($0.loss) }, model.trainableParameters.flatMap { $0.tensor.toArray() }))
        }
        #expect(stored.namedProjections.allSatisfy { $0.1.weight.dtype == .f16 })
        for (got, want) in [(results[0].losses, results[1].losses), (results[0].adapter, results[1].adapter)] {
            #expect(got.count == want.count && !got.isEmpty)
            let scale = want.map { abs($0) }.max()!, err = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(err <= 1e-5 * scale, "max |Δ| \(err) of \(scale)")
        }
    }
}
