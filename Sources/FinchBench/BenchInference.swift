import Foundation
import FinchModels
import FinchTensor

/// `finch bench prefill` / `finch bench decode`: the model's prompt processing and greedy decode speed,
/// measured as scripts/bench/llamacpp_bench.py measures llama.cpp (scripts/bench/decode.sh runs both):
/// prefill of P tokens into a fresh cache; decode of N tokens after a 16-token and after a P-token prompt,
/// timing only the steps after the prompt (no prompt evaluation inside the decode timing).
public enum BenchInference {
    public struct Result {
        public var prefillTokensPerSecond: [Double]
        public var decodeAfterShort: [Double]
        public var decodeAfterLong: [Double]
        /// Decode tokens per second of process CPU time (all threads, spinning included): on a shared,
        /// overloaded machine wall-clock rates swing with the load, this much less (the peer script prints
        /// the same measure).
        public var decodeCPUAfterShort: [Double] = []
        public var decodeCPUAfterLong: [Double] = []
    }

    /// Seconds of CPU time used by the process so far.
    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// One greedy generation: (wall tokens/s, CPU tokens/s) of its decode steps (after the first token).
    static func decode(_ model: LanguageModel, _ prompt: [Int32], _ options: GenerationOptions) throws -> (Double, Double) {
        var cpuAtFirst = 0.0
        var n = 0
        let r = try model.network.generate(prompt: prompt, options: options) { _ in
            n += 1
            if n == 1 { cpuAtFirst = cpuSeconds() }
            return true
        }
        let cpu = cpuSeconds() - cpuAtFirst
        return (r.decodeTokensPerSecond, Double(r.tokens.count - 1) / max(cpu, 1e-9))
    }

    /// `--lora-rank`: adapters of `rank` on all seven projections, B random as after training (a fresh B is zero),
    /// so decode runs with the LoRA branches a notebook has after `train()`.
    public static func attachAdapters(_ model: LanguageModel, rank: Int) throws {
        var config = LoRAConfig()
        config.rank = rank
        try model.network.attachLoRA(config)
        var rng = SplitMix64(seed: 19)
        for (_, linear) in model.network.namedProjections {
            guard let b = linear.lora?.b, b.device == .cpu else { continue }
            for i in 0..<b.count { b.data[i] = (rng.nextFloat() * 2 - 1) * 0.01 }
        }
    }

    static func median(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.sorted()[xs.count / 2] }

    /// The prompt: ordinary text tokens (the same text as the peer script), cut to `count`.
    static func promptIds(_ model: LanguageModel, count: Int) -> [Int32] {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog while the small bird sings in the old oak tree. ", count: 40)
        return Array(model.tokenize(text).prefix(count)).map(Int32.init)
    }

    /// One warm-up, then `repeats` runs of each measurement.
    public static func run(model: LanguageModel, promptTokens: Int = 256, decodeTokens: Int = 64, repeats: Int = 3) throws -> Result {
        let ids = promptIds(model, count: promptTokens)
        var prefillOnly = GenerationOptions()
        prefillOnly.maxTokens = 1
        var decode = GenerationOptions()
        decode.maxTokens = decodeTokens
        _ = try model.network.generate(prompt: ids, options: prefillOnly)
        _ = try model.network.generate(prompt: Array(ids.prefix(16)), options: decode)
        var r = Result(prefillTokensPerSecond: [], decodeAfterShort: [], decodeAfterLong: [])
        for _ in 0..<repeats { r.prefillTokensPerSecond.append(try model.network.generate(prompt: ids, options: prefillOnly).prefillTokensPerSecond) }
        guard decodeTokens > 1 else { return r }
        for _ in 0..<repeats {
            let (wall, cpu) = try Self.decode(model, Array(ids.prefix(16)), decode)
            r.decodeAfterShort.append(wall)
            r.decodeCPUAfterShort.append(cpu)
        }
        for _ in 0..<repeats {
            let (wall, cpu) = try Self.decode(model, ids, decode)
            r.decodeAfterLong.append(wall)
            r.decodeCPUAfterLong.append(cpu)
        }
        return r
    }

    public static func report(_ r: Result, promptTokens: Int, decodeTokens: Int) -> String {
        func fmt(_ xs: [Double]) -> String { xs.map { String(format: "%.1f", $0) }.joined(separator: " ") }
        var line = String(format: "finch: prefill %d tokens %.1f tokens/s (%@)", promptTokens, median(r.prefillTokensPerSecond), fmt(r.prefillTokensPerSecond))
        if !r.decodeAfterShort.isEmpty {
            line += String(format: "; decode %d tokens after 16: %.1f tokens/s (%@); after %d: %.1f tokens/s (%@)",
                           decodeTokens, median(r.decodeAfterShort), fmt(r.decodeAfterShort),
                           promptTokens, median(r.decodeAfterLong), fmt(r.decodeAfterLong))
            line += String(format: "; per CPU-second: %.1f / %.1f", median(r.decodeCPUAfterShort), median(r.decodeCPUAfterLong))
        }
        return line + " [isa \(CPUISA.active), FINCH_DECODE=\(DecodeMode.fromEnvironment.rawValue)]"
    }
}
