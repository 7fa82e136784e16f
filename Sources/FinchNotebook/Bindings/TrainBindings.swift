import Foundation
import FinchSupport
import FinchHub
import FinchLang
import FinchModels
import FinchTensor
import FinchTrain

/// What `train` returns.
public final class TrainResultHandle: FinchObject {
    public let result: TrainResult
    public let cached: Bool
    public var runArtifacts: RunArtifacts?

    init(_ result: TrainResult, cached: Bool) {
        self.result = result
        self.cached = cached
    }

    public var typeName: String { "TrainResult" }
    public var description: String { result.description + (cached ? " [restored from cache]" : "") }
    public var attributeNames: [String] { ["loss", "first_loss", "eval_loss", "initial_eval_loss", "steps", "losses", "tokens_per_second", "wall_time", "peak_memory", "stop_reason", "trainable_params", "cached"] }

    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        let r = result
        switch name {
        case "loss": return .float(Double(r.loss))
        case "first_loss": return r.steps.first.map { .float(Double($0.loss)) } ?? .none
        case "eval_loss": return r.evalLoss.map { .float(Double($0)) } ?? .none
        case "initial_eval_loss": return r.initialEvalLoss.map { .float(Double($0)) } ?? .none
        case "steps":
            return .list(FinchList(r.steps.map { s in
                var pairs: [(String, Value)] = [("step", .int(s.step)), ("loss", .float(Double(s.loss))), ("lr", .float(Double(s.lr))),
                                                ("grad_norm", .float(Double(s.gradNorm))), ("tokens_per_second", .float(s.tokensPerSecond))]
                if let e = s.evalLoss { pairs.append(("eval_loss", .float(Double(e)))) }
                return .dict(FinchDict(pairs))
            }))
        case "losses": return .list(FinchList(r.steps.map { .float(Double($0.loss)) }))
        case "tokens_per_second": return .float(r.tokensPerSecond)
        case "wall_time": return .float(r.wallSeconds)
        case "peak_memory": return .int(r.peakResidentBytes)
        case "stop_reason": return .string(r.stopReason.description)
        case "trainable_params": return .int(r.trainableParameters)
        case "cached": return .bool(cached)
        default: return nil
        }
    }

    /// Curves for plots: train loss and, when evaluated, eval loss.
    var series: [Series] {
        var s = [Series(name: "train loss", points: result.steps.map { (Double($0.step), Double($0.loss)) })]
        if !result.evals.isEmpty {
            var pts = result.initialEvalLoss.map { [(0.0, Double($0))] } ?? []
            pts += result.evals.map { (Double($0.step), Double($0.loss)) }
            s.append(Series(name: "eval loss", points: pts))
        }
        return s
    }
}

/// A `track(...)` run: every `train` logs its steps here.
public final class RunHandle: FinchObject {
    public let tracker: RunTracker
    init(_ tracker: RunTracker) { self.tracker = tracker }
    public var typeName: String { "Run" }
    public var description: String { "Run(\(tracker.project)/\(tracker.run) → \(tracker.directory))" }
    public var attributeNames: [String] { ["project", "name", "directory"] }
    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        switch name {
        case "project": return .string(tracker.project)
        case "name": return .string(tracker.run)
        case "directory": return .string(tracker.directory)
        default: return nil
        }
    }
    static let key = "finch.activeRun"
    static func active(_ ctx: CallContext) -> RunHandle? { ctx.userInfo[key] as? RunHandle }
}

