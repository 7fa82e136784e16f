import Foundation
import FinchHub
import FinchLang
import FinchModels
import FinchSupport
import FinchTensor
import FinchTrain

/// `train(model, data, …)`.
func runTrain(_ args: Arguments, _ ctx: CallContext) throws -> Value {
    let request = try TrainRequest(args, ctx)                          // the arguments, checked
    let data = try request.prepareData()                               // rows → token ids and loss masks (FinchTrain)
    let config = request.trainerConfig(evaluating: !data.eval.isEmpty) // the trainer's settings
    let (result, cached) = try request.run(data, config, ctx)          // train, or restore from the memo cache
    return try request.report(result, cached: cached, ctx)
}

/// A `train(...)` call's arguments, read and checked before any work.
struct TrainRequest {
    let handle: ModelValue
    let data: Dataset
    let evalData: Dataset?
    /// The arguments' settings; `trainerConfig` completes them.
    var config = TrainConfig()
    let textField: String
    let trainOn: TrainOn
    let resume: String?
    let placement: TrainPlacement

    var model: LanguageModel { handle.model }

    init(_ args: Arguments, _ ctx: CallContext) throws {
        handle = try args.object("model", as: ModelValue.self)
        data = try args.object("data", as: Dataset.self)
        let model = handle.model
        guard model.network.loraConfig != nil else {
            throw FinchError("train(): the model has no adapters to train; call lora(model, r=16, alpha=16) first")
        }
        config.steps = try args.optionalInt("steps")
        config.epochs = try args.optionalDouble("epochs")
        if config.steps == nil && config.epochs == nil { config.epochs = 1 }
        config.batchSize = try args.int("batch_size")
        config.gradAccum = try args.int("grad_accum")
        config.lr = try args.float("lr")
        config.optimizer = try args.choice("optimizer")
        config.weightDecay = try args.optionalFloat("weight_decay")
        config.momentum = try args.float("momentum")
        config.schedule = try args.choice("schedule")
        config.warmup = try args.int("warmup")
        config.maxGradNorm = try args.optionalFloat("max_grad_norm")
        config.seed = UInt64(truncatingIfNeeded: try args.int("seed"))
        config.maxSeqLength = min(try args.optionalInt("max_seq_length") ?? min(model.maxSeqLength, 2048), model.config.maxPositionEmbeddings)
        config.packing = try args.bool("packing")
        config.evalEvery = try args.optionalInt("eval_every")
        config.earlyStopPatience = try args.optionalInt("early_stop")
        config.gradientCheckpointing = try args.choice("gradient_checkpointing")
        config.checkpointEvery = try args.optionalInt("checkpoint_every")
        // Always somewhere to checkpoint: Ctrl-C finishes the step and saves there (resume= continues).
        config.checkpointDir = try args.optionalString("checkpoint_dir") ?? "checkpoints/\(model.name.replacingOccurrences(of: "/", with: "--"))"
        resume = try args.optionalString("resume")
        // Several GPUs (TrainDevices.swift): checked against the machine before any work.
        placement = try TrainPlacement.plan(try TrainDevices.parse(args["devices"]), modelDevice: model.network.device,
                                            gpuCount: cudaGPUCount, launch: try currentLaunch())
        textField = try args.string("text_field")
        trainOn = try args.choice("train_on")
        evalData = try args.optionalObject("eval", as: Dataset.self)
    }

    struct PreparedData {
        var train: [TrainExample]
        var eval: [TrainExample]
    }

    func prepareData() throws -> PreparedData {
        PreparedData(train: try examples(data, fn: "train"), eval: try evalData.map { try examples($0, fn: "train(eval=…)") } ?? [])
    }

