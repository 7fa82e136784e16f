import Foundation
import FinchSupport
import FinchModels
import FinchTensor

/// Everything `train(...)` takes, with transformers' defaults where it has them.
public struct TrainConfig: Equatable, Sendable {
    public enum OptimizerKind: String, Sendable, CaseIterable { case adamw, sgd }
    public enum Checkpointing: String, Sendable, CaseIterable { case auto, on, off }

    public var steps: Int?
    public var epochs: Double?
    public var batchSize = 2
    public var gradAccum = 1
    public var lr: Float = 2e-4
    public var optimizer = OptimizerKind.adamw
    public var weightDecay: Float?
    public var momentum: Float = 0
    public var schedule = Schedule.linear
    public var warmup = 0
    public var maxGradNorm: Float? = 1.0
    public var seed: UInt64 = 3407
    public var maxSeqLength = 2048
    public var packing = false
    public var evalEvery: Int?
    public var earlyStopPatience: Int?
    public var gradientCheckpointing = Checkpointing.auto
    public var checkpointEvery: Int?
    public var checkpointDir: String?

    public init() {}

    public var effectiveWeightDecay: Float { weightDecay ?? (optimizer == .adamw ? 0.01 : 0) }

    public func validate() throws {
        func bad(_ s: String) -> TrainError { .invalidArgument("train: \(s)") }
        if let steps { guard steps > 0 else { throw bad("steps must be positive (got \(steps))") } }
        if let epochs { guard epochs > 0 else { throw bad("epochs must be positive (got \(epochs))") } }
        guard batchSize > 0 else { throw bad("batch_size must be positive (got \(batchSize))") }
        guard gradAccum > 0 else { throw bad("grad_accum must be positive (got \(gradAccum))") }
        guard lr > 0, lr.isFinite else { throw bad("lr must be positive (got \(lr))") }
        guard warmup >= 0 else { throw bad("warmup must be ≥ 0") }
        guard maxSeqLength > 1 else { throw bad("max_seq_length must be at least 2") }
        if let m = maxGradNorm { guard m > 0 else { throw bad("max_grad_norm must be positive or none") } }
        if let e = evalEvery { guard e > 0 else { throw bad("eval_every must be positive") } }
        // Upper bounds, so step and batch arithmetic on a mistyped huge number cannot overflow.
        guard batchSize <= 1 << 20, gradAccum <= 1 << 20 else { throw bad("batch_size and grad_accum must be at most \(1 << 20)") }
        if let steps { guard steps <= 1 << 40 else { throw bad("steps must be at most \(1 << 40) (got \(steps))") } }
        if let epochs { guard epochs <= 1e6 else { throw bad("epochs must be at most 1,000,000 (got \(epochs))") } }
    }
}

/// One optimizer step's numbers.
public struct StepMetrics: Sendable, Codable {
    public var step: Int
    public var totalSteps: Int
    public var loss: Float
    public var lr: Float
    public var gradNorm: Float
    public var tokens: Int
    public var tokensPerSecond: Double
    public var elapsed: Double
    public var eta: Double
    public var evalLoss: Float?
}

/// Why a training run ended. `description` is what `result.stop_reason` shows and what the memo
/// cache stores; `init(description:)` reads it back.
public enum TrainStopReason: Equatable, Sendable, CustomStringConvertible {
    case completed
    case nonFiniteLoss
    /// The eval loss did not improve for `patience` evaluations.
    case earlyStop(patience: Int)
    /// Ctrl-C (or a rank's stop request) after `step` steps.
    case interrupted(step: Int)

    public var description: String {
        switch self {
        case .completed: return "completed"
        case .nonFiniteLoss: return "non-finite loss"
        case let .earlyStop(p): return "early stop: eval loss did not improve for \(p) evaluations"
        case let .interrupted(step): return "interrupted at step \(step)"
        }
    }

    public init?(description d: String) {
        func trailingInt(_ prefix: String, _ suffix: String = "") -> Int? {
            guard d.hasPrefix(prefix), d.hasSuffix(suffix) else { return nil }
            return Int(d.dropFirst(prefix.count).dropLast(suffix.count))
        }
        if d == "completed" { self = .completed }
        else if d == "non-finite loss" { self = .nonFiniteLoss }
        else if let p = trailingInt("early stop: eval loss did not improve for ", " evaluations") { self = .earlyStop(patience: p) }
        else if let s = trailingInt("interrupted at step ") { self = .interrupted(step: s) }
        else { return nil }
    }