func registerTrainBindings(_ r: BuiltinRegistry) {
    r.register("lora",
               params: [.positional("model"), .keyword("r", default: .int(16)), .keyword("alpha", default: .int(16)),
                        .keyword("dropout", default: .float(0)), .keyword("targets", default: .list(FinchList(LoRAConfig.allTargets.map { .string($0) }))),
                        .keyword("rslora", default: .bool(false)), .keyword("seed", default: .int(3407)),
                        .keyword("replace", default: .bool(false))],
               doc: "Attach fresh LoRA adapters (A Kaiming-uniform, B zero) to the model's projections, in place: the model itself changes and is returned (m2 = lora(m) is the same model, not a copy). A model whose adapter was trained or loaded keeps it unless replace=true.",
               category: "training") { args, ctx in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            if let kept = m.adapterAtRisk, !(try args.bool("replace")) {
                throw FinchError("lora(): the model already has an adapter \(kept); a new lora() would discard it. Save it first with save(model, \"adapter-folder\"), or pass replace=true to discard it. (lora() changes the model in place: m2 = lora(m) is the same model, not a copy.)")
            }
            var lc = LoRAConfig()
            lc.rank = try args.int("r")
            lc.alpha = try args.float("alpha")
            lc.dropout = try args.float("dropout")
            lc.targets = try args.stringList("targets")
            lc.useRSLoRA = try args.bool("rslora")
            lc.seed = UInt64(truncatingIfNeeded: try args.int("seed"))
            try m.model.network.attachLoRA(lc)
            m.revision += 1
            m.adapterHistory.append("lora(r=\(lc.rank),a=\(lc.alpha),d=\(lc.dropout),t=\(lc.targets.joined(separator: ",")),rs=\(lc.useRSLoRA),seed=\(lc.seed))")
            let n = m.model.network.trainableParameterCount, total = m.model.config.parameterCount
            ctx.output.writeError(String(format: "LoRA r %d on %@: %@ trainable parameters (%.2f%% of %@)\n", lc.rank, lc.targets.joined(separator: ", "),
                                         groupDigits(n), 100 * Double(n) / Double(total), groupDigits(total)))
            return .object(m)
        }
    }

    r.register("load_adapter", params: [.positional("model"), .positional("path"), .keyword("trainable", default: .bool(true)),
                                        .keyword("replace", default: .bool(false)), .keyword("revision", default: .string("main"))],
               doc: "Attach a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) from a folder or a Hub repo id \"org/name\"; returns the model.",
               category: "training") { args, ctx in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            if let kept = m.adapterAtRisk, !(try args.bool("replace")) {
                throw FinchError("load_adapter(): the model already has an adapter \(kept); loading another would discard it. Save it first with save(model, \"adapter-folder\"), or pass replace=true to discard it.")
            }
            let path = try adapterFolder(try args.string("path"), revision: try args.string("revision"), ctx)
            try AdapterIO.load(into: m.model, from: path, trainable: try args.bool("trainable"))
            let digest = (try? Hashing.sha256Hex(file: URL(fileURLWithPath: path).appendingPathComponent("adapter_model.safetensors").path)) ?? path
            m.revision += 1
            m.adapterHistory.append("load_adapter(\(digest))")
            ctx.output.writeError("loaded adapter \(ctx.displayPath(path)): \(groupDigits(m.model.network.trainableParameterCount)) parameters\n")
            return .object(m)
        }
    }

    r.register("train",
               params: [.positional("model"), .positional("data"),
                        .keyword("steps", default: .none), .keyword("epochs", default: .none),
                        .keyword("batch_size", default: .int(2)), .keyword("grad_accum", default: .int(1)),
                        .keyword("lr", default: .float(2e-4)), .keyword("optimizer", default: .string("adamw")),
                        .keyword("weight_decay", default: .none), .keyword("momentum", default: .float(0)),
                        .keyword("schedule", default: .string("linear")), .keyword("warmup", default: .int(0)),
                        .keyword("max_grad_norm", default: .float(1.0)), .keyword("seed", default: .int(3407)),
                        .keyword("max_seq_length", default: .none), .keyword("packing", default: .bool(false)),
                        .keyword("text_field", default: .string("text")), .keyword("train_on", default: .string("auto")),
                        .keyword("eval", default: .none), .keyword("eval_every", default: .none), .keyword("early_stop", default: .none),
                        .keyword("gradient_checkpointing", default: .string("auto")),
                        .keyword("checkpoint_every", default: .none), .keyword("checkpoint_dir", default: .none),
                        .keyword("resume", default: .none), .keyword("devices", default: .none)],
               doc: "Fine-tune the model's LoRA adapters on a dataset's text column; returns a TrainResult (cached in notebooks). devices=\"all\" or [0, 1]: data parallel over those GPUs (batch_size per GPU).",
               category: "training") { args, ctx in
        try bridge { try runTrain(args, ctx) }
    }

    r.register("save",
               params: [.positional("model"), .positional("path"), .keyword("format", default: .string("adapter")),
                        .keyword("dtype", default: .string("bf16")), .keyword("quantize", default: .string("q8_0"))],
               doc: "Save the adapter (PEFT format), a merged Hugging Face model (format=\"merged\"), or a merged GGUF (format=\"gguf\").",
               category: "training") { args, ctx in
        try bridge {
            let m = try args.object("model", as: ModelValue.self)
            let given = try args.string("path")
            let path = ctx.resolvePath(given), shown = ctx.displayPath(path)
            // Data parallel processes hold equal adapters: rank 0 writes, the others would race it.
            if let launch = try currentLaunch(), launch.rank != 0 {
                ctx.output.writeError("rank \(launch.rank): save skipped (rank 0 of \(launch.worldSize) saves \(shown))\n")
                return ctx.shown(.string(given))
            }
            switch try args.string("format") {
            case "adapter":
                try AdapterIO.save(m.model, to: path)
                ctx.output.writeError("saved adapter to \(shown) (adapter_config.json, adapter_model.safetensors, README.md)\n")
            case "merged":
                guard let d = DType(rawValue: try args.string("dtype")), [.f32, .f16, .bf16].contains(d) else {
                    throw FinchError("save(): dtype must be \"bf16\", \"f16\" or \"f32\"")
                }
                if m.model.storageTypes.contains(where: { DType(rawValue: $0)?.isQuantized ?? false }) {
                    ctx.output.writeError("note: the base is quantized (\(m.model.storageTypes.joined(separator: "/"))); merging dequantizes it first\n")
                }
                try MergedExport.save(m.model, to: path, dtype: d)
                ctx.output.writeError("saved merged model to \(shown) (\(d.rawValue) safetensors, config, tokenizer)\n")
            case "gguf":
                guard let q = DType(rawValue: try args.string("quantize")), [.f16, .q8_0, .q4_0, .f32].contains(q) else {
                    throw FinchError("save(): quantize must be \"f16\", \"q8_0\" or \"q4_0\" for format=\"gguf\"")
                }
                try GGUFExport.save(m.model, to: path, quantize: q)
                ctx.output.writeError("saved merged GGUF (\(q.rawValue)) to \(shown)\n")
            case let other:
                throw FinchError("save(): format must be \"adapter\", \"merged\" or \"gguf\", got \"\(other)\"")
            }
            return ctx.shown(.string(given))   // the line above names it: the REPL does not echo it again
        }
    }

    r.register("track", params: [.positional("project"), .keyword("run", default: .none), .keyword("config", default: .dict(FinchDict()))],
               doc: "Start a tracked run: train() logs metrics to runs/PROJECT/RUN (metrics.jsonl, TensorBoard events, loss curve).",
               category: "training") { args, ctx in
        try bridge {
            let config = jsonFromValue(args["config"])
            let tracker = try RunTracker(project: try args.string("project"), run: try args.optionalString("run"), config: config,
                                         root: ctx.resolvePath("runs"))
            let h = RunHandle(tracker)
            ctx.userInfo[RunHandle.key] = h
            ctx.output.writeError("tracking run \(tracker.project)/\(tracker.run) in \(ctx.displayPath(tracker.directory))\n")
            return .object(h)
        }
    }

    r.register("plot", params: [.positional("result"), .keyword("title", default: .string("loss"))],
               doc: "Draw a TrainResult's loss curve: in the terminal, and as an image in the notebook transcript.",
               category: "training") { args, ctx in
        try bridge {
            let h = try args.object("result", as: TrainResultHandle.self)
            let series = h.series
            let color = ProcessInfo.processInfo.environment["NO_COLOR"] == nil && isatty(1) != 0
            ctx.output.write(Chart.terminal(series, width: 60, height: 12, color: color) + "\n")
            if let nb = NotebookContext.of(ctx), nb.imageDirectory != nil {
                let url = try nb.newImagePath(extension: "png")
                try AtomicFile.write(Chart.png(series), to: url.path)
            }
            return .none
        }
    }
}

