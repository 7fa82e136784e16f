import Foundation
import FinchTensor

// Loading a Llama-family model from GGUF: the config from `{arch}.*` metadata, the tokenizer from
// `tokenizer.ggml.*`, and the tensors mapped to Hugging Face names. llama.cpp stores the rows of
// Q and K of `llama`-arch models permuted for its rotary layout; they are put back here so that
// every tensor (and every adapter trained on it) has the Hugging Face layout.

enum GGUFModel {
    static func config(_ f: GGUFFile) throws -> ModelConfig {
        let file = f.path
        guard let archName = f.architecture else {
            throw ModelError.invalidConfig(file: file, key: "general.architecture", problem: "is missing")
        }
        let arch: ModelConfig.Architecture
        switch archName {
        case "llama": arch = .llama
        case "mistral": arch = .mistral
        case "qwen2": arch = .qwen2
        default: throw ModelError.unsupportedArchitecture(archName, file: file)
        }
        func int(_ key: String) throws -> Int {
            guard let v = f.archValue(key)?.int else { throw ModelError.invalidConfig(file: file, key: "\(archName).\(key)", problem: "is missing or not an integer") }
            return v
        }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let vocab = f.archValue("vocab_size")?.int ?? f.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        var scaling = RopeTable.Scaling.none
        if let type = f.archValue("rope.scaling.type")?.string, type == "linear", let factor = f.archValue("rope.scaling.factor")?.float, factor > 0 {
            scaling = .linear(factor: factor)
        }
        if let info = f.tensor(named: "rope_freqs.weight"), info.dtype == .f32 {
            let raw = f.data(for: info)
            scaling = .frequencyFactors(Array(raw.bindMemory(to: Float.self)))
        }
        var eos: [Int] = []
        if let e = f.metadata["tokenizer.ggml.eos_token_id"]?.int { eos.append(e) }
        if let e = f.metadata["tokenizer.ggml.eot_token_id"]?.int, !eos.contains(e) { eos.append(e) }
        let config = ModelConfig(
            architecture: arch, vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
            numHiddenLayers: try int("block_count"), numAttentionHeads: heads,
            numKeyValueHeads: f.archValue("attention.head_count_kv")?.int ?? heads,
            headDim: f.archValue("attention.key_length")?.int ?? f.archValue("rope.dimension_count")?.int,
            rmsNormEps: f.archValue("attention.layer_norm_rms_epsilon")?.float ?? 1e-5,
            ropeTheta: f.archValue("rope.freq_base")?.float ?? 10_000,
            ropeScaling: scaling,
            maxPositionEmbeddings: f.archValue("context_length")?.int ?? 2048,
            tieWordEmbeddings: f.tensor(named: "output.weight") == nil,
            qkvBias: f.tensor(named: "blk.0.attn_q.bias") != nil,
            oBias: f.tensor(named: "blk.0.attn_output.bias") != nil,
            bosTokenId: f.metadata["tokenizer.ggml.bos_token_id"]?.int, eosTokenIds: eos)
        try config.validate(file: file)
        return config
    }

    static func tokenizerSpec(_ f: GGUFFile) throws -> GGUFTokenizerSpec {
        guard let model = f.metadata["tokenizer.ggml.model"]?.string, let tokens = f.metadata["tokenizer.ggml.tokens"]?.stringArray else {
            throw ModelError.invalidFile(f.path, problem: "has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens)")
        }
        let m = f.metadata
        return GGUFTokenizerSpec(
            model: model, pre: m["tokenizer.ggml.pre"]?.string, tokens: tokens,
            tokenTypes: m["tokenizer.ggml.token_type"]?.intArray.map { $0.map(Int32.init) } ?? [],
            scores: m["tokenizer.ggml.scores"]?.floatArray ?? [], merges: m["tokenizer.ggml.merges"]?.stringArray ?? [],
            bosTokenId: m["tokenizer.ggml.bos_token_id"]?.int, eosTokenId: m["tokenizer.ggml.eos_token_id"]?.int,
            unknownTokenId: m["tokenizer.ggml.unknown_token_id"]?.int, paddingTokenId: m["tokenizer.ggml.padding_token_id"]?.int,
            addBosToken: m["tokenizer.ggml.add_bos_token"]?.bool, addEosToken: m["tokenizer.ggml.add_eos_token"]?.bool,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.bool, chatTemplate: m["tokenizer.chat_template"]?.string)
    }

    /// The tensors under Hugging Face names, memory-mapped where their layout is already right.
    static func weights(_ f: GGUFFile, config: ModelConfig) throws -> WeightSet {
        var out: [String: Tensor] = [:]
        let permute = config.architecture != .qwen2
        for info in f.tensors {
            guard let hfName = GGUFTensorNames.huggingFace(info.name) else { continue }  // tensors Finch does not use
            var heads: Int?
            if permute && info.name.hasPrefix("blk.") {
                if info.name.contains(".attn_q.") { heads = config.numAttentionHeads }
                if info.name.contains(".attn_k.") { heads = config.numKeyValueHeads }
            }
            let raw = f.data(for: info)
            if let heads {
                // Undo llama.cpp's Q/K row permutation into an owned buffer (whole rows: works on any block format).
                let rows = info.shape.count == 2 ? info.shape[0] : info.shape.reduce(1, *)
                let storage = TensorStorage(pooledBytes: raw.count, dtype: info.dtype)
                try LlamaPermutation.unpermuteRows(raw.baseAddress!, into: storage.raw, rows: rows,
                                                   rowBytes: raw.count / max(1, rows), heads: heads)
                out[hfName] = Tensor(shape: info.shape, storage: storage)
            } else {
                out[hfName] = try Tensor(shape: info.shape, dtype: info.dtype, bytes: raw.baseAddress!, owner: f)
            }
        }
        return WeightSet(out, source: f.path)
    }
}
