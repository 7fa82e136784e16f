// GGUF ↔ Hugging Face tensor names for Llama-family models (llama, qwen2, mistral), after
// gguf-py's tensor_mapping.py. `.weight` / `.bias` suffixes carry over.
//
//   token_embd            model.embed_tokens          blk.N.attn_norm   model.layers.N.input_layernorm
//   blk.N.attn_q          …self_attn.q_proj            blk.N.ffn_norm    model.layers.N.post_attention_layernorm
//   blk.N.attn_k          …self_attn.k_proj            blk.N.ffn_gate    model.layers.N.mlp.gate_proj
//   blk.N.attn_v          …self_attn.v_proj            blk.N.ffn_up      model.layers.N.mlp.up_proj
//   blk.N.attn_output     …self_attn.o_proj            blk.N.ffn_down    model.layers.N.mlp.down_proj
//   output_norm           model.norm                   output            lm_head
// A GGUF without `output.weight` has tied embeddings: use `token_embd.weight`.

public enum GGUFTensorNames {
    static let global: [(gguf: String, hf: String)] = [
        ("token_embd", "model.embed_tokens"), ("output_norm", "model.norm"), ("output", "lm_head"),
    ]
    static let perLayer: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
        ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ]

    /// Splits "stem.weight" / "stem.bias" into (stem, suffix).
    static func split(_ name: String) -> (String, String)? {
        for suffix in [".weight", ".bias"] where name.hasSuffix(suffix) { return (String(name.dropLast(suffix.count)), suffix) }
        return nil
    }

    /// "blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight"; nil for names outside the table.
    public static func huggingFace(_ ggufName: String) -> String? {
        guard let (stem, suffix) = split(ggufName) else { return nil }
        if let m = global.first(where: { $0.gguf == stem }) { return m.hf + suffix }
        let parts = stem.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
              let m = perLayer.first(where: { $0.gguf == parts[2] }) else { return nil }
        return "model.layers.\(layer).\(m.hf)\(suffix)"
    }

    /// The inverse: "model.layers.3.mlp.up_proj.weight" → "blk.3.ffn_up.weight".
    public static func gguf(_ hfName: String) -> String? {
        guard let (stem, suffix) = split(hfName) else { return nil }
        if let m = global.first(where: { $0.hf == stem }) { return m.gguf + suffix }
        let prefix = "model.layers."
        guard stem.hasPrefix(prefix) else { return nil }
        let rest = stem.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0,
              let m = perLayer.first(where: { $0.hf == rest[rest.index(after: dot)...] }) else { return nil }
        return "blk.\(layer).\(m.gguf)\(suffix)"
    }
}

extension LlamaPermutation {
    /// The bytes of a llama-type `attn_q` / `attn_k` tensor (weight or bias) in Hugging Face row order.
    /// `heads` is head_count for attn_q, head_count_kv for attn_k.
    public static func huggingFaceBytes(of tensor: GGUFTensorInfo, in file: GGUFFile, heads: Int) throws -> [UInt8] {
        let src = file.data(for: tensor)
        let rows = tensor.shape.first ?? 1  // outer dimension: output rows (or bias elements)
        guard rows > 0, src.count % rows == 0 else { throw LlamaPermutationError.rowsNotDivisible(rows: rows, heads: heads) }
        var out = [UInt8](repeating: 0, count: src.count)
        try out.withUnsafeMutableBytes { dst in
            try unpermuteRows(src.baseAddress!, into: dst.baseAddress!, rows: rows, rowBytes: src.count / rows, heads: heads)
        }
        return out
    }
}
