import Foundation
import FinchModels
import FinchSupport
import FinchTensor

// Merged exports: the base weights with every adapter merged in (W + scale·B·A), computed one tensor
// at a time so the whole f32 model never sits in memory.

/// The model's tensors under Hugging Face names, each produced (merged, converted) on demand.
struct MergedTensors {
    let model: LanguageModel

    /// (HF name, shape, producer of f32 values).
    var all: [(name: String, shape: [Int], values: () throws -> [Float])] {
        let net = model.network
        var out: [(String, [Int], () throws -> [Float])] = []
        func plain(_ name: String, _ t: Tensor) { out.append((name, t.shape, { t.toArray() })) }
        plain("model.embed_tokens.weight", net.embedTokens)
        for layer in net.layers {
            let p = "model.layers.\(layer.index)."
            plain(p + "input_layernorm.weight", layer.inputNorm)
            plain(p + "post_attention_layernorm.weight", layer.postAttentionNorm)
            for (name, lin) in layer.projections {
                let module = p + DecoderLayer.modulePath(name)
                out.append((module + ".weight", lin.weight.shape, { try lin.mergedWeight().toArray() }))
                if let b = lin.bias { plain(module + ".bias", b) }
            }
        }
        plain("model.norm.weight", net.norm)
        if !net.config.tieWordEmbeddings { plain("lm_head.weight", net.lmHead) }
        // Values made while a device error is pending are garbage: fail the write (the folder is
        // written atomically, so nothing half-made is left) rather than save them.
        return out.map { e in (e.0, e.1, { let v = try e.2(); try DeviceErrors.check(); return v }) }
    }
}

func encode(_ values: [Float], as dtype: DType, into dst: UnsafeMutableRawBufferPointer) throws {
    try values.withUnsafeBufferPointer { try quantize(dtype, $0.baseAddress!, into: dst.baseAddress!, count: values.count) }
}

public enum MergedExport {
    /// A Hugging Face folder: config.json, (sharded) safetensors, tokenizer files, generation_config.json.
    public static func save(_ model: LanguageModel, to path: String, dtype: DType = .bf16, maxShardBytes: Int = 2 << 30) throws {
        guard let stDType = SafetensorsDType(dtype) else { throw SaveError.unsupported("merged weights can be bf16, f16 or f32") }
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for t in MergedTensors(model: model).all {
            let producer = t.values
            try writer.add(name: t.name, dtype: stDType, shape: t.shape, data: .producer { buf in
                try encode(try producer(), as: dtype, into: buf)
            })
        }
        try writeFolderAtomically(path) { dir in
            let config = try huggingFaceConfig(model, dtype: dtype).serialized(sortKeys: true, indent: 2)
            try AtomicFile.write(Data(config.utf8), to: dir.appendingPathComponent("config.json").path)
            _ = try writer.writeSharded(folder: dir.path, maxShardBytes: maxShardBytes)
            let gen = generationConfig(model)
            try AtomicFile.write(Data(gen.serialized(sortKeys: true, indent: 2).utf8),
                                 to: dir.appendingPathComponent("generation_config.json").path)
            try writeTokenizerFiles(model, into: dir)
        }
    }

