import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// The fixtures FinchModelsTests ships (scripts/reference/tiny_models.py), read in place.
let tinyFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../FinchModelsTests/Fixtures/tiny").standardized

/// The tiny Llama-3-style fixture rebuilt as a model.
func tinyModel() throws -> (Transformer, [String: Any]) {
    let url = tinyFixtures.appendingPathComponent("tiny-llama3.json")
    let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    let config = try ModelConfig.fromHuggingFace(try JSONSerialization.data(withJSONObject: doc["config"]!), file: "tiny")
    var tensors: [String: Tensor] = [:]
    for (k, v) in doc["weights"] as! [String: Any] {
        let w = v as! [String: Any]
        tensors[k] = try Tensor(floats(w["data"]), shape: w["shape"] as! [Int])
    }
    return (try Transformer(config: config, weights: WeightSet(tensors, source: "tiny"), source: "tiny"), doc)
}

func floats(_ a: Any?) -> [Float] { (a as! [Any]).map { Float(($0 as! NSNumber).doubleValue) } }

/// A toy corpus with a learnable pattern: each row counts up from a random start.
func countingRows(_ n: Int, length: Int, seed: UInt64) -> [TrainExample] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in
        let start = Int(rng.next() % 40)
        return TrainExample(ids: (0..<length).map { Int32(3 + (start + $0) % 90) })
    }
}

@Suite(.serialized) struct TrainerTests {
    @Test func sgdStepWithLrOneMovesByMinusTheGradient() throws {
        let (model, _) = try tinyModel()
        let url = tinyFixtures.appendingPathComponent("tiny-llama3-lora.json")
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let lora = doc["lora"] as! [String: Any]
        for (path, linear) in model.namedProjections {
            let a = lora["base_model.model.\(path).lora_A.default.weight"] as! [String: Any]
            let b = lora["base_model.model.\(path).lora_B.default.weight"] as! [String: Any]
            linear.lora = LoRA(a: try Tensor(floats(a["data"]), shape: a["shape"] as! [Int]),
                               b: try Tensor(floats(b["data"]), shape: b["shape"] as! [Int]), alpha: 8)
        }
        let ids = (doc["input_ids"] as! [[Int]]).map { $0.map(Int32.init) }
        let labels = (doc["labels"] as! [[Int]]).map { $0.map(Int32.init) }
        var cfg = TrainConfig()
        cfg.steps = 1; cfg.batchSize = 2; cfg.optimizer = .sgd; cfg.lr = 1; cfg.maxGradNorm = nil; cfg.weightDecay = 0
        let rows = zip(ids, labels).map { TrainExample(ids: $0, labels: $1) }
        let trainer = try Trainer(model: model, train: rows, config: cfg, padId: 0)
        let before = model.trainableParameters.map { $0.tensor.toArray() }
        _ = try trainer.run()
        let count = Float(doc["count"] as! Int)
        var worst: Float = 0
        for ((path, linear), _) in zip(model.namedProjections, 0...) {
            for (suffix, t) in [("lora_A", linear.lora!.a), ("lora_B", linear.lora!.b)] {
                let e = lora["base_model.model.\(path).\(suffix).default.weight"] as! [String: Any]
                let expected = zip(floats(e["data"]), floats(e["grad"])).map { $0 - $1 / count }
                let got = t.toArray()
                worst = max(worst, zip(got, expected).map { abs($0 - $1) }.max()!)
            }
        }
        #expect(worst < 2e-5, "max deviation from p − grad/count: \(worst)")
        #expect(before.count == 28)
    }

    /// PyTorch's own AdamW and SGD (scripts/reference/optimizer_fixture.py): the parameters after each
    /// of six steps with per-step learning rates, zero gradients in places, and both signs of weight
    /// decay and momentum settings. f32 on both sides; the difference is rounding order (< 2e-6 relative).
    @Test(arguments: ["adamw", "adamw_no_decay", "sgd", "sgd_momentum_decay"])
    func optimizersMatchPyTorch(name: String) throws {
        let url = tinyFixtures.deletingLastPathComponent().appendingPathComponent("optimizers_torch.json")
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let c = doc[name] as! [String: Any]
        func num(_ k: String) -> Float { Float((c[k] as! NSNumber).doubleValue) }
        let opt: Optimizer = name.hasPrefix("adamw")
            ? AdamW(beta1: num("beta1"), beta2: num("beta2"), eps: num("eps"), weightDecay: num("weight_decay"))
            : SGD(momentum: num("momentum"), weightDecay: num("weight_decay"))
        let initial = floats(c["init"])
        let p = try Tensor(initial, shape: [initial.count])
        let grads = c["grads"] as! [Any], after = c["after"] as! [Any], lrs = floats(c["lrs"])
        #expect(grads.count == 6 && after.count == 6)
        for step in 0..<grads.count {
            p.grad = try Tensor(floats(grads[step]), shape: [initial.count])
            opt.step([p], lr: lrs[step])
            let expected = floats(after[step]), got = p.toArray()
            let scale = expected.map(abs).max()!
            let err = zip(got, expected).map { abs($0 - $1) }.max()! / scale
            #expect(err < 2e-6, "\(name) step \(step + 1): relative error \(err)")
        }
        #expect(opt.stepCount == 6)
    }

