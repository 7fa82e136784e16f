import Foundation
import FinchTensor

// The Llama decoder, as transformers' modeling_llama.py defines it (Mistral and Qwen2 are this
// decoder with other settings: Qwen2 adds q/k/v biases and usually ties embeddings):
//
//   h = embed(ids)                                        (B·T, C)
//   for each layer:
//     a = rmsnorm(h) → q, k, v projections → rotary on q, k → causal GQA attention → o_proj
//     h = h + a
//     m = rmsnorm(h) → down(silu(gate(·)) ⊙ up(·))
//     h = h + m
//   logits = rmsnorm(h) · lm_headᵀ                        (B·T, V)

/// One decoder layer.
public final class DecoderLayer {
    public let index: Int
    public let inputNorm: Tensor
    public let postAttentionNorm: Tensor
    public let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
    public let gateProj: Linear, upProj: Linear, downProj: Linear

    init(index: Int, weights: WeightSet, config: ModelConfig) throws {
        self.index = index
        let p = "model.layers.\(index)."
        let c = config.hiddenSize, d = config.headDim
        let qOut = config.numAttentionHeads * d, kvOut = config.numKeyValueHeads * d, f = config.intermediateSize
        inputNorm = try weights.take(p + "input_layernorm.weight", [c])
        postAttentionNorm = try weights.take(p + "post_attention_layernorm.weight", [c])
        func linear(_ name: String, _ out: Int, _ inF: Int, bias: Bool, id: UInt64) throws -> Linear {
            Linear(weight: try weights.take(p + name + ".weight", [out, inF]),
                   bias: bias ? try weights.take(p + name + ".bias", [out]) : nil,
                   layerId: UInt64(index) << 8 | id)
        }
        qProj = try linear("self_attn.q_proj", qOut, c, bias: config.qkvBias, id: 0)
        kProj = try linear("self_attn.k_proj", kvOut, c, bias: config.qkvBias, id: 1)
        vProj = try linear("self_attn.v_proj", kvOut, c, bias: config.qkvBias, id: 2)
        oProj = try linear("self_attn.o_proj", c, qOut, bias: config.oBias, id: 3)
        gateProj = try linear("mlp.gate_proj", f, c, bias: config.mlpBias, id: 4)
        upProj = try linear("mlp.up_proj", f, c, bias: config.mlpBias, id: 5)
        downProj = try linear("mlp.down_proj", c, f, bias: config.mlpBias, id: 6)
    }

    /// Where a projection sits in the layer, in Hugging Face naming ("self_attn.q_proj", "mlp.up_proj").
    public static func modulePath(_ projection: String) -> String {
        (["gate_proj", "up_proj", "down_proj"].contains(projection) ? "mlp." : "self_attn.") + projection
    }

    /// The projections by their Hugging Face module names.
    public var projections: [(String, Linear)] {
        [("q_proj", qProj), ("k_proj", kProj), ("v_proj", vProj), ("o_proj", oProj),
         ("gate_proj", gateProj), ("up_proj", upProj), ("down_proj", downProj)]
    }

    /// x (B·T, C) → (B·T, C)
    func callAsFunction(_ x: Tensor, model: Transformer, batch: Int, seqLen: Int, positions: [Int32], cache: KVCache?) throws -> Tensor {
        let cfg = model.config
        let h = try Ops.rmsNorm(x, weight: inputNorm, eps: cfg.rmsNormEps)
        let qkv = try Linear.applyShared([qProj, kProj, vProj], to: h)
        let q = try Ops.rope(qkv[0], table: model.rope, positions: positions, heads: cfg.numAttentionHeads)
        var k = try Ops.rope(qkv[1], table: model.rope, positions: positions, heads: cfg.numKeyValueHeads)
        var v = qkv[2]
        var p = AttentionParams(batch: batch, seqLen: seqLen, heads: cfg.numAttentionHeads, kvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim)
        if let cache {
            p.queryOffset = cache.length
            (k, v) = try cache.append(layer: index, k: k, v: v)
            p.keyLen = k.rows
        }
        let a = try oProj(try Ops.attention(q: q, k: k, v: v, p))
        let (x2, m) = try Ops.addRMSNorm(x, a, weight: postAttentionNorm, eps: cfg.rmsNormEps)
        let gateUp = try Linear.applyShared([gateProj, upProj], to: m)
        let ff = try downProj.afterSwiGLU(gate: gateUp[0], up: gateUp[1])
        return try Ops.add(x2, ff)
    }
}

/// A decoder-only language model of the Llama family.
public final class Transformer {
    public let config: ModelConfig
    public let embedTokens: Tensor
    public let layers: [DecoderLayer]
    public let norm: Tensor
    /// The output head; the same tensor as `embedTokens` when embeddings are tied.
    public var lmHead: Tensor
    public let rope: RopeTable
    /// Where the weights came from (a file or folder), for messages.
    public let source: String