    /// The source's generation_config.json (do_sample, temperature, top_p, … kept as the authors set
    /// them) with the model's BOS/EOS ids.
    static func generationConfig(_ model: LanguageModel) -> JSON {
        var gen: [(String, JSON)] = []
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: model.path, isDirectory: &isDir), isDir.boolValue,
           let data = try? Data(contentsOf: URL(fileURLWithPath: model.path).appendingPathComponent("generation_config.json")),
           let source = (try? JSON.parse(data, options: .lenient))?.objectValue {
            // not transformers_version: the merged folder was not written by transformers
            let replaced: Set = ["transformers_version", "bos_token_id", "eos_token_id", "_from_model_config"]
            gen = source.filter { !replaced.contains($0.0) }
        }
        gen += [("bos_token_id", .optional(model.config.bosTokenId.map(JSON.int))), ("eos_token_id", eosJSON(model)),
                ("_from_model_config", false)]
        return .object(gen)
    }

    /// One id as a number, several as a list, as transformers writes eos_token_id.
    static func eosJSON(_ model: LanguageModel) -> JSON {
        model.eosIds.count == 1 ? .int(model.eosIds[0]) : .array(model.eosIds.map(JSON.int))
    }

    static func huggingFaceConfig(_ model: LanguageModel, dtype: DType) throws -> JSON {
        let c = model.config
        let (arch, type): (String, String) = {
            switch c.architecture {
            case .llama: return ("LlamaForCausalLM", "llama")
            case .mistral: return ("MistralForCausalLM", "mistral")
            case .qwen2: return ("Qwen2ForCausalLM", "qwen2")
            }
        }()
        var rope: JSON = .null
        switch c.ropeScaling {
        case .none: break
        case let .linear(f): rope = ["rope_type": "linear", "factor": .float(f)]
        case let .llama3(f, lo, hi, orig):
            rope = ["rope_type": "llama3", "factor": .float(f), "low_freq_factor": .float(lo), "high_freq_factor": .float(hi),
                    "original_max_position_embeddings": .int(orig)]
        case .frequencyFactors:
            throw SaveError.unsupported("this model's rope scaling (GGUF rope_freqs) has no config.json form; save format=\"gguf\" or \"adapter\"")
        }
        var out: [(String, JSON)] = [
            ("architectures", [.string(arch)]), ("model_type", .string(type)), ("vocab_size", .int(c.vocabSize)),
            ("hidden_size", .int(c.hiddenSize)), ("intermediate_size", .int(c.intermediateSize)),
            ("num_hidden_layers", .int(c.numHiddenLayers)), ("num_attention_heads", .int(c.numAttentionHeads)),
            ("num_key_value_heads", .int(c.numKeyValueHeads)), ("head_dim", .int(c.headDim)),
            ("rms_norm_eps", .float(c.rmsNormEps)), ("rope_theta", .float(c.ropeTheta)), ("rope_scaling", rope),
            ("max_position_embeddings", .int(c.maxPositionEmbeddings)), ("tie_word_embeddings", .bool(c.tieWordEmbeddings)),
            ("hidden_act", "silu"), ("mlp_bias", .bool(c.mlpBias)),
            ("torch_dtype", .string(dtype == .f32 ? "float32" : dtype == .f16 ? "float16" : "bfloat16")),
            ("bos_token_id", .optional(c.bosTokenId.map(JSON.int))), ("eos_token_id", eosJSON(model)), ("use_cache", true),
        ]
        if c.architecture != .qwen2 { out.append(("attention_bias", .bool(c.qkvBias))) }
        return .object(out)
    }

    /// Copies the tokenizer files of a Hugging Face source; writes them from the GGUF metadata otherwise.
    static func writeTokenizerFiles(_ model: LanguageModel, into dir: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: model.path, isDirectory: &isDir), isDir.boolValue {
            for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
                let src = URL(fileURLWithPath: model.path).appendingPathComponent(f)
                // the contents, never the link: a Hub cache snapshot holds relative symlinks into ../../blobs
                if fm.fileExists(atPath: src.path) { try AtomicFile.write(Data(contentsOf: src), to: dir.appendingPathComponent(f).path) }
            }
            return
        }
        guard let spec = model.ggufTokenizer else { throw SaveError.unsupported("no tokenizer files to export") }
        let files = try TokenizerExport.huggingFaceFiles(spec, contextLength: model.config.maxPositionEmbeddings)
        try AtomicFile.write(files.tokenizer, to: dir.appendingPathComponent("tokenizer.json").path)
        try AtomicFile.write(files.config, to: dir.appendingPathComponent("tokenizer_config.json").path)
    }
}

