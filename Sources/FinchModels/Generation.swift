import Foundation
import FinchTensor

/// How to pick each next token. Greedy when `temperature` is 0.
public struct GenerationOptions: Sendable {
    public var maxTokens = 256
    public var temperature: Float = 0
    public var topK = 0
    public var topP: Float = 1
    public var minP: Float = 0
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0
    /// Generation ends after any of these ids (the model's EOS ids by default).
    public var stopIds: Set<Int32> = []
    /// How CPU decode steps run (`FINCH_DECODE`, default int16; see `DecodeMode`).
    public var decode: DecodeMode = .fromEnvironment

    public init() {}

    public func validate() throws {
        func bad(_ s: String) -> ModelError { .invalidArgument(s) }
        guard maxTokens >= 0 else { throw bad("max_tokens must be ≥ 0 (got \(maxTokens))") }
        guard temperature >= 0, temperature.isFinite else { throw bad("temperature must be ≥ 0 (got \(temperature))") }
        guard topK >= 0 else { throw bad("top_k must be ≥ 0 (got \(topK))") }
        guard topP > 0, topP <= 1 else { throw bad("top_p must be in (0, 1] (got \(topP))") }
        guard minP >= 0, minP < 1 else { throw bad("min_p must be in [0, 1) (got \(minP))") }
        guard repetitionPenalty > 0 else { throw bad("repetition_penalty must be > 0 (got \(repetitionPenalty))") }
    }
}

public struct GenerationResult: Sendable {
    /// `interrupted`: Ctrl-C (`LanguageModel.generate`'s shouldStop); the tokens so far are the result.
    public enum StopReason: String, Sendable { case eos, maxTokens = "max_tokens", stopped, contextFull = "context_full", interrupted }
    public var tokens: [Int32]
    public var stopReason: StopReason
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var decodeTokensPerSecond: Double { tokens.count > 1 ? Double(tokens.count - 1) / max(decodeSeconds, 1e-9) : 0 }
    public var prefillTokensPerSecond: Double { Double(promptTokens) / max(prefillSeconds, 1e-9) }
}

/// Picks tokens from logits in transformers' order: repetition penalty, temperature, top-k,
/// top-p, min-p; then samples (or takes the argmax when greedy).
public struct Sampler {
    public var options: GenerationOptions
    var rng: SplitMix64

    public init(options: GenerationOptions) {
        self.options = options
        rng = SplitMix64(seed: options.seed)
    }

    public mutating func next(logits: UnsafeMutablePointer<Float>, vocab: Int, history: [Int32]) -> Int32 {
        if options.repetitionPenalty != 1 {
            for id in Set(history) where Int(id) < vocab {
                let s = logits[Int(id)]
                logits[Int(id)] = s < 0 ? s * options.repetitionPenalty : s / options.repetitionPenalty
            }
        }
        if options.temperature == 0 {
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        // Candidates sorted by logit; top-k first bounds the sort.
        var candidates = (0..<vocab).map { Int32($0) }
        let k = options.topK > 0 ? min(options.topK, vocab) : vocab
        candidates.sort { logits[Int($0)] > logits[Int($1)] }
        candidates.removeSubrange(k...)
        let t = options.temperature
        let maxLogit = logits[Int(candidates[0])]
        var probs = candidates.map { expf((logits[Int($0)] - maxLogit) / t) }
        var total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        if options.topP < 1 {
            var cumulative: Float = 0
            var keep = probs.count
            for (i, p) in probs.enumerated() {
                cumulative += p
                if cumulative >= options.topP { keep = i + 1; break }
            }
            probs.removeSubrange(keep...)
            candidates.removeSubrange(keep...)
        }
        if options.minP > 0 {
            let threshold = options.minP * probs[0]
            let keep = max(1, probs.firstIndex(where: { $0 < threshold }) ?? probs.count)
            probs.removeSubrange(keep...)
            candidates.removeSubrange(keep...)
        }
        total = probs.reduce(0, +)
        var u = rng.nextFloat() * total
        for (i, p) in probs.enumerated() {
            u -= p
            if u <= 0 { return candidates[i] }
        }
        return candidates[candidates.count - 1]
    }
}

extension Transformer {
    /// Generates after `prompt`, calling `onToken` with each new id (return false to stop).
    public func generate(prompt: [Int32], options: GenerationOptions,
                         onToken: (Int32) -> Bool = { _ in true }) throws -> GenerationResult {
        try options.validate()
        guard !prompt.isEmpty else { throw ModelError.invalidArgument("the prompt is empty") }
        guard prompt.count < config.maxPositionEmbeddings else {
            throw ModelError.contextOverflow(tokens: prompt.count, limit: config.maxPositionEmbeddings)
        }
        return try GradMode.noGrad {
            let capacity = prompt.count + min(options.maxTokens, config.maxPositionEmbeddings - prompt.count)  // no overflow for huge max_tokens
            let cache = KVCache(config: config, capacity: capacity, device: device)
            var sampler = Sampler(options: options)
            var history = prompt
            var out: [Int32] = []
            let t0 = DispatchTime.now().uptimeNanoseconds
            var logits = try lastLogits(ids: prompt, cache: cache)
            let t1 = DispatchTime.now().uptimeNanoseconds
            // Decode steps in one call each where the model allows it (FastDecode.swift); else the Tensor ops.
            let decoder = options.maxTokens > 1 ? FastDecoder(model: self, cache: cache, mode: options.decode) : nil
            var reason = GenerationResult.StopReason.maxTokens
            while out.count < options.maxTokens {
                let hostLogits = try logits.moved(to: .cpu)  // the sampler runs on the host
                let id = sampler.next(logits: hostLogits.data, vocab: hostLogits.cols, history: history)
                out.append(id)
                history.append(id)
                if options.stopIds.contains(id) { reason = .eos; break }
                if !onToken(id) { reason = .stopped; break }
                if out.count == options.maxTokens { break }
                if cache.length >= capacity { reason = .contextFull; break }
                if let decoder {
                    try decoder.step(id: id)
                    logits = decoder.logits
                } else {
                    logits = try lastLogits(ids: [id], cache: cache)
                }
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            return GenerationResult(tokens: out, stopReason: reason, promptTokens: prompt.count,
                                    prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9)
        }
    }

    /// log p(token_i | tokens_<i) for i = 1..<n (length n − 1).
    public func logprobs(ids: [Int32]) throws -> [Float] {
        guard ids.count >= 2 else { return [] }
        return try GradMode.noGrad {
            let h = try hiddenStates(ids: ids, batch: 1, seqLen: ids.count)
            var out = [Float](repeating: 0, count: ids.count - 1)
            // Row chunks keep the (rows × V) logits small.
            let chunk = max(1, (32 << 20) / (config.vocabSize * 4))
            var r0 = 0
            while r0 < ids.count - 1 {
                let r1 = min(ids.count - 1, r0 + chunk)
                let lsm = try Ops.logSoftmax(try Ops.linear(try h.rowSlice(r0..<r1), lmHead)).moved(to: .cpu)
                for r in r0..<r1 { out[r] = lsm.data[(r - r0) * config.vocabSize + Int(ids[r + 1])] }
                r0 = r1
            }
            return out
        }
    }
}
