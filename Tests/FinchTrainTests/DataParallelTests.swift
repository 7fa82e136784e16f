import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// Data parallelism simulated on the CPU: N ranks as threads of one process, summing through
/// `InProcessGroup` (the arithmetic NCCL does on GPUs).
@Suite(.serialized) struct DataParallelTests {
    /// Rows of very different lengths: a naive average of per-rank means weights them wrongly.
    static let uneven = [TrainExample(ids: [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]), TrainExample(ids: [11, 12, 13]),
                         TrainExample(ids: [20, 21, 22, 23, 24, 25, 26]), TrainExample(ids: [30, 31]),
                         TrainExample(ids: [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51]), TrainExample(ids: [60, 61, 62, 63])]

    /// The tiny model with an adapter whose B is not zero (so both A and B get gradients).
    func replica() throws -> Transformer {
        let (model, _) = try tinyModel()
        var lc = LoRAConfig(); lc.rank = 2; lc.seed = 5
        try model.attachLoRA(lc)
        for (_, l) in model.namedProjections { for i in 0..<l.lora!.b.count { l.lora!.b.data[i] = 0.05 * Float(i % 7) - 0.1 } }
        return model
    }

    func adapter(_ m: Transformer) -> [Float] { m.trainableParameters.flatMap { $0.tensor.toArray() } }

    /// One SGD step with lr 1 and no clipping: the adapter moves by −gradient.
    func gradientConfig(batch: Int) -> TrainConfig {
        var cfg = TrainConfig()
        cfg.steps = 1; cfg.batchSize = batch; cfg.optimizer = .sgd; cfg.lr = 1; cfg.maxGradNorm = nil; cfg.weightDecay = 0; cfg.seed = 1
        return cfg
    }

    func gradient(rows: [TrainExample], batch: Int) throws -> [Float] {
        let model = try replica()
        let before = adapter(model)
        _ = try Trainer(model: model, train: rows, config: gradientConfig(batch: batch), padId: 0).run()
        return zip(before, adapter(model)).map { $0 - $1 }
    }