    @Test func schedulesFollowTransformers() {
        #expect(Schedule.linear.multiplier(step: 0, warmup: 5, total: 60) == 0)
        #expect(Schedule.linear.multiplier(step: 2, warmup: 5, total: 60) == 0.4)
        #expect(Schedule.linear.multiplier(step: 5, warmup: 5, total: 60) == 1)
        #expect(abs(Schedule.linear.multiplier(step: 59, warmup: 5, total: 60) - 1.0 / 55) < 1e-7)
        #expect(abs(Schedule.cosine.multiplier(step: 32, warmup: 4, total: 60) - 0.5) < 1e-6)
        #expect(Schedule.constant.multiplier(step: 50, warmup: 5, total: 60) == 1)
    }

    @Test func gradAccumulationNormalisesOverAllTokens() throws {
        // Rows of different lengths: 1 × 4 rows must equal 2 micro-batches × 2 rows when the loss is
        // normalised over the accumulated batch's tokens (not an average of micro-batch averages).
        let rows = [TrainExample(ids: [5, 6, 7, 8, 9, 10]), TrainExample(ids: [11, 12, 13]),
                    TrainExample(ids: [20, 21, 22, 23, 24, 25, 26, 27]), TrainExample(ids: [30, 31])]
        func grads(batch: Int, accum: Int) throws -> [Float] {
            let (model, _) = try tinyModel()
            var lc = LoRAConfig(); lc.rank = 2; lc.seed = 5
            try model.attachLoRA(lc)
            for (_, l) in model.namedProjections { for i in 0..<l.lora!.b.count { l.lora!.b.data[i] = 0.05 * Float(i % 7) - 0.1 } }
            var cfg = TrainConfig()
            cfg.steps = 1; cfg.batchSize = batch; cfg.gradAccum = accum; cfg.optimizer = .sgd; cfg.lr = 1
            cfg.maxGradNorm = nil; cfg.weightDecay = 0; cfg.seed = 1
            let trainer = try Trainer(model: model, train: rows, config: cfg, padId: 0)
            trainer.order = [0, 1, 2, 3]  // the same rows in the same order in both runs
            let before = model.trainableParameters.flatMap { $0.tensor.toArray() }
            _ = try trainer.run()
            return zip(model.trainableParameters.flatMap { $0.tensor.toArray() }, before).map { $1 - $0 }
        }
        let whole = try grads(batch: 4, accum: 1), split = try grads(batch: 2, accum: 2)
        let scale = whole.map(abs).max()!
        #expect(scale > 0)
        #expect(zip(whole, split).map { abs($0 - $1) }.max()! / scale < 1e-4)
    }

