import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

/// The one-call decoder (FastDecode.swift, CFinchKernels/decode.c) against the Tensor ops it replaces.
@Suite struct FastDecodeTests {
    /// A random Llama with the decoder's widths (multiples of 32), GQA 4/2, projections and head stored as `dtype`.
    static func model(_ dtype: DType, qkvBias: Bool = false, positions: Int = 64) throws -> Transformer {
        let json = """
        {"model_type": "\(qkvBias ? "qwen2" : "llama")", "vocab_size": 96, "hidden_size": 64, "intermediate_size": 128,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
         "rope_theta": 10000, "max_position_embeddings": \(positions), "tie_word_embeddings": false}
        """
        let config = try ModelConfig.fromHuggingFace(Data(json.utf8), file: "fast-decode/config.json")
        var rng = SplitMix64(seed: 19)
        func random(_ shape: [Int], scale: Float, offset: Float = 0, as type: DType = .f32) throws -> Tensor {
            let n = shape.reduce(1, *)
            let t = try Tensor((0..<n).map { _ in offset + (rng.nextFloat() * 2 - 1) * scale }, shape: shape)
            return try t.moved(to: .cpu, dtype: type)
        }
        var w: [String: Tensor] = [
            "model.embed_tokens.weight": try random([96, 64], scale: 1, as: .q8_0),
            "model.norm.weight": try random([64], scale: 0.2, offset: 1),
            "lm_head.weight": try random([96, 64], scale: 0.3, as: dtype),
        ]
        let shapes = [("self_attn.q_proj", 64, 64), ("self_attn.k_proj", 32, 64), ("self_attn.v_proj", 32, 64), ("self_attn.o_proj", 64, 64),
                      ("mlp.gate_proj", 128, 64), ("mlp.up_proj", 128, 64), ("mlp.down_proj", 64, 128)]
        for l in 0..<2 {
            let p = "model.layers.\(l)."
            w[p + "input_layernorm.weight"] = try random([64], scale: 0.2, offset: 1)
            w[p + "post_attention_layernorm.weight"] = try random([64], scale: 0.2, offset: 1)
            for (name, out, inF) in shapes {
                w[p + name + ".weight"] = try random([out, inF], scale: 2 / Float(inF).squareRoot(), as: dtype)
                if qkvBias && ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"].contains(name) {
                    w[p + name + ".bias"] = try random([out], scale: 0.1)
                }
            }
        }
        return try Transformer(config: config, weights: WeightSet(w, source: "fast-decode"), source: "fast-decode")
    }

    static let prompt: [Int32] = [3, 17, 42, 5, 88, 61, 7, 29, 12]
    static let fed: [Int32] = [40, 2, 95, 33, 71, 8]

    /// Logits of each fed token after the prompt: through the Tensor ops, or the decoder in `mode`.
    static func logits(_ model: Transformer, decoder mode: DecodeMode, prompt: [Int32] = prompt) throws -> [[Float]] {
        try GradMode.noGrad {
            let cache = KVCache(config: model.config, capacity: prompt.count + 32)
            _ = try model.lastLogits(ids: prompt, cache: cache)
            let decoder = mode == .ops ? nil : FastDecoder(model: model, cache: cache, mode: mode)
            if mode != .ops && decoder == nil { throw ModelError.invalidArgument("no decoder for \(mode)") }
            return try fed.map { id in
                if let decoder {
                    try decoder.step(id: id)
                    return decoder.logits.toArray()
                }
                return try model.lastLogits(ids: [id], cache: cache).toArray()
            }
        }
    }

    static func worst(_ a: [[Float]], _ b: [[Float]]) -> Float { zip(a, b).map { maxAbsDiff($0, $1) }.max() ?? .infinity }

    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func exactModeMatchesTheOpsAtEveryISA(dtype: DType) throws {
        let model = try Self.model(dtype)
        let reference = try Self.logits(model, decoder: .ops)
        for level in CPUISA.runnable {
            let got = try CPUISA.with(level) { try Self.logits(model, decoder: .exact) }
            #expect(Self.worst(got, reference) < 2e-4, "\(dtype) \(level): max |Δlogit| \(Self.worst(got, reference))")
        }
    }

    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func int8ModeIsCloseAndEveryISAMatchesScalar(dtype: DType) throws {
        let model = try Self.model(dtype)
        let reference = try Self.logits(model, decoder: .ops)
        let scalar = try CPUISA.with(.scalar) { try Self.logits(model, decoder: .int8) }
        // 8-bit activations: per block at most Σ|w|·d_x/2; here logits span ~±3 and move by a few 1e-2.
        let spread = reference.flatMap { $0 }.map(abs).max()!
        #expect(Self.worst(scalar, reference) < 0.05 * spread, "\(dtype): int8 vs f32 \(Self.worst(scalar, reference)) of \(spread)")
        for level in CPUISA.runnable where level != .scalar {
            // The same integer sums; only the order of the f32 scaling differs.
            let got = try CPUISA.with(level) { try Self.logits(model, decoder: .int8) }
            #expect(Self.worst(got, scalar) < 1e-4, "\(dtype) \(level) vs scalar: \(Self.worst(got, scalar))")
        }
    }

    @Test(arguments: [DType.q4_0, .q4_1, .q8_0])
    func int16ModeIsCloseToTheOpsAtEveryISA(dtype: DType) throws {
        let model = try Self.model(dtype)
        let reference = try Self.logits(model, decoder: .ops)
        // 16-bit activations: per block at most Σ|w|·d_x/2 with d_x = max|x|/32767, 256× finer than int8's.
        let spread = reference.flatMap { $0 }.map(abs).max()!
        for level in CPUISA.runnable {
            let got = try CPUISA.with(level) { try Self.logits(model, decoder: .int16) }
            #expect(Self.worst(got, reference) < 1e-3 * spread, "\(dtype) \(level): int16 vs f32 \(Self.worst(got, reference)) of \(spread)")
        }
    }

    @Test func qkvBiasesAreAdded() throws {
        let model = try Self.model(.q8_0, qkvBias: true)
        let reference = try Self.logits(model, decoder: .ops)
        #expect(Self.worst(try Self.logits(model, decoder: .exact), reference) < 2e-4)
    }

    @Test func generateRunsTheDecoderUnlessTheModelCannot() throws {
        let model = try Self.model(.q4_1)
        var o = GenerationOptions()
        o.maxTokens = 8
        o.decode = .ops
        let ops = try model.generate(prompt: Self.prompt, options: o)
        o.decode = .exact
        let exact = try model.generate(prompt: Self.prompt, options: o)
        #expect(exact.tokens == ops.tokens)
        o.decode = .int16
        #expect(try model.generate(prompt: Self.prompt, options: o).tokens == ops.tokens)
        // f32 weights have no block kernels: the decoder declines and the ops run.
        let f32 = try Self.model(.f32)
        #expect(FastDecoder(model: f32, cache: KVCache(config: f32.config, capacity: 4), mode: .int8) == nil)
        o.decode = .int8
        #expect(try f32.generate(prompt: Self.prompt, options: o).tokens.count == 8)
        // A LoRA adapter runs in the decoder, unless its dropout is on (the trainer's seed set): the ops apply that.
        model.layers[0].qProj.lora = LoRA(a: Tensor.zeros([4, 64]), b: Tensor.zeros([64, 4]), alpha: 4, dropout: 0.1)
        #expect(FastDecoder(model: model, cache: KVCache(config: model.config, capacity: 4), mode: .int8) != nil)
        model.layers[0].qProj.lora?.dropoutSeed = 7
        #expect(FastDecoder(model: model, cache: KVCache(config: model.config, capacity: 4), mode: .int8) == nil)
    }

    /// Adapters on all seven projections with B random (a fresh B is zero and would change nothing).
    static func attachAdapters(_ model: Transformer, rank: Int = 8, alpha: Float = 16, rsLoRA: Bool = false, seed: UInt64 = 5) throws {
        var config = LoRAConfig()
        config.rank = rank
        config.alpha = alpha
        config.useRSLoRA = rsLoRA
        config.seed = seed
        try model.attachLoRA(config)
        randomizeB(model, seed: seed)
    }

    /// B of every adapter rewritten in place, as an optimizer step does.
    static func randomizeB(_ model: Transformer, seed: UInt64, scale: Float = 0.3) {
        var rng = SplitMix64(seed: seed)
        for (_, linear) in model.namedProjections {
            guard let b = linear.lora?.b else { continue }
            for i in 0..<b.count { b.data[i] = (rng.nextFloat() * 2 - 1) * scale }
        }
    }

    @Test(arguments: [false, true])
    func adaptersOnEveryProjectionMatchTheOpsAtEveryISA(qkvBias: Bool) throws {
        for dtype in [DType.q4_1, .q8_0] {
            let model = try Self.model(dtype, qkvBias: qkvBias)
            let base = try Self.logits(model, decoder: .ops)
            try Self.attachAdapters(model, rsLoRA: qkvBias)  // both scalings: alpha/r and alpha/√r
            let reference = try Self.logits(model, decoder: .ops)
            let spread = reference.flatMap { $0 }.map(abs).max()!
            // The adapters move the logits far more than the tolerances below: a decoder without them fails.
            #expect(Self.worst(base, reference) > 0.1 * spread, "\(dtype): the adapters change little (\(Self.worst(base, reference)))")
            for level in CPUISA.runnable {
                let exact = try CPUISA.with(level) { try Self.logits(model, decoder: .exact) }
                #expect(Self.worst(exact, reference) < 2e-4, "\(dtype) \(level) exact: \(Self.worst(exact, reference))")
                let int16 = try CPUISA.with(level) { try Self.logits(model, decoder: .int16) }
                #expect(Self.worst(int16, reference) < 1e-3 * spread, "\(dtype) \(level) int16: \(Self.worst(int16, reference)) of \(spread)")
                let int8 = try CPUISA.with(level) { try Self.logits(model, decoder: .int8) }
                #expect(Self.worst(int8, reference) < 0.05 * spread, "\(dtype) \(level) int8: \(Self.worst(int8, reference)) of \(spread)")
            }
        }
    }

    @Test func adaptersOnSomeProjectionsWithMixedRanks() throws {
        let model = try Self.model(.q4_0)
        var rng = SplitMix64(seed: 23)
        for (i, layer) in model.layers.enumerated() {
            // Layer 0: q, v and down; layer 1: k, gate and up; ranks 1, 3 and 20 (wider than some inputs' blocks).
            let chosen = i == 0 ? [layer.qProj, layer.vProj, layer.downProj] : [layer.kProj, layer.gateProj, layer.upProj]
            for (linear, rank) in zip(chosen, [1, 3, 20]) {
                let lora = LoRA(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures, rank: rank, alpha: 8, rng: &rng)
                for j in 0..<lora.b.count { lora.b.data[j] = rng.nextFloat() - 0.5 }
                linear.lora = lora
            }
        }
        let reference = try Self.logits(model, decoder: .ops)
        for level in CPUISA.runnable {
            let got = try CPUISA.with(level) { try Self.logits(model, decoder: .exact) }
            #expect(Self.worst(got, reference) < 2e-4, "\(level): \(Self.worst(got, reference))")
        }
    }

    /// generate() builds its decoder from the adapters as they are when it starts: a training step (B changed
    /// in place), another adapter loaded (new tensors), a new scale and unloading all show in the next call.
    @Test(arguments: [DecodeMode.int16, .exact])
    func generateSeesEveryAdapterChange(mode: DecodeMode) throws {
        let model = try Self.model(.q8_0)
        var o = GenerationOptions()
        o.maxTokens = 12
        func both() throws -> (decoder: [Int32], ops: [Int32]) {
            o.decode = mode
            let fast = try model.generate(prompt: Self.prompt, options: o).tokens
            o.decode = .ops
            return (fast, try model.generate(prompt: Self.prompt, options: o).tokens)
        }
        let base = try both()
        #expect(base.decoder == base.ops)
        var seen = [base.ops]
        func check(_ what: String) throws {
            let now = try both()
            #expect(now.decoder == now.ops, "after \(what)")
            #expect(!seen.contains(now.ops), "\(what) did not change the greedy tokens: the check would not see a stale decoder")
            seen.append(now.ops)
        }
        try Self.attachAdapters(model, seed: 1)
        try check("attaching adapters")
        Self.randomizeB(model, seed: 2)
        try check("a training step")
        try Self.attachAdapters(model, rank: 4, seed: 3)
        try check("loading another adapter")
        for (_, linear) in model.namedProjections { linear.lora?.alpha *= 4 }
        try check("changing alpha")
        model.detachLoRA()
        let unloaded = try both()
        #expect(unloaded.decoder == unloaded.ops && unloaded.ops == base.ops, "after unloading")
        // Merged into the weights (f32 now: the decoder declines and the ops run the same function).
        try Self.attachAdapters(model, seed: 9)
        let adapted = try both()
        #expect(adapted.decoder == adapted.ops && adapted.ops != base.ops)
        for (_, linear) in model.namedProjections {
            linear.weight = try linear.mergedWeight()
            linear.lora = nil
        }
        let merged = try both()
        #expect(merged.decoder == adapted.ops && merged.ops == adapted.ops, "after merging")
    }

    @Test func stepRejectsBadTokensAndAFullCache() throws {
        let model = try Self.model(.q8_0)
        let cache = KVCache(config: model.config, capacity: 10)
        _ = try GradMode.noGrad { try model.lastLogits(ids: Self.prompt, cache: cache) }
        let decoder = try #require(FastDecoder(model: model, cache: cache, mode: .int8))
        #expect(throws: ModelError.self) { try decoder.step(id: 96) }
        #expect(throws: ModelError.self) { try decoder.step(id: -1) }
        try decoder.step(id: 1)
        #expect(cache.length == 10)
        #expect(throws: ModelError.self) { try decoder.step(id: 1) }
    }
}