    public var isInterrupted: Bool { if case .interrupted = self { return true } else { return false } }
}

/// What a training run produced.
public final class TrainResult: CustomStringConvertible {
    public var steps: [StepMetrics] = []
    public var evals: [(step: Int, loss: Float)] = []
    public var initialEvalLoss: Float?
    public var wallSeconds: Double = 0
    public var tokens = 0
    public var peakEngineBytes = 0
    public var peakResidentBytes = 0
    public var stopReason = TrainStopReason.completed
    public var checkpointPath: String?
    public var trainableParameters = 0

    public init() {}

    public var loss: Float { steps.last?.loss ?? .nan }
    public var tokensPerSecond: Double { Double(tokens) / max(wallSeconds, 1e-9) }
    public var evalLoss: Float? { evals.last?.loss }

    public var description: String {
        var s = "TrainResult(\(steps.count) steps, loss \(fmt(steps.first?.loss)) → \(fmt(steps.last?.loss))"
        if let e = evalLoss { s += ", eval \(fmt(initialEvalLoss)) → \(fmt(e))" }
        s += String(format: ", %.0f tok/s, %@, peak resident %@", tokensPerSecond, formatDuration(wallSeconds), formatBytes(peakResidentBytes))
        if stopReason != .completed { s += ", \(stopReason)" }
        return s + ")"
    }

    func fmt(_ x: Float?) -> String { x.map { String(format: "%.4f", $0) } ?? "—" }
}