func runTrain(_ args: Arguments, _ ctx: CallContext) throws -> Value {
    let m = try args.object("model", as: ModelValue.self)
    let data = try args.object("data", as: Dataset.self)
    let model = m.model
    guard model.network.loraConfig != nil else {
        throw FinchError("train(): the model has no adapters to train; call lora(model, r=16, alpha=16) first")
    }
    var cfg = TrainConfig()
    cfg.steps = try args.optionalInt("steps")
    cfg.epochs = try args.optionalDouble("epochs")
    if cfg.steps == nil && cfg.epochs == nil { cfg.epochs = 1 }
    cfg.batchSize = try args.int("batch_size")
    cfg.gradAccum = try args.int("grad_accum")
    cfg.lr = try args.float("lr")
    guard let opt = TrainConfig.OptimizerKind(rawValue: try args.string("optimizer")) else {
        throw FinchError("train(): optimizer must be \"adamw\" or \"sgd\"")
    }
    cfg.optimizer = opt
    cfg.weightDecay = try args.optionalFloat("weight_decay")
    cfg.momentum = try args.float("momentum")
    guard let schedule = Schedule(rawValue: try args.string("schedule")) else {
        throw FinchError("train(): schedule must be \"linear\", \"cosine\" or \"constant\"")
    }
    cfg.schedule = schedule
    cfg.warmup = try args.int("warmup")
    cfg.maxGradNorm = try args.optionalFloat("max_grad_norm")
    cfg.seed = UInt64(truncatingIfNeeded: try args.int("seed"))
    cfg.maxSeqLength = min(try args.optionalInt("max_seq_length") ?? min(model.maxSeqLength, 2048), model.config.maxPositionEmbeddings)
    cfg.packing = try args.bool("packing")
    cfg.evalEvery = try args.optionalInt("eval_every")
    cfg.earlyStopPatience = try args.optionalInt("early_stop")
    guard let gc = TrainConfig.Checkpointing(rawValue: try args.string("gradient_checkpointing")) else {
        throw FinchError("train(): gradient_checkpointing must be \"auto\", \"on\" or \"off\"")
    }
    cfg.gradientCheckpointing = gc
    cfg.checkpointEvery = try args.optionalInt("checkpoint_every")
    cfg.checkpointDir = try args.optionalString("checkpoint_dir")
    // Always somewhere to checkpoint: Ctrl-C finishes the step and saves there (resume= continues).
    if cfg.checkpointDir == nil { cfg.checkpointDir = "checkpoints/\(model.name.replacingOccurrences(of: "/", with: "--"))" }
    let resume = try args.optionalString("resume")
    // Several GPUs (TrainDevices.swift): checked against the machine before any work.
    let placement = try TrainPlacement.plan(try TrainDevices.parse(args["devices"]), modelDevice: model.network.device,
                                            gpuCount: cudaGPUCount, launch: try currentLaunch())
    let textField = try args.string("text_field")
    let trainOn = try args.string("train_on")
    guard ["auto", "all", "responses"].contains(trainOn) else { throw FinchError("train(): train_on must be \"responses\", \"all\" or \"auto\"") }

    let train = try examples(data, model: model, textField: textField, trainOn: trainOn, fn: "train")
    let evalData = try args.optionalObject("eval", as: Dataset.self)
    let eval = try evalData.map { try examples($0, model: model, textField: textField, trainOn: trainOn, fn: "train(eval=…)") } ?? []
    if !eval.isEmpty && cfg.evalEvery == nil { cfg.evalEvery = max(1, (cfg.steps ?? 10) / 5) }
    let pad = Int32(model.tokenizer.padTokenId ?? model.eosIds.first ?? 0)

    // Memo key: the model (weights + adapter history), the data, every argument, Finch's version.
    var inputs: [String] = []
    if let mf = m.fingerprint, let df = data.fingerprint {
        inputs = [mf, df, evalData?.fingerprint ?? "-", "\(cfg)", textField, trainOn, resume ?? "-"] + placement.memoInputs
    }
    // Folders resolve against the notebook's folder only now, so the memo key stays the same when it moves.
    cfg.checkpointDir = cfg.checkpointDir.map(ctx.resolvePath)
    let resumePath = resume.map(ctx.resolvePath)
    let memo = NotebookContext.of(ctx)?.memo
    let run = RunHandle.active(ctx)
    var stepsDone = 0

    let compute: () throws -> TrainResult = {
        var first: Trainer?
        let announce: (Trainer) -> Void = { trainer in
            first = trainer
            ctx.output.writeError("training: \(train.count) rows, \(trainer.totalSteps) steps × \(cfg.batchSize)\(placement.ranksText) × \(cfg.gradAccum), lr \(cfg.lr) \(cfg.schedule.rawValue), \(cfg.optimizer.rawValue); \(groupDigits(model.network.trainableParameterCount)) trainable parameters; gradient checkpointing \(trainer.usesCheckpointing ? "on" : "off")\n")
            ctx.output.writeError(trainer.memoryEstimate.report(residentNow: currentResidentBytes(), peakSoFar: peakResidentBytes()) + "\n")
        }
        let progress = ProgressLine(ctx.output)
        let onStep: (StepMetrics) -> Void = { s in
            stepsDone = s.step
            var line = String(format: "step %d/%d  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %@", s.step, s.totalSteps, s.loss, s.lr,
                              s.gradNorm, s.tokensPerSecond, formatDuration(s.eta))
            if let e = s.evalLoss { line += String(format: "  eval %.4f", e) }
            progress.update(line, force: s.step == 1 || s.step == s.totalSteps || s.evalLoss != nil)
            if let run { logStep(s, initialEval: first?.initialEvalLoss, to: run.tracker) }
        }
        let stop = { ctx.interruptFlag.isRequested }
        // Ctrl-C is acknowledged at once; the step in flight finishes (and checkpoints) first.
        let result = try ctx.interruptFlag.acknowledge("\nstopping after this step… (Ctrl-C again quits at once)\n") { () throws -> TrainResult in
            guard case .single = placement else {
                return try trainInParallel(placement, model: model.network, train: train, eval: eval, config: cfg, padId: pad, resume: resumePath,
                                           onStart: announce, onStep: onStep, shouldStop: stop)
            }
            let trainer = try Trainer(model: model.network, train: train, eval: eval, config: cfg, padId: pad)
            if let resumePath { try trainer.resume(from: resumePath) }
            announce(trainer)
            return try trainer.run(onStep: onStep, shouldStop: stop)
        }
        progress.finish()
        return result
    }

    let result: TrainResult
    var cached = false
    // A run that fails after some steps has changed the adapter: the model's identity says so
    // (memo keys, lora()'s refusal to discard it).
    let trainOrMark: () throws -> TrainResult = {
        do { return try compute() } catch {
            if stepsDone > 0 {
                m.revision += 1
                m.adapterHistory.append("train(failed after \(stepsDone) steps, \(UUID().uuidString))")
            }
            throw error
        }
    }
    if let memo, !inputs.isEmpty, placement.mayUseMemo {
        let params = model.network.trainableParameters
        // An interrupted run is returned but never cached as if it had finished.
        struct NotFinished: Error {}
        var partial: TrainResult?
        do {
            (result, cached) = try memo.memoize("train", inputs: inputs, encode: { r in
                try TrainCache.encode(r, params: params.map(\.tensor))
            }, decode: { data in
                try TrainCache.decode(data, params: params.map(\.tensor))
            }, compute: {
                let r = try trainOrMark()
                if r.stopReason.isInterrupted { partial = r; throw NotFinished() }
                return r
            })
        } catch is NotFinished {
            result = partial!
        }
    } else {
        result = try trainOrMark()
    }
    m.revision += 1
    m.adapterHistory.append("train(\(inputs.isEmpty ? UUID().uuidString : MemoCache.key("train", inputs)))")
    let handle = TrainResultHandle(result, cached: cached)
    if cached {
        ctx.output.writeError("train: inputs unchanged — restored the trained adapter from the notebook cache (\(result.steps.count) steps, loss \(String(format: "%.4f", result.loss))); run with --fresh to retrain\n")
    } else {
        ctx.output.writeError("\(result)\n")
    }
    if let run {
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

/// One step's metrics into a tracked run; before the first step, the eval loss of the untrained
/// adapter as step 0 (when train has eval=), so the eval curve starts where training did.
func logStep(_ s: StepMetrics, initialEval: Float?, to tracker: RunTracker) {
    if s.step == 1, let e = initialEval { try? tracker.log(step: 0, [("eval_loss", Double(e))]) }
    var metrics: [(String, Double)] = [("loss", Double(s.loss)), ("lr", Double(s.lr)), ("grad_norm", Double(s.gradNorm)),
                                       ("tokens_per_second", s.tokensPerSecond)]
    if let e = s.evalLoss { metrics.append(("eval_loss", Double(e))) }
    try? tracker.log(step: s.step, metrics)
}

/// Dataset rows → token ids and labels.
func examples(_ data: Dataset, model: LanguageModel, textField: String, trainOn: String, fn: String) throws -> [TrainExample] {
    let tok = model.tokenizer
    let eos = model.eosIds.first
    return try data.rows.enumerated().map { i, row in
        guard let v = row[.string(textField)] else {
            let cols = data.columns
            throw FinchError("\(fn): row \(i) has no '\(textField)' column\(suggestion(for: textField, among: cols).map { " (did you mean \($0)?)" } ?? ""); columns: \(cols.joined(separator: ", ")). Map the data through a prompt style (data.map(style)) or pass text_field=")
        }
        guard case .string(let text) = v else { throw FinchError("\(fn): row \(i) field '\(textField)' is a \(v.typeName), not a string") }
        var start: Int?
        if case .int(let s)? = row[.string("_response_start")] { start = s }
        if trainOn == "responses" && start == nil {
            throw FinchError("\(fn): train_on=\"responses\" needs rows mapped through a prompt style (data.map(style)); row \(i) has no response marker")
        }
        var ids: [Int32] = []
        if tok.addBosToken, let b = tok.bosTokenId { ids.append(Int32(b)) }
        var promptLen = ids.count
        if let start, !(0...text.count).contains(start) {
            throw FinchError("\(fn): row \(i) has _response_start \(start), outside its text (0...\(text.count)); map the rows through a prompt style (data.map(style)) instead of setting it by hand")
        }
        if let start, trainOn != "all" {
            let cut = text.index(text.startIndex, offsetBy: start)
            ids += tok.encode(String(text[..<cut])).map(Int32.init)
            promptLen = ids.count
            ids += tok.encode(String(text[cut...])).map(Int32.init)
        } else {
            ids += tok.encode(text).map(Int32.init)
            promptLen = 0
        }
        // Rows rendered by a prompt style end with EOS, so the model learns to stop.
        if start != nil, let eos, ids.last != Int32(eos) { ids.append(Int32(eos)) }
        return promptLen > 0 ? TrainExample(ids: ids, responseStart: promptLen) : TrainExample(ids: ids)
    }
}

/// The memo-cache encoding of a finished training run: a JSON header (metrics) and the adapter's f32 values.
enum TrainCache {
    typealias Header = TrainCacheFormat.Header

    static func encode(_ r: TrainResult, params: [Tensor]) throws -> Data {
        let h = Header(steps: r.steps, evals: r.evals.map { [Double($0.step), Double($0.loss)] }, initialEval: r.initialEvalLoss,
                       wall: r.wallSeconds, tokens: r.tokens, peak: r.peakResidentBytes, stopReason: r.stopReason.description,
                       trainable: r.trainableParameters, counts: params.map(\.count))
        let json = try JSONEncoder().encode(h)
        var data = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(json)
        for p in params { p.toArray().withUnsafeBufferPointer { data.append($0) } }
        return data
    }

    static func decode(_ data: Data, params: [Tensor]) throws -> TrainResult {
        // Every field is checked (TrainCacheFormat.parse) before the adapter changes: a corrupt entry is an
        // error (discarded and recomputed by MemoCache), never a trap and never half-applied.
        let parsed: (header: TrainCache.Header, evals: [(Int, Float)], values: Range<Int>)
        do { parsed = try TrainCacheFormat.parse(data, counts: params.map(\.count)) } catch let e as TrainCacheFormat.Corrupt { throw FinchError(e.description) }
        let (h, evals, values) = parsed
        let r = TrainResult()
        r.steps = h.steps
        r.evals = evals
        r.initialEvalLoss = h.initialEval
        r.wallSeconds = h.wall
        r.tokens = h.tokens
        r.peakResidentBytes = h.peak
        r.stopReason = TrainStopReason(description: h.stopReason) ?? .completed
        r.trainableParameters = h.trainable
        // Validate, then change: the adapter is written only once the whole entry has been read.
        let bytes = Data(data)  // indices from 0 even for a slice
        var offset = values.lowerBound
        for p in params {
            try p.assign(bytes.subdata(in: offset..<(offset + p.count * 4)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            offset += p.count * 4
        }
        try DeviceErrors.check()
        return r
    }
}

func groupDigits(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

func jsonFromValue(_ v: Value) -> JSON {
    switch v {
    case .none: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .float(let d): return .double(d)
    case .string(let s): return .string(s)
    case .list(let l): return .array(l.items.map(jsonFromValue))
    case .dict(let d):
        return .object(d.pairs.map { k, v in
            if case .string(let s) = k { return (s, jsonFromValue(v)) }
            return ("\(k)", jsonFromValue(v))
        })
    default: return .string("\(v)")
    }
}
