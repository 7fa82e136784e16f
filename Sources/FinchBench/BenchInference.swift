import Foundation
import FinchModels
import FinchTensor

/// `finch bench prefill` / `finch bench decode`: the embedded model's prompt processing and token
/// generation speed (the same measurements scripts/bench/llamacpp_bench.py makes with llama.cpp).
public enum BenchInference {
    public struct Result {
        public var prefillTokensPerSecond: [Double]
        public var decodeTokensPerSecond: [Double]
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// `repeats` runs of: prefill `promptTokens` tokens, then greedy-decode `decodeTokens` tokens.
    public static func run(model: Model, promptTokens: Int = 256, decodeTokens: Int = 128, repeats: Int = 3) throws -> Result {
        // A deterministic prompt of ordinary text tokens.
        let text = String(repeating: "The quick brown fox jumps over the lazy dog while the small bird sings in the old oak tree. ", count: 40)
        let ids = Array(model.tokenize(text).prefix(promptTokens)).map(Int32.init)
        var prefill: [Double] = [], decode: [Double] = []
        var opts = GenerationOptions()
        opts.maxTokens = decodeTokens
        for _ in 0..<(repeats + 1) {  // the first run warms up
            let r = try model.network.generate(prompt: ids, options: opts)
            prefill.append(r.prefillTokensPerSecond)
            decode.append(r.decodeTokensPerSecond)
        }
        return Result(prefillTokensPerSecond: Array(prefill.dropFirst()), decodeTokensPerSecond: Array(decode.dropFirst()))
    }

    public static func report(_ r: Result, promptTokens: Int, decodeTokens: Int) -> String {
        String(format: "finch: prefill %d tokens %.1f tokens/s (median of %@), decode %d tokens %.1f tokens/s (median of %@)",
               promptTokens, median(r.prefillTokensPerSecond), r.prefillTokensPerSecond.map { String(format: "%.1f", $0) }.joined(separator: " "),
               decodeTokens, median(r.decodeTokensPerSecond), r.decodeTokensPerSecond.map { String(format: "%.1f", $0) }.joined(separator: " "))
    }
}