/// Peak resident memory of this process (ru_maxrss).
public func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(0 /* RUSAGE_SELF */, &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// Resident memory of this process now (/proc/self/statm; the peak where that cannot be read).
public func currentResidentBytes() -> Int {
    if let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
        let fields = text.split(separator: " ")
        if fields.count > 1, let pages = Int(fields[1]) { return pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
    }
    return peakResidentBytes()
}

/// A memory estimate printed before training starts.
public struct MemoryEstimate: CustomStringConvertible {
    public var weights: Int
    public var adapters: Int
    public var activations: Int
    /// f32 copies of quantized frozen weights, decoded once for the run when they fit (FrozenWeights).
    public var decodedWeights: Int
    /// Frozen f32 weights packed once for the CPU's matrix products (PackedWeights), within the same budget.
    public var packedWeights: Int
    public var total: Int { weights + decodedWeights + packedWeights + adapters + activations }

    public init(model: Transformer, batch: Int, seqLen: Int, checkpointing: Bool) {
        let c = model.config
        weights = ([model.embedTokens, model.norm] + (model.lmHead === model.embedTokens ? [] : [model.lmHead])).reduce(0) { $0 + $1.storage.byteCount }
            + model.layers.reduce(0) { acc, l in acc + l.projections.reduce(0) { $0 + $1.1.weight.storage.byteCount } }
        decodedWeights = FrozenWeights.decodedBytes(model)
        packedWeights = FrozenWeights.packedBytes(model)
        // Parameters, gradients and two AdamW moments, all f32.
        adapters = model.trainableParameterCount * 4 * 4
        let tokens = batch * seqLen
        let qkv = c.headDim * (c.numAttentionHeads * 2 + c.numKeyValueHeads * 2)
        // Saved per layer per token: norms, q/k/v (pre- and post-rotary), attention output, gate/up/product, residuals;
        // not the SwiGLU product where down_proj's adapter rebuilds it in the backward (CPU: Linear.afterSwiGLU).
        let mlpKept = model.layers.first?.downProj.trainsWithoutSwiGLUProduct == true ? 3 : 4
        let perLayerToken = 4 * (6 * c.hiddenSize + 2 * qkv + mlpKept * c.intermediateSize)
        let layersKept = checkpointing ? 1 : c.numHiddenLayers
        let logits = Ops.crossEntropyChunkRows(rows: tokens, vocab: c.vocabSize, chunkBytes: CPUBackend.crossEntropyChunkBytes) * c.vocabSize * 4
        activations = tokens * perLayerToken * layersKept + (checkpointing ? tokens * c.hiddenSize * 4 * c.numHiddenLayers : 0)
            + logits + tokens * c.hiddenSize * 4 * 4
    }

    public var description: String {
        "memory estimate: weights \(formatBytes(weights))\(decodedWeights > 0 ? " (+ \(formatBytes(decodedWeights)) decoded to f32 for speed)" : "")\(packedWeights > 0 ? " (+ \(formatBytes(packedWeights)) packed for the matrix products)" : ""), adapters + optimizer \(formatBytes(adapters)), activations \(formatBytes(activations)) — about \(formatBytes(total))"
    }

    /// The peak resident memory the run should end with, which is what the result reports: the process
    /// already holds the weights (and the runtime, tokenizer, data), so training adds the f32 copies of
    /// quantized weights, their packed copies, adapters, optimizer state and activations to what is resident now; a higher
    /// earlier peak stays the peak. (SmolLM2-135M Q4_1, batch 2, debug build: expected 817 MiB, reported 846 MiB.)
    public func expectedPeakResident(residentNow: Int, peakSoFar: Int) -> Int {
        max(peakSoFar, residentNow + decodedWeights + packedWeights + adapters + activations)
    }

    /// The line printed before training: the training memory, and the peak to expect in the same terms
    /// as the "peak resident" the result reports (the whole process, not just training's share).
    public func report(residentNow: Int, peakSoFar: Int) -> String {
        let decoded = decodedWeights > 0 ? ", frozen weights decoded to f32 \(formatBytes(decodedWeights))" : ""
        let packed = packedWeights > 0 ? ", frozen weights packed for the matrix products \(formatBytes(packedWeights))" : ""
        return "memory: training needs about \(formatBytes(decodedWeights + packedWeights + adapters + activations)) (adapters + optimizer \(formatBytes(adapters)), activations \(formatBytes(activations))\(decoded)\(packed)) on top of the \(formatBytes(weights)) of weights; "
            + "the process holds \(formatBytes(residentNow)) now, so expect a peak resident of about \(formatBytes(expectedPeakResident(residentNow: residentNow, peakSoFar: peakSoFar)))"
    }
}

/// Supervised fine-tuning of a model's LoRA adapters.
public final class Trainer {
    public let model: Transformer
    public let config: TrainConfig
    public let trainRows: [TrainExample]
    public let evalRows: [TrainExample]
    let batcher: Batcher
    let params: [Tensor]
    var optimizer: Optimizer
    public let totalSteps: Int
    let batchesPerEpoch: Int

    // Data position (restored from checkpoints).
    var epoch = 0
    var cursor = 0
    var order: [Int] = []
    public internal(set) var step = 0
    /// The eval loss before the first step of the latest run (nil without eval rows).
    public private(set) var initialEvalLoss: Float?
    /// The adapter in host memory, off the CPU (`keepHostCopy`).
    var hostCopy: (values: [[Float]]?, step: Int, time: UInt64) = (nil, 0, 0)
    /// Data parallelism (DataParallel.swift): this trainer is one rank of several when set.
    let reducer: GradientReducer?

    public init(model: Transformer, train: [TrainExample], eval: [TrainExample] = [], config: TrainConfig, padId: Int32,
                reducer: GradientReducer? = nil) throws {
        try config.validate()
        guard model.trainableParameterCount > 0 else {
            throw TrainError.invalidArgument("train: the model has no trainable parameters; attach adapters first with lora(model, r=16, alpha=16)")
        }
        self.model = model
        self.config = config
        self.reducer = reducer
        batcher = Batcher(batchSize: config.batchSize, maxSeqLength: config.maxSeqLength, padId: padId, packing: config.packing)
        trainRows = batcher.rows(train).filter { $0.ids.count >= 2 }
        evalRows = batcher.rows(eval).filter { $0.ids.count >= 2 }
        guard !trainRows.isEmpty else { throw TrainError.noData("train: the dataset has no rows with at least two tokens") }
        guard trainRows.contains(where: { $0.targetCount > 0 }) else {
            throw TrainError.noData("train: no row has tokens to learn (every label is masked); check train_on and the prompt style")
        }
        params = model.trainableParameters.map(\.tensor)
        switch config.optimizer {
        case .adamw: optimizer = AdamW(weightDecay: config.effectiveWeightDecay)
        case .sgd: optimizer = SGD(momentum: config.momentum, weightDecay: config.effectiveWeightDecay)
        }
        let globalBatch = config.batchSize * (reducer?.worldSize ?? 1)
        batchesPerEpoch = (trainRows.count + globalBatch - 1) / globalBatch
        if let steps = config.steps {
            totalSteps = steps
        } else {
            let perEpoch = (batchesPerEpoch + config.gradAccum - 1) / config.gradAccum
            totalSteps = max(1, Int((Double(perEpoch) * (config.epochs ?? 1)).rounded(.up)))
        }
        order = permutation(epoch: 0)
    }

    /// Whether activations are recomputed: `auto` turns it on when keeping them would take more
    /// than a quarter of physical memory.
    public var usesCheckpointing: Bool {
        switch config.gradientCheckpointing {
        case .on: return true
        case .off: return false
        case .auto:
            let longest = trainRows.map(\.ids.count).max() ?? 1
            let kept = MemoryEstimate(model: model, batch: config.batchSize, seqLen: longest, checkpointing: false).activations
            return Double(kept) > Double(model.norm.backend.memoryCapacity) / 4
        }
    }

    public var memoryEstimate: MemoryEstimate {
        MemoryEstimate(model: model, batch: config.batchSize, seqLen: trainRows.map(\.ids.count).max() ?? 1, checkpointing: usesCheckpointing)
    }

    func permutation(epoch: Int) -> [Int] {
        var idx = Array(0..<trainRows.count)
        var rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        for i in stride(from: idx.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            idx.swapAt(i, j)
        }
        return idx
    }

    func nextBatch() -> Batch {
        if cursor >= order.count {
            epoch += 1
            cursor = 0
            order = permutation(epoch: epoch)
        }
        let end = min(order.count, cursor + config.batchSize * worldSize)
        let rows = shard(cursor, end)
        cursor = end
        return batcher.batch(rows[...])
    }

    /// Mean loss per target token over the evaluation rows.
    public func evaluate() throws -> Float? {
        guard !evalRows.isEmpty else { return nil }
        return try GradMode.noGrad {
            var sum: Double = 0, count = 0
            for start in stride(from: rank * config.batchSize, to: evalRows.count, by: config.batchSize * worldSize) {
                let b = batcher.batch(evalRows[start..<min(evalRows.count, start + config.batchSize)])
                let (s, n) = try model.loss(ids: b.ids, labels: b.labels, batch: b.batch, seqLen: b.seqLen)
                sum += Double(s.item)
                count += n
            }
            (sum, count) = try globalEval(sum: sum, count: count)
            return count > 0 ? Float(sum / Double(count)) : nil
        }
    }

    /// Memory Finch may use on the CPU: `FINCH_MEMORY_LIMIT` (bytes, e.g. for tests) or the machine's RAM.
    public static var memoryLimit: Int { Backends.cpu.memoryCapacity }

    /// Refuses to start a run whose estimate does not fit, instead of dying of it halfway.
    public func checkMemory(limit: Int? = nil) throws {
        let limit = limit ?? model.norm.backend.memoryCapacity
        let est = memoryEstimate
        guard est.total > limit * 9 / 10 else { return }
        throw TrainError.invalidArgument("train: this run needs about \(formatBytes(est.total)) (\(est)) but only \(formatBytes(limit)) is available; lower batch_size or max_seq_length, set gradient_checkpointing=\"on\", or load the model with quantize=\"q4_0\"")
    }

    /// Runs to the end (or until `shouldStop` says so after a step), reporting every step.
    public func run(onStep: (StepMetrics) -> Void = { _ in },
                    shouldStop: () -> Bool = { false }) throws -> TrainResult {
        try checkMemory()
        let result = TrainResult()
        result.trainableParameters = params.count > 0 ? model.trainableParameterCount : 0
        model.gradientCheckpointing = usesCheckpointing
        let restoreWeights = FrozenWeights.decodeForTraining(model, budgetBytes: FrozenWeights.defaultBudget)
        defer {
            restoreWeights()
            model.gradientCheckpointing = false
            FaultInjection.enter(.any, step: 0)
            for (_, l) in model.namedProjections { l.lora?.dropoutSeed = nil }
        }
        BufferPool.shared.resetPeak()
        try checkDevice("preparing the model's weights", step: step + 1)
        if !evalRows.isEmpty {
            result.initialEvalLoss = try evaluate()
            try checkDevice("the first evaluation", step: step + 1)
            initialEvalLoss = result.initialEvalLoss
        }
        keepHostCopy(force: true)
        let start = DispatchTime.now().uptimeNanoseconds
        var bestEval = result.initialEvalLoss ?? .infinity
        var sinceBest = 0
        while step < totalSteps {
            let micro = (0..<config.gradAccum).map { _ in nextBatch() }
            let (targets, tokens) = try globalCounts(micro)  // all ranks' (data parallelism)
            for p in params { p.grad = nil }
            var lossSum: Double = 0
            for (i, b) in micro.enumerated() where b.targets > 0 {
                let seed = config.seed ^ (UInt64(step) << 20 | UInt64(i)) ^ UInt64(rank) << 44
                for (_, l) in model.namedProjections { l.lora?.dropoutSeed = seed }
                FaultInjection.enter(.forward, step: step + 1)
                let (sum, _) = try model.loss(ids: b.ids, labels: b.labels, batch: b.batch, seqLen: b.seqLen)
                try checkDevice("the forward pass", step: step + 1)
                lossSum += Double(sum.item)
                // Normalised over all target tokens of the accumulated batch.
                FaultInjection.enter(.backward, step: step + 1)
                try Ops.scale(sum, 1 / Float(max(1, targets))).backward()
                try checkDevice("the backward pass", step: step + 1)
            }
            FaultInjection.enter(.any, step: step + 1)
            lossSum = try reduceGradients(lossSum: lossSum, targets: targets)  // summed over the ranks
            let loss = Float(lossSum / Double(max(1, targets)))
            let norm = clipGradNorm(params, maxNorm: config.maxGradNorm)
            try checkDevice("clipping the gradients", step: step + 1)
            guard loss.isFinite, norm.isFinite else {
                result.stopReason = .nonFiniteLoss
                finish(result, start: start)
                throw TrainError.nonFiniteLoss(step: step + 1, value: loss.isFinite ? norm : loss)
            }
            let lr = config.lr * config.schedule.multiplier(step: step, warmup: config.warmup, total: totalSteps)
            try applyOptimizerStep(lr: lr)
            step += 1
            keepHostCopy()
            try checkDevice("copying the adapter to host memory", step: step, kept: step)
            result.tokens += tokens
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var m = StepMetrics(step: step, totalSteps: totalSteps, loss: loss, lr: lr, gradNorm: norm, tokens: tokens,
                                tokensPerSecond: Double(result.tokens) / max(elapsed, 1e-9), elapsed: elapsed,
                                eta: elapsed / Double(step) * Double(totalSteps - step), evalLoss: nil)
            let evaluated = config.evalEvery.map { step % $0 == 0 || step == totalSteps } ?? false
            if evaluated, let e = try evaluate() {
                try checkDevice("the evaluation after step \(step)", step: step, kept: step)
                m.evalLoss = e
                result.evals.append((step, e))
                if e < bestEval { bestEval = e; sinceBest = 0 } else { sinceBest += 1 }
            }
            result.steps.append(m)
            onStep(m)
            if let every = config.checkpointEvery, step % every == 0, let dir = config.checkpointDir {
                try saveCheckpoint(to: dir)
                result.checkpointPath = dir
            }
            if let patience = config.earlyStopPatience, sinceBest >= patience {
                result.stopReason = .earlyStop(patience: patience)
                break
            }
            if step < totalSteps, try agreeToStop(shouldStop()) {
                result.stopReason = .interrupted(step: step)
                if let dir = config.checkpointDir {
                    try saveCheckpoint(to: dir)
                    result.checkpointPath = dir
                }
                break
            }
        }
        if result.evals.isEmpty, !evalRows.isEmpty, let e = try evaluate() {
            try checkDevice("the final evaluation", step: step, kept: step)
            result.evals.append((step, e))
        }
        finish(result, start: start)
        return result
    }

    func finish(_ result: TrainResult, start: UInt64) {
        result.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        result.peakEngineBytes = model.norm.backend.peakBytesInUse
        result.peakResidentBytes = peakResidentBytes()
    }
}

// MARK: Device failures (see `Backend`: sticky errors taken at step boundaries)

extension Trainer {
    /// Throws the pending device error as a failure of `step` during `phase`; the adapter then
    /// holds the values of step `kept` (default: the step before).
    func checkDevice(_ phase: String, step failed: Int, kept: Int? = nil) throws {
        guard let e = DeviceErrors.take() else { return }
        throw failure(e, phase: phase, step: failed, kept: kept ?? failed - 1)
    }

    func failure(_ e: DeviceError, phase: String, step failed: Int, kept: Int) -> TrainError {
        for p in params { p.grad = nil }  // the step's memory goes back at once
        var kept = kept, onHost = false
        if e.poisoned && params.first?.device != .cpu {
            // The device's memory is gone with its context: the adapter lives on in the host copy.
            if let k = restoreHostCopy() { kept = k; onHost = true } else { kept = -1 }
        }
        var hint = e.advice
        if case .outOfMemory = e.kind {
            hint = "lower batch_size (now \(config.batchSize)) or max_seq_length (now \(config.maxSeqLength))"
                + (usesCheckpointing ? "" : ", set gradient_checkpointing=\"on\"") + ", or load the model with quantize=\"q4_0\""
        }
        return .device(step: failed, phase: phase, kept: kept, error: e, hint: hint, onHost: onHost)
    }

    /// One optimizer step, all or nothing: the parameters are snapshotted (on their device; LoRA
    /// tensors are small) and the step is applied only when nothing is pending; a failure inside
    /// the step puts the snapshot back, so the adapter keeps the values of the step before. Deliberate
    /// memory: one adapter copy (4 bytes per parameter, 20 MB for r 16 on SmolLM2-135M), whose buffers
    /// the pool keeps for the next step's snapshot (on the CPU, host memory: with BenchCeiling's matrices,
    /// the growth of bench train's peak RSS since b170ef3).
    func applyOptimizerStep(lr: Float) throws {
        FaultInjection.enter(.optimizer, step: step + 1)
        defer { FaultInjection.enter(.any, step: step + 1) }
        let snapshot = params.map { $0.clone() }
        try checkDevice("the optimizer step", step: step + 1)
        optimizer.step(params, lr: lr)
        guard let e = DeviceErrors.take() else { return }
        if !e.poisoned || params.first?.device == .cpu {
            for (p, s) in zip(params, snapshot) { p.backend.copy(s, into: p) }
            if var again = DeviceErrors.take() {
                again.poisoned = true  // the adapter on the device is half-updated: use the host copy
                throw failure(again, phase: "undoing a failed optimizer step", step: step + 1, kept: step)
            }
        }
        throw failure(e, phase: "the optimizer step", step: step + 1, kept: step)
    }

    /// Off the CPU, a copy of the adapter in host memory, refreshed at most every 10 s (a device
    /// whose context is poisoned keeps nothing; this copy is what survives). Deliberate host memory:
    /// 4 bytes per adapter parameter (0.16 GiB for r 16 on all projections of an 8B model), twice that
    /// while a refresh is taken, since the old copy stays until the new one is known to be whole.
    func keepHostCopy(force: Bool = false) {
        guard params.first?.device != .cpu, !DeviceErrors.isPending else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard force || now - hostCopy.time > 10_000_000_000 else { return }
        let values = params.map { $0.toArray() }
        guard !DeviceErrors.isPending else { return }
        hostCopy = (values, step, now)
    }

    /// Puts the host copy of the adapter in place of the device's (CPU tensors); returns its step.
    func restoreHostCopy() -> Int? {
        guard let values = hostCopy.values else { return nil }
        var i = 0
        for (_, l) in model.namedProjections {
            guard let lora = l.lora, i + 1 < values.count,
                  let a = try? Tensor(values[i], shape: lora.a.shape), let b = try? Tensor(values[i + 1], shape: lora.b.shape) else { continue }
            l.lora = LoRA(a: a, b: b, alpha: lora.alpha, useRSLoRA: lora.useRSLoRA, dropout: lora.dropout)
            i += 2
        }
        return hostCopy.step
    }
}
