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
            let config = try args["config"].json()
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

func groupDigits(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}
