import Foundation
import FinchModels
import FinchTensor

/// While training, frozen quantized weights are read twice per micro-batch (forward and input
/// gradient). When their f32 form fits comfortably in memory (a quarter of RAM by default), they
/// are decoded once for the whole run and the stored form is put back afterwards; otherwise each
/// use decodes rows into scratch (the QLoRA-style path for models that do not fit as f32).
enum FrozenWeights {
    /// The budget `Trainer.run` decodes within: a quarter of RAM.
    static var defaultBudget: Int { Int(ProcessInfo.processInfo.physicalMemory / 4) }

    /// Bytes the f32 copies take while training (0 when nothing is decoded): the memory estimate counts them.
    static func decodedBytes(_ model: Transformer, budgetBytes: Int = defaultBudget) -> Int {
        guard model.device == .cpu else { return 0 }
        var f32Bytes = 0
        for (_, lin) in model.namedProjections where lin.weight.dtype != .f32 { f32Bytes += lin.weight.count * 4 }
        if model.lmHead.dtype != .f32 { f32Bytes += model.lmHead.count * 4 }
        return f32Bytes <= budgetBytes ? f32Bytes : 0
    }

    static func decodeForTraining(_ model: Transformer, budgetBytes: Int) -> () -> Void {
        // Accelerators keep their bf16/quantized weights: their GEMMs read those directly.
        guard model.device == .cpu else { return {} }
        var linears: [(Linear, Tensor)] = []
        var f32Bytes = 0
        for (_, lin) in model.namedProjections where lin.weight.dtype != .f32 {
            linears.append((lin, lin.weight))
            f32Bytes += lin.weight.count * 4
        }
        let head = model.lmHead
        if head.dtype != .f32 { f32Bytes += head.count * 4 }
        guard f32Bytes > 0, f32Bytes <= budgetBytes else { return {} }
        for (lin, w) in linears { if let t = try? ModelLoader.convertTensor(w, to: .f32) { lin.weight = t } }
        if head.dtype != .f32, let t = try? ModelLoader.convertTensor(head, to: .f32) { model.lmHead = t }
        return {
            for (lin, w) in linears { lin.weight = w }
            model.lmHead = head
        }
    }
}
