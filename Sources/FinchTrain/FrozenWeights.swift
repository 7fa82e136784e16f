import Foundation
import FinchModels
import FinchTensor

/// While training, frozen quantized weights are read twice per micro-batch (forward and input
/// gradient). When their f32 form fits comfortably in memory (a quarter of RAM by default), they
/// are decoded once for the whole run and the stored form is put back afterwards; otherwise each
/// use decodes rows into scratch (the QLoRA-style path for models that do not fit as f32).
/// Within what is left of that budget, the f32 weights are also packed once for the CPU's products
/// (PackedWeights), which would otherwise repack them on every use.
///
/// Where both orientations of every projection fit the budget (SmolLM2-135M: 0.85 GB of 6 GB), the stored
/// projections are packed straight from their stored form instead (`packsStoredProjections`): each is decoded
/// into scratch while its two packed forms are made, and no f32 copy stays beside them, since every product that
/// reads it reads a packed form (0.4 GiB less at SmolLM2-135M; the numbers are the same, the packed forms are).
enum FrozenWeights {
    /// The budget `Trainer.run` decodes within: a quarter of RAM.
    static var defaultBudget: Int { Int(ProcessInfo.processInfo.physicalMemory / 4) }

    /// Whether the stored projections are packed in both orientations from their stored form, with no f32 copy
    /// kept: the CPU has the packed kernels, both orientations are packed (`packingLists`), some projection is
    /// stored, and every projection's two packed forms, with the head's f32 copy, fit `budgetBytes`.
    static func packsStoredProjections(_ model: Transformer, budgetBytes: Int = defaultBudget) -> Bool {
        guard model.device == .cpu, CPUBackend.usePackedGemm else { return false }
        let lists = packingLists(model), projections = model.namedProjections.map { $0.1.weight }
        guard projections.contains(where: { $0.dtype != .f32 }), lists.transposed.count == projections.count,
              lists.plain.count == projections.count else { return false }
        let headBytes = model.lmHead.dtype != .f32 ? model.lmHead.count * 4 : 0
        let packed = Backends.cpu.packedWeightBytes(transposed: projections, plain: projections, budgetBytes: .max)
        return packed > 0 && headBytes + packed <= budgetBytes
    }

    /// Bytes the f32 copies take while training (0 when nothing is decoded): the memory estimate counts them.
    static func decodedBytes(_ model: Transformer, budgetBytes: Int = defaultBudget) -> Int {
        guard model.device == .cpu else { return 0 }
        var f32Bytes = 0
        if !packsStoredProjections(model, budgetBytes: budgetBytes) {
            for (_, lin) in model.namedProjections where lin.weight.dtype != .f32 { f32Bytes += lin.weight.count * 4 }
        }
        if model.lmHead.dtype != .f32 { f32Bytes += model.lmHead.count * 4 }
        return f32Bytes <= budgetBytes ? f32Bytes : 0
    }

    /// The frozen weights packed for the products while training (CPUBackend.packFrozenWeights): every
    /// projection for its forward product (y = x·Wᵀ, also evaluation's) first, which gains the most (6–12 % a
    /// product on one Zen 5 core), then for its input gradient's (dx = dy·W; 2–5 % a product on one core, but
    /// 1.3 % of a whole SmolLM2-135M step with two threads, where each thread packed all of B per call: the
    /// input-gradient products' time fell 3–5 %, BENCHMARKS.md, session 10). Each orientation costs another f32
    /// copy of the projections, within the budget (a quarter of RAM with the decoded copies), so on a small
    /// machine or a large model the input gradient's orientation is the one left out. `FINCH_PACK_WEIGHTS=forward` packs only the
    /// forward orientation, `0` none (for comparisons). Not the head: a third of SmolLM2-135M's weights for
    /// 0.3 % of a step (its products are long enough to hide their packing).
    static func packingLists(_ model: Transformer) -> (transposed: [Tensor], plain: [Tensor]) {
        let mode = ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"]
        guard mode != "0" else { return ([], []) }
        let projections = model.namedProjections.map { $0.1.weight }
        return (projections, mode == "forward" ? [] : projections)
    }

    /// Bytes the packed weights take while training: within what the f32 copies leave of the budget, and only
    /// where every weight is (or is decoded to) f32.
    static func packedBytes(_ model: Transformer, budgetBytes: Int = defaultBudget) -> Int {
        guard model.device == .cpu else { return 0 }
        let decoded = decodedBytes(model, budgetBytes: budgetBytes)
        let lists = packingLists(model)
        if decoded == 0, !packsStoredProjections(model, budgetBytes: budgetBytes), lists.transposed.contains(where: { $0.dtype != .f32 }) { return 0 }
        return Backends.cpu.packedWeightBytes(transposed: lists.transposed, plain: lists.plain, budgetBytes: budgetBytes - decoded)
    }

    static func decodeForTraining(_ model: Transformer, budgetBytes: Int) -> () -> Void {
        // Accelerators keep their bf16/quantized weights: their GEMMs read those directly.
        guard model.device == .cpu else { return {} }
        var linears: [(Linear, Tensor)] = []
        var f32Bytes = 0
        // Stored projections packed from their stored form (below) need no f32 copy.
        let packsStored = packsStoredProjections(model, budgetBytes: budgetBytes)
        for (_, lin) in model.namedProjections where lin.weight.dtype != .f32 && !packsStored {
            linears.append((lin, lin.weight))
            f32Bytes += lin.weight.count * 4
        }
        let head = model.lmHead
        if head.dtype != .f32 { f32Bytes += head.count * 4 }
        var decoded = false
        if f32Bytes > 0, f32Bytes <= budgetBytes {
            for (lin, w) in linears { if let t = try? ModelLoader.convertTensor(w, to: .f32) { lin.weight = t } }
            if head.dtype != .f32, let t = try? ModelLoader.convertTensor(head, to: .f32) { model.lmHead = t }
            decoded = true
        }
        // Then pack within what is left: the f32 weights, and the stored projections from their stored form
        // where `packsStored` (an allocation failure leaves nothing registered and the error pending).
        let lists = packingLists(model)
        if f32Bytes == 0 || decoded {
            Backends.cpu.packFrozenWeights(transposed: lists.transposed, plain: lists.plain, budgetBytes: budgetBytes - f32Bytes)
        }
        return {
            Backends.cpu.releasePackedWeights(lists.transposed + lists.plain)
            guard decoded else { return }
            for (lin, w) in linears { lin.weight = w }
            model.lmHead = head
        }
    }
}