/// tokenizer.json / tokenizer_config.json from GGUF tokenizer metadata (byte-level BPE).
public enum TokenizerExport {
    public static func huggingFaceFiles(_ spec: GGUFTokenizerSpec, contextLength: Int) throws -> (tokenizer: Data, config: Data) {
        guard spec.model == "gpt2" else {
            throw SaveError.unsupported("exporting a \(spec.model) (SentencePiece) GGUF tokenizer to tokenizer.json is not supported; save format=\"gguf\" or \"adapter\"")
        }
        let byteLevel: JSON = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let pre: JSON
        switch spec.pre ?? "default" {
        case "smollm", "starcoder", "refact", "codeshell":
            pre = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        case "default", "gpt-2", "gpt2":
            pre = byteLevel
        case "llama-bpe", "llama3", "llama-v3", "qwen2", "deepseek-r1-qwen":
            let digits = (spec.pre == "qwen2" || spec.pre == "deepseek-r1-qwen") ? "\\p{N}" : "\\p{N}{1,3}"
            let regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\(digits)| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
            pre = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": .string(regex)], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]]]
        case let other:
            throw SaveError.unsupported("exporting pre-tokenizer \"\(other)\" to tokenizer.json is not supported")
        }
        var vocab: [String: Int] = [:]
        var added: [JSON] = []
        var addedDecoder: [(String, JSON)] = []
        for (id, token) in spec.tokens.enumerated() {
            vocab[token] = id
            let type = id < spec.tokenTypes.count ? spec.tokenTypes[id] : 1
            if type == 3 || type == 4 {  // control, user-defined
                let dec: [(String, JSON)] = [("content", .string(token)), ("single_word", false), ("lstrip", false), ("rstrip", false),
                                             ("normalized", false), ("special", .bool(type == 3))]
                added.append(.object([("id", .int(id))] + dec))
                addedDecoder.append((String(id), .object(dec)))
            }
        }
        let tokenizer: JSON = [
            "version": "1.0", "truncation": .null, "padding": .null, "added_tokens": .array(added), "normalizer": .null,
            "pre_tokenizer": pre,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": .null, "unk_token": .null, "continuing_subword_prefix": .null,
                      "end_of_word_suffix": .null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": .object(vocab.map { ($0.key, .int($0.value)) }), "merges": .array(spec.merges.map(JSON.string))],
        ]
        func token(_ id: Int?) -> JSON { .optional(id.flatMap { $0 < spec.tokens.count ? .string(spec.tokens[$0]) : nil }) }
        var config: [(String, JSON)] = [
            ("add_bos_token", .bool(spec.addBosToken ?? false)), ("add_eos_token", .bool(spec.addEosToken ?? false)),
            ("bos_token", token(spec.bosTokenId)), ("eos_token", token(spec.eosTokenId)), ("unk_token", token(spec.unknownTokenId)),
            ("pad_token", token(spec.paddingTokenId)), ("added_tokens_decoder", .object(addedDecoder)),
            ("model_max_length", .int(contextLength)), ("tokenizer_class", "GPT2Tokenizer"), ("clean_up_tokenization_spaces", false),
        ]
        if let t = spec.chatTemplate { config.append(("chat_template", .string(t))) }
        return (Data(tokenizer.serialized(sortKeys: true).utf8),
                Data(JSON.object(config).serialized(sortKeys: true, indent: 2).utf8))
    }
}

