import Foundation
import FinchModels
import FinchTensor

// Data parallelism: N replicas of the model (one per rank: a GPU, or a thread in tests), each
// with its share of every global batch. Between backward and the optimizer step the trainer hands
// the LoRA gradients to a `GradientReducer`, which sums them over the ranks; every rank then
// clips by the same global norm and applies the identical update, so the adapters stay equal.
//
// Finch normalises the loss over the target tokens of the whole (accumulated) batch. With N
// ranks each rank scales its loss by 1 / (target tokens of the GLOBAL batch), all-reduced before
// the backward; the summed gradients are then exactly the single-process gradient of that batch.
// (Averaging per-rank means would weight a rank's short rows like another's long ones.)
//
// Sharding: rank r of N takes rows r, r+N, r+2N, … of each global micro-batch of
// `batch_size × N` rows (strided, so ranks get rows of similar lengths on average). `batch_size`
// is per rank, as transformers' per_device_train_batch_size: the global batch of one optimizer
// step is batch_size × N × grad_accum rows.

// MARK: The trainer's side

extension Trainer {
    var rank: Int { reducer?.rank ?? 0 }
    var worldSize: Int { reducer?.worldSize ?? 1 }

    /// This rank's rows of the global micro-batch `order[cursor..<end]`.
    func shard(_ cursor: Int, _ end: Int) -> [TrainExample] {
        stride(from: cursor + rank, to: end, by: worldSize).map { trainRows[order[$0]] }
    }

    /// Target and real tokens of this step's global batch (all ranks).
    func globalCounts(_ micro: [Batch]) throws -> (targets: Int, tokens: Int) {
        let local = (micro.reduce(0) { $0 + $1.targets }, micro.reduce(0) { $0 + $1.tokens })
        guard let reducer else { return local }
        let s = try reducer.allReduceSum([Double(local.0), Double(local.1)])
        return (Int(s[0]), Int(s[1]))
    }

    /// Sums the gradients and the loss over the ranks; returns the global loss sum. A rank whose
    /// shard had no target tokens contributes zeros. Nothing to do when no rank had targets (all
    /// ranks know this from the global count, so they agree to skip).
    func reduceGradients(lossSum: Double, targets: Int) throws -> Double {
        guard let reducer, targets > 0 else { return lossSum }
        for p in params where p.grad == nil { p.grad = Tensor.zeros(p.shape, device: p.device) }
        try reducer.allReduceSum(params.compactMap(\.grad))
        return try reducer.allReduceSum([lossSum])[0]
    }

    /// Whether to stop after this step: with several ranks, any rank asked (Ctrl-C reaches one
    /// process or one thread first), so every rank stops after the same step.
    func agreeToStop(_ local: Bool) throws -> Bool {
        guard let reducer else { return local }
        return try reducer.allReduceSum([local ? 1 : 0])[0] > 0
    }

    /// The eval loss sum and count over all ranks (each evaluates every N-th batch).
    func globalEval(sum: Double, count: Int) throws -> (Double, Int) {
        guard let reducer else { return (sum, count) }
        let s = try reducer.allReduceSum([sum, Double(count)])
        return (s[0], Int(s[1]))
    }
}

// MARK: Several ranks in one process

/// N ranks in one process, one thread each, summing through host memory: the CPU's data
/// parallelism (and the tests' simulation of N GPUs). The sum runs in f64, in rank order on one
/// thread, so every rank receives bitwise the same values.
public final class InProcessGroup {
    public let worldSize: Int
    let condition = NSCondition()
    var arrived = 0
    var generation = 0
    var aborted: String?
    var slots: [[[Double]]]
    var result: [[Double]] = []

    public init(worldSize: Int) {
        self.worldSize = worldSize
        slots = Array(repeating: [], count: worldSize)
    }

    /// One reducer per rank (each keeps the group alive).
    public var reducers: [GradientReducer] { (0..<worldSize).map { InProcessReducer(group: self, rank: $0) } }