    public init(config: ModelConfig, weights: WeightSet, source: String) throws {
        try config.validate(file: source)
        self.config = config
        self.source = source
        let c = config.hiddenSize
        embedTokens = try weights.take("model.embed_tokens.weight", [config.vocabSize, c])
        layers = try (0..<config.numHiddenLayers).map { try DecoderLayer(index: $0, weights: weights, config: config) }
        norm = try weights.take("model.norm.weight", [c])
        if config.tieWordEmbeddings {
            lmHead = weights.optional("lm_head.weight") ?? embedTokens
        } else {
            lmHead = try weights.take("lm_head.weight", [config.vocabSize, c])
        }
        rope = RopeTable(headDim: config.headDim, maxPositions: config.maxPositionEmbeddings, theta: config.ropeTheta, scaling: config.ropeScaling)
    }

    /// Where the weights live (every op runs there).
    public var device: Device { norm.device }

    /// Whether to recompute each layer in the backward instead of keeping its activations.
    public var gradientCheckpointing = false
    /// The settings of the attached adapters, if any.
    public var loraConfig: LoRAConfig?

    /// The final hidden states (after the last norm) for `batch` sequences of `seqLen` tokens laid
    /// out row by row. With a cache (batch 1), positions continue from the cached tokens.
    public func hiddenStates(ids: [Int32], batch: Int, seqLen: Int, cache: KVCache? = nil) throws -> Tensor {
        guard ids.count == batch * seqLen, batch > 0, seqLen > 0 else {
            throw ModelError.invalidArgument("expected \(batch) × \(seqLen) token ids, got \(ids.count)")
        }
        guard cache == nil || batch == 1 else { throw ModelError.invalidArgument("a KV cache holds one sequence") }
        let start = cache?.length ?? 0
        guard start + seqLen <= config.maxPositionEmbeddings else {
            throw ModelError.contextOverflow(tokens: start + seqLen, limit: config.maxPositionEmbeddings)
        }
        var positions = [Int32](repeating: 0, count: ids.count)
        for b in 0..<batch { for t in 0..<seqLen { positions[b * seqLen + t] = Int32(start + t) } }
        var h = try Ops.embedding(embedTokens, ids: ids)
        for layer in layers {
            if gradientCheckpointing && cache == nil && GradMode.isEnabled {
                h = try checkpoint([h]) { [unowned self] inp in
                    try layer(inp[0], model: self, batch: batch, seqLen: seqLen, positions: positions, cache: nil)
                }
            } else {
                h = try layer(h, model: self, batch: batch, seqLen: seqLen, positions: positions, cache: cache)
            }
        }
        cache?.advance(by: seqLen)
        return try Ops.rmsNorm(h, weight: norm, eps: config.rmsNormEps)
    }

    /// Logits (B·T, V) for every position.
    public func logits(ids: [Int32], batch: Int = 1, seqLen: Int? = nil, cache: KVCache? = nil) throws -> Tensor {
        let t = seqLen ?? ids.count / max(1, batch)
        let h = try hiddenStates(ids: ids, batch: batch, seqLen: t, cache: cache)
        return try Ops.linear(h, lmHead)
    }

    /// Logits (1, V) of the last position only (generation).
    public func lastLogits(ids: [Int32], cache: KVCache?) throws -> Tensor {
        let h = try hiddenStates(ids: ids, batch: 1, seqLen: ids.count, cache: cache)
        return try Ops.linear(try h.rowSlice((h.rows - 1)..<h.rows), lmHead)
    }

    /// The summed next-token cross-entropy of `labels` (aligned with `ids`, -100 = ignored; the
    /// shift happens here as in transformers) and the number of counted tokens.
    public func loss(ids: [Int32], labels: [Int32], batch: Int, seqLen: Int) throws -> (sum: Tensor, count: Int) {
        guard labels.count == ids.count else { throw ModelError.invalidArgument("labels and ids differ in length") }
        let h = try hiddenStates(ids: ids, batch: batch, seqLen: seqLen)
        var targets = [Int32](repeating: -100, count: labels.count)
        for b in 0..<batch {
            for t in 0..<(seqLen - 1) { targets[b * seqLen + t] = labels[b * seqLen + t + 1] }
        }
        let (sum, count) = try Ops.linearCrossEntropy(hidden: h, weight: lmHead, labels: targets)
        return (sum, count)
    }

    /// Every linear projection with its HF module path (`model.layers.N.self_attn.q_proj`).
    public var namedProjections: [(String, Linear)] {
        layers.flatMap { layer in
            layer.projections.map { (name, lin) in ("model.layers.\(layer.index).\(DecoderLayer.modulePath(name))", lin) }
        }
    }
}

/// Named weights in Hugging Face naming, handed to the model as it is built. Checks each shape.
public final class WeightSet {
    public private(set) var tensors: [String: Tensor]
    public let source: String

    public init(_ tensors: [String: Tensor], source: String) {
        self.tensors = tensors
        self.source = source
    }

    public func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelError.missingWeight(name: name, source: source) }
        guard t.shape == shape else { throw ModelError.weightShape(name: name, expected: shape, got: t.shape, source: source) }
        // Norm weights and biases are small and read by f32 kernels: decode them once.
        if shape.count == 1 && t.dtype != .f32 { return try t.moved(to: t.device, dtype: .f32) }
        return t
    }

    public func optional(_ name: String) -> Tensor? { tensors[name] }

    public func replace(_ name: String, with t: Tensor) { tensors[name] = t }
}