    func maxRelative(_ a: [Float], _ b: [Float]) -> Float {
        let scale = a.map(abs).max()!
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: [2, 3])
    func shardGradientsSumToTheFullBatchGradient(ranks: Int) throws {
        let rows = Self.uneven
        let perRank = rows.count / ranks
        let full = try gradient(rows: rows, batch: rows.count)
        let models = try (0..<ranks).map { _ in try replica() }
        let before = adapter(models[0])
        let group = InProcessGroup(worldSize: ranks)
        let result = try DataParallelTraining.run(models: models, reducers: group.reducers, train: rows,
                                                  config: gradientConfig(batch: perRank), padId: 0)
        let parallel = zip(before, adapter(models[0])).map { $0 - $1 }
        #expect(full.map(abs).max()! > 0)
        #expect(maxRelative(full, parallel) < 1e-5, "data-parallel gradient vs full batch: \(maxRelative(full, parallel))")
        for m in models.dropFirst() { #expect(adapter(m) == adapter(models[0])) }
        #expect(result.tokens == rows.reduce(0) { $0 + $1.ids.count })

        // The wrong arithmetic (each rank's own mean, averaged) is measurably different here, so
        // the check above can tell the two apart.
        let order = try Trainer(model: try replica(), train: rows, config: gradientConfig(batch: rows.count), padId: 0).order
        let naive = try (0..<ranks).map { r in
            try gradient(rows: stride(from: r, to: rows.count, by: ranks).map { rows[order[$0]] }, batch: perRank)
        }.reduce([Float](repeating: 0, count: full.count)) { acc, g in zip(acc, g).map { $0 + $1 / Float(ranks) } }
        #expect(maxRelative(full, naive) > 1e-2, "a per-rank mean average should differ: \(maxRelative(full, naive))")
    }

    /// AdamW with warmup, clipping, gradient accumulation and evaluation: N ranks with batch b each
    /// end where one process with batch N·b ends, every rank holding the same adapter.
    @Test(arguments: [2, 3])
    func ranksTrainLikeOneProcessWithTheGlobalBatch(ranks: Int) throws {
        let train = countingRows(20, length: 9, seed: 3) + Self.uneven
        let eval = countingRows(5, length: 7, seed: 99)
        var cfg = TrainConfig()
        cfg.steps = 5; cfg.batchSize = 2; cfg.gradAccum = 2; cfg.lr = 1e-2; cfg.warmup = 1; cfg.maxGradNorm = 0.5
        cfg.evalEvery = 2
        var single = cfg
        single.batchSize = cfg.batchSize * ranks
        let one = try replica()
        let reference = try Trainer(model: one, train: train, eval: eval, config: single, padId: 0).run()

        let models = try (0..<ranks).map { _ in try replica() }
        var seen: [Int] = []
        let result = try DataParallelTraining.run(models: models, reducers: InProcessGroup(worldSize: ranks).reducers,
                                                  train: train, eval: eval, config: cfg, padId: 0, onStep: { seen.append($0.step) })
        #expect(seen == [1, 2, 3, 4, 5])
        for m in models.dropFirst() { #expect(adapter(m) == adapter(models[0]), "every rank holds the same adapter") }
        let worst = zip(adapter(one), adapter(models[0])).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "adapter after 5 steps vs one process: \(worst)")
        #expect(adapter(one) != adapter(try replica()), "training moved the adapter")
        for (a, b) in zip(reference.steps, result.steps) {
            #expect(abs(a.loss - b.loss) < 1e-5 * max(1, abs(a.loss)), "step \(a.step) loss \(a.loss) vs \(b.loss)")
            #expect(abs(a.gradNorm - b.gradNorm) < 1e-4 * max(1, a.gradNorm))
            #expect(a.tokens == b.tokens)
        }
        #expect(result.evals.count == reference.evals.count)
        for (a, b) in zip(reference.evals, result.evals) { #expect(abs(a.loss - b.loss) < 1e-5) }
        #expect(abs(result.initialEvalLoss! - reference.initialEvalLoss!) < 1e-5)
    }

    @Test func oneRankIsExactlyNoDataParallelism() throws {
        var cfg = TrainConfig()
        cfg.steps = 3; cfg.batchSize = 3; cfg.lr = 1e-2
        let plain = try replica()
        _ = try Trainer(model: plain, train: Self.uneven, config: cfg, padId: 0).run()
        let ranked = try replica()
        _ = try DataParallelTraining.run(models: [ranked], reducers: InProcessGroup(worldSize: 1).reducers,
                                         train: Self.uneven, config: cfg, padId: 0)
        #expect(adapter(plain) == adapter(ranked))
    }

    @Test func anyRanksStopRequestStopsEveryRankAfterTheSameStep() throws {
        var cfg = TrainConfig()
        cfg.steps = 6; cfg.batchSize = 1; cfg.lr = 1e-2
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-dp-ckpt-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        cfg.checkpointDir = dir
        let models = try (0..<3).map { _ in try replica() }
        final class Count: @unchecked Sendable { var n = 0, yes = 0; let lock = NSLock() }
        let asked = Count()
        // Only one rank sees the request (as one process of several would): the 4th check overall
        // is some rank's check after step 2 (no rank checks after step 2 before all checked after step 1).
        let result = try DataParallelTraining.run(models: models, reducers: InProcessGroup(worldSize: 3).reducers,
                                                  train: Self.uneven, config: cfg, padId: 0, shouldStop: {
            asked.lock.lock(); defer { asked.lock.unlock() }
            asked.n += 1
            if asked.n == 4 { asked.yes += 1; return true }
            return false
        })
        #expect(asked.yes == 1)
        #expect(result.steps.count == 2)
        #expect(result.stopReason == .interrupted(step: 2))
        #expect(result.checkpointPath == dir)
        for m in models.dropFirst() { #expect(adapter(m) == adapter(models[0])) }
    }

    @Test func resumedRanksContinueLikeAStraightRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-dp-resume-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var cfg = TrainConfig()
        cfg.steps = 5; cfg.batchSize = 2; cfg.gradAccum = 2; cfg.lr = 5e-3; cfg.checkpointDir = dir
        let train = countingRows(11, length: 8, seed: 4) + Self.uneven
        func ranks() throws -> [Transformer] { try (0..<2).map { _ in try replica() } }
        let straight = try ranks()
        _ = try DataParallelTraining.run(models: straight, reducers: InProcessGroup(worldSize: 2).reducers, train: train, config: cfg, padId: 0)
        final class Count: @unchecked Sendable { var n = 0; let lock = NSLock() }
        let checks = Count()
        let first = try DataParallelTraining.run(models: try ranks(), reducers: InProcessGroup(worldSize: 2).reducers, train: train,
                                                 config: cfg, padId: 0, shouldStop: {
            checks.lock.lock(); defer { checks.lock.unlock() }
            checks.n += 1
            return checks.n == 5  // a check after step 3
        })
        #expect(first.steps.count == 3)
        let resumed = try ranks()
        let rest = try DataParallelTraining.run(models: resumed, reducers: InProcessGroup(worldSize: 2).reducers, train: train,
                                                config: cfg, padId: 0, resume: dir)
        #expect(rest.steps.map(\.step) == [4, 5])
        #expect(adapter(resumed[0]) == adapter(straight[0]))
        #expect(adapter(resumed[1]) == adapter(straight[1]))
    }

    @Test func aFailedRankReleasesTheOthers() throws {
        let group = InProcessGroup(worldSize: 3)
        final class Errors: @unchecked Sendable { var list: [Error] = [] }
        let errors = Errors()
        let lock = NSLock()
        let done = DispatchGroup()
        for r in 0..<2 {
            done.enter()
            Thread {
                do { _ = try group.reducers[r].allReduceSum([1.0]) } catch { lock.lock(); errors.list.append(error); lock.unlock() }
                done.leave()
            }.start()
        }
        group.reducers[2].abort("rank 2 failed: out of memory")
        done.wait()
        #expect(errors.list.count == 2)
        for e in errors.list { #expect("\(e)".contains("rank 2 failed: out of memory")) }
        #expect(throws: DataParallelError.self) { try group.reducers[2].allReduceSum([1.0]) }
    }

    @Test func aRankWithoutTargetsStillJoinsTheSum() throws {
        // Rank 1's only row has every label masked: it contributes zero gradients, and the result
        // equals one process on the same rows.
        let rows = [TrainExample(ids: [5, 6, 7, 8, 9, 10]), TrainExample(ids: [11, 12, 13, 14], labels: [-100, -100, -100, -100])]
        let full = try gradient(rows: rows, batch: 2)
        let models = try (0..<2).map { _ in try replica() }
        let before = adapter(models[0])
        _ = try DataParallelTraining.run(models: models, reducers: InProcessGroup(worldSize: 2).reducers, train: rows,
                                         config: gradientConfig(batch: 1), padId: 0)
        let parallel = zip(before, adapter(models[0])).map { $0 - $1 }
        #expect(maxRelative(full, parallel) < 1e-5)
        #expect(adapter(models[1]) == adapter(models[0]))
    }

    /// The notebook's replicas (`Transformer.replica(on:)`, here on the CPU): the same loss, an
    /// adapter of their own, and training them data-parallel equals training the model alone.
    @Test func replicasComputeTheSameAndOwnTheirAdapters() throws {
        let model = try replica()
        let copy = try model.replica(on: .cpu)
        #expect(adapter(copy) == adapter(model))
        #expect(copy.layers[0].qProj.lora!.a !== model.layers[0].qProj.lora!.a)
        let ids: [Int32] = [5, 6, 7, 8, 9, 10, 11, 12], labels = ids
        let (a, _) = try model.loss(ids: ids, labels: labels, batch: 1, seqLen: 8)
        let (b, _) = try copy.loss(ids: ids, labels: labels, batch: 1, seqLen: 8)
        #expect(a.item == b.item)
        copy.layers[0].qProj.lora!.a.data[0] += 1
        #expect(adapter(copy) != adapter(model))

        var cfg = TrainConfig()
        cfg.steps = 3; cfg.batchSize = 1; cfg.lr = 1e-2
        let alone = try replica()
        _ = try Trainer(model: alone, train: Self.uneven, config: { var c = cfg; c.batchSize = 2; return c }(), padId: 0).run()
        let first = try replica()
        let models = [first, try first.replica(on: .cpu)]
        _ = try DataParallelTraining.run(models: models, reducers: InProcessGroup(worldSize: 2).reducers, train: Self.uneven, config: cfg, padId: 0)
        #expect(zip(adapter(alone), adapter(first)).map { abs($0 - $1) }.max()! < 1e-5)
    }

    @Test func mismatchedReplicasAreRefused() throws {
        #expect(throws: DataParallelError.self) {
            try DataParallelTraining.run(models: [try replica()], reducers: InProcessGroup(worldSize: 2).reducers,
                                         train: Self.uneven, config: gradientConfig(batch: 1), padId: 0)
        }
    }
}
