import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// A hand-edited or corrupt checkpoint passed to resume= is an error naming the file, never a trap,
/// and the model is left as it was.
@Suite(.serialized) struct CheckpointCraftedStateTests {
    func trainer(_ dir: String) throws -> Trainer {
        let (model, _) = try tinyModel()
        var lc = LoRAConfig(); lc.rank = 4
        try model.attachLoRA(lc)
        var cfg = TrainConfig()
        cfg.steps = 2; cfg.batchSize = 2
        cfg.checkpointDir = dir
        return try Trainer(model: model, train: countingRows(4, length: 6, seed: 3), config: cfg, padId: 0)
    }

    @Test func craftedOffsetsAndPositionsAreErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-crafted-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try trainer(dir)
        try t.saveCheckpoint(to: dir)
        let good = try Data(contentsOf: URL(fileURLWithPath: dir + "/state.json"))
        let state = try JSONSerialization.jsonObject(with: good) as! [String: Any]
        let tensors = state["tensors"] as! [String: [Int]]
        let someParam = tensors.keys.sorted().first { $0.hasPrefix("param.") }!
        let someOpt = tensors.keys.sorted().first { $0.hasPrefix("opt.") }
        var crafted: [(String, [String: Any])] = []
        func with(_ change: (inout [String: Any]) -> Void) -> [String: Any] { var s = state; change(&s); return s }
        // e[0] + e[1] overflows Int: the check must not
        crafted.append(("offset overflow", with { s in var t = tensors; t[someParam] = [Int.max, Int.max]; s["tensors"] = t }))
        crafted.append(("offset past end", with { s in var t = tensors; t[someParam] = [1, Int.max]; s["tensors"] = t }))
        crafted.append(("negative cursor", with { $0["cursor"] = -3 }))
        crafted.append(("negative epoch", with { $0["epoch"] = -1 }))
        crafted.append(("huge step", with { $0["step"] = Int.max }))
        if let someOpt {
            crafted.append(("optimizer slot out of range", with { s in var t = tensors; t["opt.m.99"] = t[someOpt]; s["tensors"] = t }))
            crafted.append(("optimizer slot missing", with { s in var t = tensors; t[someOpt] = nil; s["tensors"] = t }))
        }
        for (what, s) in crafted {
            try JSONSerialization.data(withJSONObject: s).write(to: URL(fileURLWithPath: dir + "/state.json"))
            let fresh = try trainer(dir + "-unused")
            let before = fresh.model.trainableParameters.flatMap { $0.tensor.toArray() }
            #expect(throws: TrainError.self, "\(what)") { try fresh.resume(from: dir) }
            #expect(fresh.model.trainableParameters.flatMap { $0.tensor.toArray() } == before, "\(what): the model changed")
        }
        // a field of the wrong type is named (state.json is read with the one JSON parser, field by field)
        try JSONSerialization.data(withJSONObject: with { $0["cursor"] = 2.5 }).write(to: URL(fileURLWithPath: dir + "/state.json"))
        #expect { try trainer(dir + "-unused").resume(from: dir) } throws: { "\($0)".contains("'cursor' must be a whole number") }
        try JSONSerialization.data(withJSONObject: with { $0["tensors"] = ["param.x": "0,1"] }).write(to: URL(fileURLWithPath: dir + "/state.json"))
        #expect { try trainer(dir + "-unused").resume(from: dir) } throws: { "\($0)".contains("'tensors.param.x' must be [offset, count]") }
        // the untouched state still resumes
        try good.write(to: URL(fileURLWithPath: dir + "/state.json"))
        try trainer(dir + "-unused").resume(from: dir)
    }

    /// Optimizer state under names this optimizer does not use passes the layout check (every slot is
    /// complete) but not the optimizer: the resume fails before the adapter is overwritten.
    @Test func optimizerStateOfAnotherNameLeavesTheModelAsItWas() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-crafted-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trained = try trainer(dir)
        _ = try trained.run()  // two AdamW steps: the checkpoint's adapter differs from a fresh one
        try trained.saveCheckpoint(to: dir)
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/state.json"))) as! [String: Any]
        let tensors = state["tensors"] as! [String: [Int]]
        #expect(tensors.keys.contains { $0.hasPrefix("opt.m.") })
        state["tensors"] = Dictionary(uniqueKeysWithValues: tensors.map { ($0.key.replacingOccurrences(of: "opt.m.", with: "opt.w."), $0.value) })
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: dir + "/state.json"))
        let fresh = try trainer(dir + "-unused")
        func adapter(_ t: Trainer) -> [Float] { t.model.trainableParameters.flatMap { $0.tensor.toArray() } }
        let before = adapter(fresh)
        let differs = before != adapter(trained), keptAsItWas: Bool
        #expect(differs)
        #expect(throws: TrainError.self) { try fresh.resume(from: dir) }
        keptAsItWas = adapter(fresh) == before
        #expect(keptAsItWas, "the adapter was overwritten")
        #expect(fresh.optimizer.stepCount == 0 && fresh.optimizer.state().isEmpty)
        #expect(fresh.step == 0)
    }
}
