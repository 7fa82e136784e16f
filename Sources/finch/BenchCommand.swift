import ArgumentParser
import FinchBench
import FinchCUDA
import FinchTensor
import FinchModels
import FinchNotebook
import FinchTrain

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Finch's speed (see BENCHMARKS.md).",
        subcommands: [Ops.self, Train.self, Prefill.self, Decode.self]
    )

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Engine matrix products next to raw cblas_sgemm, and element-wise throughput.")
        @Option(help: "Rows of the activations (tokens).") var rows = 1024
        @Option(help: "Seconds spent timing each row.") var budget = 0.4

        func run() throws {
            let rows = try BenchOps.run(rows: rows, budget: budget)
            try DeviceErrors.check()  // numbers measured after a device failure mean nothing
            print(BenchOps.format(rows))
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "LoRA training tokens/s on a SmolLM2-135M-shaped model (r 16, all seven projections, AdamW).")
        @Option(help: "Sequences per step.") var batch = 4
        @Option(help: "Tokens per sequence.") var seqLen = 256
        @Option(help: "Timed steps (after one warm-up step).") var steps = 5
        @Option(help: "Measured runs (each between two measurements of the ceiling); with more than one, the median and range follow.")
        var repeats = 1
        @Option(help: ArgumentHelp("After each run, also measure the rate one training product sustains back to back for this many seconds, and print the % of it (0: off).",
                                   valueName: "seconds"))
        var sustained = 0.0
        @Option(help: "Gradient checkpointing: auto, on, off.") var checkpointing = "auto"
        @Option(help: "Where to train: cpu or cuda (cuda:N).") var device = "cpu"
        @Option(help: "Model shape: smollm2 (135M) or llama8b (Llama-3.1-8B).") var shape = "smollm2"
        @Option(help: "Frozen weight type on a GPU: bf16, q4_0 or nf4.") var weights = "bf16"
        @Option(help: "Also time greedy decoding of this many tokens (GPU).") var decodeTokens = 0
        @Option(help: "A Python with torch, transformers and peft: run scripts/bench/peft_train.py with the same batch, sequence length and steps between two Finch runs, and print the ratio.")
        var peer: String?
        @Option(help: "The peer script (default: scripts/bench/peft_train.py of the working directory or of this checkout).")
        var peerScript: String?

        func validate() throws {
            guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1 (got \(repeats))") }
            guard sustained >= 0, sustained <= 600 else { throw ValidationError("--sustained must be 0 to 600 seconds (got \(sustained))") }
        }

        func run() throws {
            guard let frozen = DType(rawValue: weights), [.bf16, .q4_0, .nf4].contains(frozen) else {
                throw ValidationError("--weights must be bf16, q4_0 or nf4 (got \"\(weights)\")")
            }
            let dev = try BenchDevice.activate(device)
            let config = shape == "llama8b" ? BenchDevice.llama8BConfig : BenchTrain.smolConfig
            let model = dev == .cpu ? try BenchTrain.randomModel(config)
                : try BenchDevice.randomModel(config, device: dev, dtype: frozen)
            if decodeTokens > 0 {
                let (p, d) = try BenchDevice.decode(model: model, promptTokens: 128, tokens: decodeTokens)
                try DeviceErrors.check()
                print(String(format: "finch decode on %@: prefill %.1f tokens/s, decode %.1f tokens/s", "\(dev)", p, d))
            }
            let mode = TrainConfig.Checkpointing(rawValue: checkpointing) ?? .auto
            var runs: [BenchTrain.Measured] = []
            for _ in 0..<repeats { runs.append(try trainAndReport(model: model, config: config, device: dev, mode: mode)) }
            if let peer {
                let first = runs[runs.count - 1].tokensPerSecond  // the run just before the peer
                // Finch, the peer, Finch again: the machine's drift shows in the two Finch runs.
                let script = try BenchPeer.script(peerScript)
                let p = try BenchPeer.run(python: peer, script: script, batch: batch, seqLen: seqLen, steps: steps)
                print("peer: " + p.line)
                let last = try trainAndReport(model: model, config: config, device: dev, mode: mode)
                runs.append(last)
                let second = last.tokensPerSecond
                let ratios = [first, second].map { $0 / p.tokensPerSecond }
                print(String(format: "finch / peer: %.2f–%.2f× (finch %.1f and %.1f tokens/s around the peer's %.1f)",
                             ratios.min()!, ratios.max()!, first, second, p.tokensPerSecond))
            }
            if let summary = BenchTrain.summary(runs) { print(summary) }
            if case let .cuda(n) = dev, let b = CUDA.backend(n), b.profiling { print(b.profileReport()) }
        }

        /// One measured training run (on the CPU between two measurements of the ceiling, the best f32 product
        /// rate of this run: a machine whose speed drifts during the run is judged against its faster moment)
        /// and its report lines; returns its tokens/s and, on the CPU, its % of the ceiling.
        func trainAndReport(model: Transformer, config: ModelConfig, device dev: Device,
                            mode: TrainConfig.Checkpointing) throws -> BenchTrain.Measured {
            let before = dev == .cpu ? try BenchCeiling.gflops(config) : nil
            let r = try BenchTrain.run(model: model, batch: batch, seqLen: seqLen, steps: steps, checkpointing: mode)
            try DeviceErrors.check()
            // The profile of the timed steps only: the ceiling measured next runs products too.
            let profile = Profiler.enabled ? Profiler.report() : nil
            let after = dev == .cpu ? try BenchCeiling.gflops(config) : nil
            print(String(format: "finch on %@: %.1f tokens/s (steps %@ s), peak RSS %.2f GiB, engine peak %.2f GiB, checkpointing %@; "
                         + "per step %.0f page faults, %.0f buffers from the system",
                         "\(dev)", r.tokensPerSecond, r.stepSeconds.map { String(format: "%.2f", $0) }.joined(separator: " "),
                         Double(r.peakResident) / 1073741824, Double(r.peakEngine) / 1073741824, r.checkpointing ? "on" : "off",
                         r.pageFaultsPerStep, r.systemAllocationsPerStep))
            var percent: Double?
            let flops = BenchCeiling.flopsPerToken(config, seqLen: seqLen)
            if let before, let after {
                let (best, countsBLAS) = BenchCeiling.ceiling(engine: [before.engine, after.engine], blas: [before.blas, after.blas],
                                                              active: CPUISA.active, supported: CPUISA.supported)
                let p = 100 * r.tokensPerSecond * flops / (best * 1e9)
                percent = p
                let blasNote = countsBLAS ? "" : " at the CPU's own level \(CPUISA.supported), not counted"
                print(String(format: "ceiling %.1f GFLOP/s (best f32 product in this run, before and after the steps: engine %.1f and %.1f, "
                             + "OpenBLAS %.1f and %.1f%@; isa %@); %.3f GFLOP per token (attention included) → %.1f %% of the ceiling",
                             best, before.engine, after.engine, before.blas, after.blas, blasNote, "\(CPUISA.active)", flops / 1e9,
                             p))
            }
            var sustainedPercent: Double?
            if dev == .cpu, sustained > 0 {
                let rate = try BenchCeiling.sustainedGflops(config, seconds: sustained)
                let p = 100 * r.tokensPerSecond * flops / (rate * 1e9)
                sustainedPercent = p
                print(String(format: "sustained %.1f GFLOP/s (x·Wᵀ, 1024 × %d → %d over a pre-packed W, back to back for %.1f s after the steps) → %.1f %% of it",
                             rate, config.hiddenSize, config.intermediateSize, sustained, p))
            }
            if let profile {
                print(String(format: "profile of the %d timed steps (%.3f s; nested lines, such as the products inside linear cross-entropy, count twice):",
                             r.stepSeconds.count, r.stepSeconds.reduce(0, +)))
                print(profile)
                Profiler.reset()
            }
            return BenchTrain.Measured(tokensPerSecond: r.tokensPerSecond, percentOfCeiling: percent, percentOfSustained: sustainedPercent)
        }
    }

    struct Prefill: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prompt processing tokens/s of a model (default: the embedded one).")
        @Option(help: "Model (path, Hub id, or smollm2).") var model = "smollm2"
        @Option(help: "Prompt tokens.") var tokens = 256
        @Option(help: "Timed runs.") var repeats = 3
        func run() throws {
            let m = try ModelLoader.load(model, options: hubOptions)
            let r = try BenchInference.run(model: m, promptTokens: tokens, decodeTokens: 1, repeats: repeats)
            try DeviceErrors.check()
            print(BenchInference.report(r, promptTokens: tokens, decodeTokens: 1))
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prefill and greedy decode tokens/s of a model (default: the embedded one).")
        @Option(help: "Model (path, Hub id, or smollm2).") var model = "smollm2"
        @Option(help: "Prompt tokens.") var promptTokens = 256
        @Option(help: "Generated tokens.") var tokens = 64
        @Option(help: "Timed runs.") var repeats = 3
        @Option(help: "Attach LoRA adapters of this rank to all seven projections (B random, as after training); 0: none.") var loraRank = 0
        func run() throws {
            let m = try ModelLoader.load(model, options: hubOptions)
            if loraRank > 0 { try BenchInference.attachAdapters(m, rank: loraRank) }
            let r = try BenchInference.run(model: m, promptTokens: promptTokens, decodeTokens: tokens, repeats: repeats)
            try DeviceErrors.check()
            print(BenchInference.report(r, promptTokens: promptTokens, decodeTokens: tokens) + (loraRank > 0 ? " [LoRA r=\(loraRank) on all 7 projections]" : ""))
            if Profiler.enabled { print(Profiler.report()) }
        }
    }
}

/// Hub ids load through the Hub cache, as in a notebook.
private var hubOptions: LoadOptions {
    var o = LoadOptions()
    o.hubResolver = hubModelResolver
    return o
}