public enum GGUFExport {
    /// A merged GGUF (`f16`, `q8_0`, `q4_0`; norms stay f32) with tokenizer and chat template metadata.
    public static func save(_ model: LanguageModel, to path: String, quantize q: DType) throws {
        guard let spec = model.ggufTokenizer else {
            throw SaveError.unsupported("GGUF export needs the tokenizer metadata of a GGUF base; save format=\"merged\" and convert with llama.cpp's convert_hf_to_gguf.py")
        }
        let c = model.config
        let arch = c.architecture == .qwen2 ? "qwen2" : "llama"
        var w = try GGUFWriter()
        w.set("general.architecture", .string(arch))
        w.set("general.name", .string(model.name + " (Finch merged)"))
        w.set("general.file_type", .uint32(q == .q8_0 ? 7 : q == .q4_0 ? 2 : q == .f16 ? 1 : 0))
        w.set("general.quantization_version", .uint32(2))
        w.set("\(arch).context_length", .uint32(UInt32(c.maxPositionEmbeddings)))
        w.set("\(arch).embedding_length", .uint32(UInt32(c.hiddenSize)))
        w.set("\(arch).block_count", .uint32(UInt32(c.numHiddenLayers)))
        w.set("\(arch).feed_forward_length", .uint32(UInt32(c.intermediateSize)))
        w.set("\(arch).attention.head_count", .uint32(UInt32(c.numAttentionHeads)))
        w.set("\(arch).attention.head_count_kv", .uint32(UInt32(c.numKeyValueHeads)))
        w.set("\(arch).rope.freq_base", .float32(c.ropeTheta))
        w.set("\(arch).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps))
        w.set("\(arch).rope.dimension_count", .uint32(UInt32(c.headDim)))
        w.set("\(arch).vocab_size", .uint32(UInt32(c.vocabSize)))
        w.set("tokenizer.ggml.model", .string(spec.model))
        if let pre = spec.pre { w.set("tokenizer.ggml.pre", .string(pre)) }
        w.set("tokenizer.ggml.tokens", .array(.string(spec.tokens)))
        if !spec.tokenTypes.isEmpty { w.set("tokenizer.ggml.token_type", .array(.int32(spec.tokenTypes))) }
        if !spec.scores.isEmpty { w.set("tokenizer.ggml.scores", .array(.float32(spec.scores))) }
        if !spec.merges.isEmpty { w.set("tokenizer.ggml.merges", .array(.string(spec.merges))) }
        if let v = spec.bosTokenId { w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(v))) }
        if let v = spec.eosTokenId { w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(v))) }
        if let v = spec.unknownTokenId { w.set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(v))) }
        if let v = spec.paddingTokenId { w.set("tokenizer.ggml.padding_token_id", .uint32(UInt32(v))) }
        if let v = spec.addBosToken { w.set("tokenizer.ggml.add_bos_token", .bool(v)) }
        if let v = spec.addEosToken { w.set("tokenizer.ggml.add_eos_token", .bool(v)) }
        if let t = spec.chatTemplate { w.set("tokenizer.chat_template", .string(t)) }
        // Rope scaling as llama.cpp's convert_hf_to_gguf.py writes it: Llama-3.1's as per-frequency
        // divisors (rope_freqs.weight), linear as rope.scaling.*.
        var freqFactors: [Float]?
        switch c.ropeScaling {
        case .none: break
        case let .frequencyFactors(f): freqFactors = f
        case .llama3:
            let plain = RopeTable(headDim: c.headDim, maxPositions: 1, theta: c.ropeTheta).invFreq
            let scaled = RopeTable(headDim: c.headDim, maxPositions: 1, theta: c.ropeTheta, scaling: c.ropeScaling).invFreq
            freqFactors = zip(plain, scaled).map { $0 / $1 }
        case let .linear(factor):
            w.set("\(arch).rope.scaling.type", .string("linear"))
            w.set("\(arch).rope.scaling.factor", .float32(factor))
        }
        if let f = freqFactors {
            try w.addTensor(name: "rope_freqs.weight", shape: [f.count], dtype: .f32, data: .bytes(f.withUnsafeBytes { Array($0) }))
        }
        let permute = c.architecture != .qwen2
        for t in MergedTensors(model: model).all {
            guard let name = GGUFTensorNames.gguf(t.name) else { continue }
            // llama.cpp's rotary row order for Q and K of llama-type models (weights and biases).
            var heads: Int?
            if c.architecture != .qwen2 && name.hasPrefix("blk.") {
                if name.contains(".attn_q.") { heads = c.numAttentionHeads }
                if name.contains(".attn_k.") { heads = c.numKeyValueHeads }
            }
            let dtype: DType = t.shape.count == 2 && t.shape[1] % q.blockSize == 0 ? q : .f32
            let producer = t.values
            let rows = t.shape[0]
            try w.addTensor(name: name, shape: t.shape, dtype: dtype, data: .producer { buf in
                var values = try producer()
                if let heads { values = try LlamaPermutation.permuteRows(values, rows: rows, heads: heads) }
                try encode(values, as: dtype, into: buf)
            })
        }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw SaveError.io(path: parent.path, reason: "cannot create the folder (\(error.localizedDescription))")
        }
        do { try w.write(to: path) } catch { throw SaveError.io(path: path, reason: "\(error)") }
    }
}
