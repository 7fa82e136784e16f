import CFinchKernels
import Foundation
import FinchTensor

/// How generation runs its decode steps on the CPU (`FINCH_DECODE`):
/// - `int16` (default): the one-call decoder (CFinchKernels/decode.c) with activations quantized to 16-bit blocks
///   and integer dot products (about `int8`'s speed; each mat-vec within ~1e-4 of `exact`, greedy text equals
///   transformers' on the reference prompts; RealModelSmolLM2Tests).
/// - `exact`: the same decoder with f32 activations against weight blocks decoded in registers: transformers'
///   numbers up to summation order.
/// - `int8`: the same decoder with activations quantized to 8-bit blocks and integer dot products (llama.cpp's
///   arithmetic; faster). Logprobs move by up to ~0.7 against transformers on the fixture texts and greedy text
///   can part from transformers' within 10 tokens, so it is opt-in.
/// - `ops`: the Tensor ops, one per node (the reference path; also what runs where the decoder cannot:
///   weight types without kernels, adapters with dropout switched on, another device).
/// LoRA adapters run in the decoder as f32 branches in every mode (y += scale · B·(A·x̂)). The decoder reads the
/// adapters when each generation starts it, so training, load_adapter, unload and merge between calls are seen.
/// Prefill, `logprobs`, losses and training never use the decoder.
public enum DecodeMode: String, Sendable {
    case int16, int8, exact, ops

    public static var fromEnvironment: DecodeMode {
        DecodeMode(rawValue: ProcessInfo.processInfo.environment["FINCH_DECODE"] ?? "") ?? .int16
    }
}

/// The one-call decoder bound to a model's weights and one KV cache.
final class FastDecoder {
    private let handle: OpaquePointer
    private let mode: Int32
    private let model: Transformer
    private let cache: KVCache
    private let embedding: UnsafeMutablePointer<Float>
    /// The adapters whose tensors the decoder reads (kept alive with it, should a projection get another).
    private let adapters: [LoRA]
    let logits: Tensor

    /// Nil when the model cannot use it (see `DecodeMode`) or threads cannot start.
    init?(model: Transformer, cache: KVCache, mode: DecodeMode) {
        guard mode != .ops, model.device == .cpu else { return nil }
        let cMode: Int32
        switch mode {
        case .exact: cMode = Int32(FINCH_DECODE_EXACT)
        case .int8: cMode = Int32(FINCH_DECODE_INT8)
        case .int16, .ops: cMode = Int32(FINCH_DECODE_INT16)
        }
        let cfg = model.config
        guard !cfg.oBias, !cfg.mlpBias, cfg.headDim * cfg.numAttentionHeads % 32 == 0 else { return nil }
        func matrix(_ t: Tensor) -> finch_decode_matrix? {
            guard t.device == .cpu, finch_decode_supports(Int32(t.dtype.ggmlType), cMode) != 0 else { return nil }
            return finch_decode_matrix(data: UnsafeRawPointer(t.rawBytes), ggml_type: Int32(t.dtype.ggmlType))
        }
        func f32(_ t: Tensor?) -> UnsafePointer<Float>? {
            guard let t, t.dtype == .f32, t.device == .cpu else { return nil }
            return UnsafePointer(t.data)
        }
        /// The adapter as the decoder runs it: rank 0 when absent; nil when the ops must run it (dropout on,
        /// tensors elsewhere or misshapen).
        func adapter(_ linear: Linear) -> finch_decode_lora? {
            guard let lora = linear.lora else { return finch_decode_lora(a: nil, b: nil, rank: 0, scale: 0) }
            let r = lora.rank
            guard lora.dropout == 0 || lora.dropoutSeed == nil, lora.a.shape == [r, linear.inFeatures], lora.b.shape == [linear.outFeatures, r],
                  let a = f32(lora.a), let b = f32(lora.b) else { return nil }
            return finch_decode_lora(a: a, b: b, rank: Int32(r), scale: lora.scale)
        }
        var layers: [finch_decode_layer] = []
        for (i, layer) in model.layers.enumerated() {
            let projections = [layer.qProj, layer.kProj, layer.vProj, layer.oProj, layer.gateProj, layer.upProj, layer.downProj]
            let ms = projections.compactMap { matrix($0.weight) }, ls = projections.compactMap(adapter)
            guard ms.count == 7, ls.count == 7, let an = f32(layer.inputNorm), let fn = f32(layer.postAttentionNorm) else { return nil }
            let biases = [layer.qProj.bias, layer.kProj.bias, layer.vProj.bias]
            guard biases.allSatisfy({ $0 == nil || f32($0) != nil }) else { return nil }
            layers.append(finch_decode_layer(q: ms[0], k: ms[1], v: ms[2], o: ms[3], gate: ms[4], up: ms[5], down: ms[6],
                                             attn_norm: an, ffn_norm: fn, q_bias: f32(biases[0]), k_bias: f32(biases[1]), v_bias: f32(biases[2]),
                                             k_cache: cache.keys[i].data, v_cache: cache.values[i].data,
                                             lora: (ls[0], ls[1], ls[2], ls[3], ls[4], ls[5], ls[6])))
        }
        guard let head = matrix(model.lmHead), let norm = f32(model.norm),
              let cos = f32(model.rope.cos), let sin = f32(model.rope.sin) else { return nil }
        let created: OpaquePointer? = layers.withUnsafeBufferPointer { lp in
            var m = finch_decode_model(n_layers: Int32(cfg.numHiddenLayers), hidden: Int32(cfg.hiddenSize), ffn: Int32(cfg.intermediateSize),
                                       heads: Int32(cfg.numAttentionHeads), kv_heads: Int32(cfg.numKeyValueHeads), head_dim: Int32(cfg.headDim),
                                       vocab: Int32(cfg.vocabSize), eps: cfg.rmsNormEps, rope_cos: cos, rope_sin: sin,
                                       rope_positions: Int32(model.rope.maxPositions), final_norm: norm, lm_head: head, layers: lp.baseAddress)
            return finch_decoder_create(&m, Int32(ThreadBudget.count), Int32(cache.capacity))
        }
        guard let created else { return nil }
        handle = created
        self.mode = cMode
        self.model = model
        self.cache = cache
        adapters = model.layers.flatMap { $0.projections.compactMap { $0.1.lora } }
        embedding = .allocate(capacity: cfg.hiddenSize)
        logits = Tensor(uninitialized: [1, cfg.vocabSize])
    }

    deinit {
        finch_decoder_destroy(handle)
        embedding.deallocate()
    }

    /// Runs token `id` at the cache's next position and advances the cache; the logits land in `logits`.
    func step(id: Int32) throws {
        let cfg = model.config
        guard id >= 0, Int(id) < model.embedTokens.rows else {
            throw ModelError.invalidArgument("token id \(id) is outside the vocabulary (\(model.embedTokens.rows))")
        }
        guard cache.length < cache.capacity, cache.length < model.rope.maxPositions else {
            throw ModelError.contextOverflow(tokens: cache.length + 1, limit: min(cache.capacity, model.rope.maxPositions))
        }
        let table = model.embedTokens
        let rowBytes = table.dtype.byteCount(elements: cfg.hiddenSize)!
        dequantize(table.dtype, UnsafeRawPointer(table.rawBytes) + Int(id) * rowBytes, into: embedding, count: cfg.hiddenSize)
        finch_decoder_step(handle, embedding, Int32(cache.length), mode, logits.data)
        cache.advance(by: 1)
    }
}