    /// The text column (and a prompt style's `_response_start`) of each row, tokenized by FinchTrain.
    func examples(_ data: Dataset, fn: String) throws -> [TrainExample] {
        let texts = try data.rows.enumerated().map { i, row -> TrainText in
            guard let v = row[.string(textField)] else {
                let cols = data.columns
                throw FinchError("\(fn): row \(i) has no '\(textField)' column\(suggestion(for: textField, among: cols).map { " (did you mean \($0)?)" } ?? ""); columns: \(cols.joined(separator: ", ")). Map the data through a prompt style (data.map(style)) or pass text_field=")
            }
            guard case .string(let text) = v else { throw FinchError("\(fn): row \(i) field '\(textField)' is a \(v.typeName), not a string") }
            guard case .int(let start)? = row[.string("_response_start")] else { return TrainText(text) }
            return TrainText(text, responseStart: start)
        }
        do {
            return try TrainData.examples(texts, tokenizer: model.tokenizer, eosId: model.eosIds.first, trainOn: trainOn)
        } catch let e as TrainDataError {
            throw FinchError("\(fn): \(e)")
        }
    }

    func trainerConfig(evaluating: Bool) -> TrainConfig {
        var c = config
        if evaluating && c.evalEvery == nil { c.evalEvery = max(1, (c.steps ?? 10) / 5) }
        return c
    }

    /// Memo key: the model (weights + adapter history), the data, every argument, Finch's version;
    /// empty when some input cannot be identified (then the run is not cached).
    func memoInputs(_ config: TrainConfig) -> [String] {
        guard let mf = handle.fingerprint, let df = data.fingerprint else { return [] }
        return [mf, df, evalData?.fingerprint ?? "-", "\(config)", textField, trainOn.rawValue, resume ?? "-"] + placement.memoInputs
    }

    /// Trains (on this process's device or over several GPUs), or restores a finished run of the same
    /// inputs from the notebook's memo cache. An interrupted run is returned but never cached.
    func run(_ data: PreparedData, _ config: TrainConfig, _ ctx: CallContext) throws -> (TrainResult, cached: Bool) {
        let inputs = memoInputs(config)
        var config = config
        // Folders resolve against the notebook's folder only now, so the memo key stays the same when it moves.
        config.checkpointDir = config.checkpointDir.map(ctx.resolvePath)
        var stepsDone = 0
        // A run that fails after some steps has changed the adapter: the model's identity says so
        // (memo keys, lora()'s refusal to discard it).
        let train: () throws -> TrainResult = {
            do { return try self.train(data, config, ctx, stepsDone: &stepsDone) } catch {
                if stepsDone > 0 {
                    handle.revision += 1
                    handle.adapterHistory.append("train(failed after \(stepsDone) steps, \(UUID().uuidString))")
                }
                throw error
            }
        }
        let result: TrainResult, cached: Bool
        if let memo = NotebookContext.of(ctx)?.memo, !inputs.isEmpty, placement.mayUseMemo {
            let adapter = model.network.trainableParameters
            struct NotFinished: Error { let result: TrainResult }
            do {
                (result, cached) = try memo.memoize("train", inputs: inputs,
                                                    write: { (r: TrainResult, path: String) in try TrainCache.write(r, adapter: adapter, to: path) },
                                                    read: { path in try TrainCache.read(from: path, into: adapter) },
                                                    compute: {
                    let r = try train()
                    if r.stopReason.isInterrupted { throw NotFinished(result: r) }
                    return r
                })
            } catch let e as NotFinished {
                (result, cached) = (e.result, false)
            }
        } else {
            (result, cached) = (try train(), false)
        }
        handle.revision += 1
        handle.adapterHistory.append("train(\(inputs.isEmpty ? UUID().uuidString : MemoCache.key("train", inputs)))")
        return (result, cached)
    }