    /// The frozen projections are packed for the run's forward products and their input gradients' (when the CPU
    /// has the packed kernels; FINCH_PACK_WEIGHTS=forward packs only the first, 0 none) and released when the run
    /// ends, so that nothing packed outlives training.
    @Test func frozenProjectionsArePackedForTheRunAndReleasedAfter() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        var cfg = TrainConfig()
        cfg.steps = 2; cfg.batchSize = 2
        let trainer = try Trainer(model: model, train: countingRows(4, length: 8, seed: 3), config: cfg, padId: 0)
        func packed(_ w: Tensor) -> (forward: Bool, backward: Bool) {
            let (rows, cols) = (w.shape[0], w.shape[1])
            let fwd = GemmParams(m: 32, n: rows, k: cols, transA: false, transB: true, lda: cols, ldb: cols, ldc: rows)
            let bwd = GemmParams(m: 32, n: cols, k: rows, transA: false, transB: false, lda: rows, ldb: cols, ldc: cols)
            return (Backends.cpu.packedWeights.lookup(fwd, b: w) != nil, Backends.cpu.packedWeights.lookup(bwd, b: w) != nil)
        }
        var during: [(forward: Bool, backward: Bool)] = []
        _ = try trainer.run(onStep: { _ in during = model.namedProjections.map { packed($0.1.weight) } })
        #expect(during.count == model.namedProjections.count)
        let mode = ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"]
        let forward = CPUBackend.usePackedGemm && mode != "0", backward = forward && mode != "forward"
        #expect(during.allSatisfy { $0.forward == forward && $0.backward == backward })
        #expect(model.namedProjections.allSatisfy { packed($0.1.weight) == (false, false) })
    }

    @Test func trainingLowersTrainAndEvalLoss() throws {
        let (model, _) = try tinyModel()
        var lc = LoRAConfig(); lc.rank = 8; lc.alpha = 16
        try model.attachLoRA(lc)
        var cfg = TrainConfig()
        cfg.steps = 30; cfg.batchSize = 4; cfg.lr = 1e-2; cfg.warmup = 2; cfg.evalEvery = 10
        let trainer = try Trainer(model: model, train: countingRows(64, length: 12, seed: 1),
                                  eval: countingRows(8, length: 12, seed: 99), config: cfg, padId: 0)
        var seen = 0
        let result = try trainer.run(onStep: { m in seen += 1; #expect(m.totalSteps == 30) })
        #expect(seen == 30)
        #expect(result.steps.last!.loss < result.steps.first!.loss * 0.7)
        #expect(result.evalLoss! < result.initialEvalLoss! * 0.8)
        #expect(result.tokens == 30 * 4 * 12)
    }

    @Test func resumeContinuesBitForBit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-ckpt-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func make() throws -> Trainer {
            let (model, _) = try tinyModel()
            var lc = LoRAConfig(); lc.rank = 4; lc.dropout = 0.1
            try model.attachLoRA(lc)
            var cfg = TrainConfig()
            cfg.steps = 6; cfg.batchSize = 3; cfg.gradAccum = 2; cfg.lr = 5e-3; cfg.warmup = 2
            cfg.checkpointDir = dir
            return try Trainer(model: model, train: countingRows(10, length: 9, seed: 3), config: cfg, padId: 0)
        }
        let straight = try make()
        _ = try straight.run()
        let first = try make()
        var stops = 0
        let partial = try first.run(shouldStop: { stops += 1; return stops == 3 })
        #expect(partial.steps.count == 3)
        #expect(partial.checkpointPath == dir)
        let resumed = try make()
        try resumed.resume(from: dir)
        _ = try resumed.run()
        let a = straight.model.trainableParameters.flatMap { $0.tensor.toArray() }
        let b = resumed.model.trainableParameters.flatMap { $0.tensor.toArray() }
        #expect(a == b)
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastGoodAdapter() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        model.layers[0].inputNorm.data[0] = .nan  // poisons the forward
        var cfg = TrainConfig(); cfg.steps = 3
        let trainer = try Trainer(model: model, train: countingRows(4, length: 6, seed: 1), config: cfg, padId: 0)
        let before = model.trainableParameters.flatMap { $0.tensor.toArray() }
        #expect(throws: TrainError.self) { try trainer.run() }
        #expect(model.trainableParameters.flatMap { $0.tensor.toArray() } == before)
    }

    @Test func badArgumentsAreExplained() throws {
        let (model, _) = try tinyModel()
        var cfg = TrainConfig(); cfg.steps = 1
        #expect(throws: TrainError.self) { try Trainer(model: model, train: countingRows(2, length: 5, seed: 1), config: cfg, padId: 0) }
        var lc = LoRAConfig(); lc.targets = ["q_proj", "qkv"]
        #expect(throws: ModelError.self) { try model.attachLoRA(lc) }
        lc = LoRAConfig(); lc.rank = 0
        #expect(throws: ModelError.self) { try model.attachLoRA(lc) }
        try model.attachLoRA(LoRAConfig())
        cfg.batchSize = 0
        #expect(throws: TrainError.self) { try Trainer(model: model, train: countingRows(2, length: 5, seed: 1), config: cfg, padId: 0) }
    }
}

@Suite struct TrainerMemoryTests {
    @Test func runThatCannotFitIsRefusedBeforeItStarts() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        var cfg = TrainConfig(); cfg.steps = 1
        let trainer = try Trainer(model: model, train: countingRows(4, length: 6, seed: 1), config: cfg, padId: 0)
        #expect(throws: TrainError.self) { try trainer.checkMemory(limit: 1 << 16) }
        do { try trainer.checkMemory(limit: 1 << 16) } catch {
            #expect("\(error)".contains("lower batch_size"))
        }
        try trainer.checkMemory(limit: 1 << 40)
    }
}

/// Stop reasons are shown as text (`result.stop_reason`) and stored as text in the memo cache: each
/// reads back as itself, and text that is no stop reason is refused rather than guessed.
@Test func stopReasonsReadBackFromTheirText() {
    let all: [TrainStopReason] = [.completed, .nonFiniteLoss, .earlyStop(patience: 3), .interrupted(step: 17)]
    for r in all { #expect(TrainStopReason(description: r.description) == r, "\(r)") }
    #expect(TrainStopReason.interrupted(step: 17).description == "interrupted at step 17")
    #expect(TrainStopReason.interrupted(step: 1).isInterrupted && !TrainStopReason.completed.isInterrupted)
    for bad in ["", "interrupted", "interrupted at step x", "early stop: eval loss did not improve for  evaluations", "steps"] {
        #expect(TrainStopReason(description: bad) == nil, "\(bad)")
    }
}