    /// Deposits `values`, waits for every rank, and returns the sums (one array per input array).
    func allReduce(rank: Int, _ values: [[Double]]) throws -> [[Double]] {
        condition.lock()
        defer { condition.unlock() }
        if let a = aborted { throw DataParallelError.aborted(rank: rank, reason: a) }
        slots[rank] = values
        let gen = generation
        arrived += 1
        if arrived == worldSize {
            // The last rank to arrive sums in rank order (deterministic) and releases the others.
            var sum = slots[0]
            for r in 1..<worldSize {
                guard slots[r].count == sum.count, zip(slots[r], sum).allSatisfy({ $0.count == $1.count }) else {
                    aborted = "rank \(r) reduced tensors of other shapes than rank 0"
                    condition.broadcast()
                    throw DataParallelError.aborted(rank: rank, reason: aborted!)
                }
                for i in sum.indices {
                    sum[i].withUnsafeMutableBufferPointer { s in
                        slots[r][i].withUnsafeBufferPointer { x in for j in 0..<s.count { s[j] += x[j] } }
                    }
                }
            }
            result = sum
            arrived = 0
            generation += 1
            condition.broadcast()
            return sum
        }
        while generation == gen && aborted == nil { condition.wait() }
        if generation == gen, let a = aborted { throw DataParallelError.aborted(rank: rank, reason: a) }
        // `result` stays valid until this generation's ranks have all left: the next collective
        // cannot complete before this rank enters it.
        return result
    }

    func abort(_ reason: String) {
        condition.lock()
        if aborted == nil { aborted = reason }
        condition.broadcast()
        condition.unlock()
    }
}

final class InProcessReducer: GradientReducer {
    let group: InProcessGroup
    let rank: Int
    var worldSize: Int { group.worldSize }

    init(group: InProcessGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    func allReduceSum(_ tensors: [Tensor]) throws {
        let sums = try group.allReduce(rank: rank, tensors.map { $0.toArray().map(Double.init) })
        for (t, s) in zip(tensors, sums) { try t.assign(s.map { Float($0) }) }
    }

    func allReduceSum(_ values: [Double]) throws -> [Double] {
        try group.allReduce(rank: rank, [values])[0]
    }

    func abort(_ reason: String) { group.abort(reason) }
}

// MARK: Running the ranks

public enum DataParallelTraining {
    static func isAbort(_ e: Error) -> Bool {
        if case .aborted? = e as? DataParallelError { return true }
        return false
    }

    /// Trains `models` (replicas on their devices, with equal adapters) as ranks 0…N−1 of one
    /// data-parallel run, a thread each; returns rank 0's result. Rank 0 reports the steps
    /// (global loss and tokens: one progress line) and writes the checkpoints. A rank that fails
    /// aborts the others; the first real error is thrown.
    public static func run(models: [Transformer], reducers: [GradientReducer], train: [TrainExample], eval: [TrainExample] = [],
                           config: TrainConfig, padId: Int32, resume: String? = nil,
                           onStart: (Trainer) -> Void = { _ in },
                           onStep: @escaping (StepMetrics) -> Void = { _ in },
                           shouldStop: @escaping () -> Bool = { false }) throws -> TrainResult {
        guard models.count == reducers.count, !models.isEmpty else {
            throw DataParallelError.invalidLaunch("data parallel: \(models.count) model replicas for \(reducers.count) ranks")
        }
        let trainers = try models.enumerated().map { r, model -> Trainer in
            var cfg = config
            if r != 0 { cfg.checkpointDir = nil }  // rank 0 writes checkpoints; the adapters are equal
            let t = try Trainer(model: model, train: train, eval: eval, config: cfg, padId: padId, reducer: reducers[r])
            if let resume { try t.resume(from: resume) }
            return t
        }
        onStart(trainers[0])
        final class Outcome: @unchecked Sendable {
            var results: [Result<TrainResult, Error>?]
            init(_ n: Int) { results = Array(repeating: nil, count: n) }
        }
        let outcome = Outcome(trainers.count)
        let lock = NSLock()
        let done = DispatchGroup()
        for (r, trainer) in trainers.enumerated() {
            done.enter()
            let thread = Thread {
                let result = Result { try trainer.run(onStep: r == 0 ? onStep : { _ in }, shouldStop: shouldStop) }
                if case let .failure(e) = result, !isAbort(e) {
                    reducers[r].abort("rank \(r) failed: \(e)")
                }
                lock.lock(); outcome.results[r] = result; lock.unlock()
                done.leave()
            }
            thread.stackSize = 64 << 20  // deep models' backward recursion, as the notebook's cells get
            thread.name = "finch-rank-\(r)"
            thread.start()
        }
        done.wait()
        // The first failure that is not a consequence of another rank's.
        let results = outcome.results.compactMap { $0 }
        for case let .failure(e) in results where !isAbort(e) { throw e }
        for case let .failure(e) in results { throw e }
        guard case let .success(r0)? = outcome.results[0] else {
            throw DataParallelError.invalidLaunch("data parallel: rank 0 returned no result")
        }
        return r0
    }
}