    /// One run of the trainer, with the progress line, the memory estimate and the tracked run's log.
    func train(_ data: PreparedData, _ config: TrainConfig, _ ctx: CallContext, stepsDone: inout Int) throws -> TrainResult {
        let model = self.model, placement = self.placement, cfg = config
        let run = RunHandle.active(ctx)
        var first: Trainer?
        let announce: (Trainer) -> Void = { trainer in
            first = trainer
            ctx.output.writeError("training: \(data.train.count) rows, \(trainer.totalSteps) steps × \(cfg.batchSize)\(placement.ranksText) × \(cfg.gradAccum), lr \(cfg.lr) \(cfg.schedule.rawValue), \(cfg.optimizer.rawValue); \(groupDigits(model.network.trainableParameterCount)) trainable parameters; gradient checkpointing \(trainer.usesCheckpointing ? "on" : "off")\n")
            ctx.output.writeError(trainer.memoryEstimate.report(residentNow: currentResidentBytes(), peakSoFar: peakResidentBytes()) + "\n")
        }
        let progress = ProgressLine(ctx.output)
        var done = 0
        defer { stepsDone = done }
        let onStep: (StepMetrics) -> Void = { s in
            done = s.step
            var line = String(format: "step %d/%d  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %@", s.step, s.totalSteps, s.loss, s.lr,
                              s.gradNorm, s.tokensPerSecond, formatDuration(s.eta))
            if let e = s.evalLoss { line += String(format: "  eval %.4f", e) }
            progress.update(line, force: s.step == 1 || s.step == s.totalSteps || s.evalLoss != nil)
            if let run { logStep(s, initialEval: first?.initialEvalLoss, to: run.tracker) }
        }
        let stop = { ctx.interruptFlag.isRequested }
        let pad = TrainData.padId(tokenizer: model.tokenizer, eosIds: model.eosIds)
        let resumePath = resume.map(ctx.resolvePath)
        // Ctrl-C is acknowledged at once; the step in flight finishes (and checkpoints) first.
        let result = try ctx.interruptFlag.acknowledge("\nstopping after this step… (Ctrl-C again quits at once)\n") { () throws -> TrainResult in
            guard case .single = placement else {
                return try trainInParallel(placement, model: model.network, train: data.train, eval: data.eval, config: cfg, padId: pad,
                                           resume: resumePath, onStart: announce, onStep: onStep, shouldStop: stop)
            }
            let trainer = try Trainer(model: model.network, train: data.train, eval: data.eval, config: cfg, padId: pad)
            if let resumePath { try trainer.resume(from: resumePath) }
            announce(trainer)
            return try trainer.run(onStep: onStep, shouldStop: stop)
        }
        progress.finish()
        return result
    }

    /// The result line, the tracked run's artifacts, and Ctrl-C passed on to the cell once reported.
    func report(_ result: TrainResult, cached: Bool, _ ctx: CallContext) throws -> Value {
        let handle = TrainResultHandle(result, cached: cached)
        if cached {
            ctx.output.writeError("train: inputs unchanged — restored the trained adapter from the notebook cache (\(result.steps.count) steps, loss \(String(format: "%.4f", result.loss))); run with --fresh to retrain\n")
        } else {
            ctx.output.writeError("\(result)\n")
        }
        if let run = RunHandle.active(ctx) {
            // a restored run logs its steps once more: track() started this run's logs afresh (see RunTracker)
            if cached {
                for s in result.steps { logStep(s, initialEval: result.initialEvalLoss, to: run.tracker) }
            }
            handle.runArtifacts = try? run.tracker.finish()
            if let png = handle.runArtifacts?.png { ctx.output.writeError("loss curve: \(ctx.displayPath(png))\n") }
        }
        if result.stopReason.isInterrupted || ctx.interruptFlag.isRequested {
            ctx.output.writeError("training interrupted at step \(result.steps.count); the adapter keeps what it learned\(result.checkpointPath.map { "; checkpoint in \($0) — continue with train(..., resume=\"\($0)\")" } ?? "")\n")
            ctx.interruptFlag.request()
            try ctx.interruptFlag.check()
        }
        return ctx.shown(.object(handle))   // the result line above shows it
    }
}

/// One step's metrics into a tracked run; before the first step, the eval loss of the untrained
/// adapter as step 0 (when train has eval=), so the eval curve starts where training did.
func logStep(_ s: StepMetrics, initialEval: Float?, to tracker: RunTracker) {
    if s.step == 1, let e = initialEval { try? tracker.log(step: 0, [("eval_loss", Double(e))]) }
    var metrics: [(String, Double)] = [("loss", Double(s.loss)), ("lr", Double(s.lr)), ("grad_norm", Double(s.gradNorm)),
                                       ("tokens_per_second", s.tokensPerSecond)]
    if let e = s.evalLoss { metrics.append(("eval_loss", Double(e))) }
    try? tracker.log(step: s.step, metrics)
}
