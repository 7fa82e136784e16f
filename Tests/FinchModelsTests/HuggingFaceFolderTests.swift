import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

/// The Hugging Face folder path (the one DeepSeek-R1-Distill models take): config.json written by
/// transformers 5 (rope_parameters), safetensors written by transformers (bf16 for the Llama-3-style
/// model, f32 for Qwen2), and a real byte-level BPE tokenizer.json + tokenizer_config.json. Logits
/// must equal transformers' (the same fixture) within 1e-3.
@Suite struct HuggingFaceFolderTests {
    /// A folder in Hugging Face layout assembled from the fixtures.
    static func folder(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-hf-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tiny = TinyFixture.url(name)
        for f in ["config.json", "model.safetensors", "generation_config.json"] {
            try FileManager.default.copyItem(at: tiny.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let tok = Bundle.module.url(forResource: "Fixtures/tokenizers/smollm2", withExtension: nil)!
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: tok.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        return dir.path
    }

    @Test(arguments: ["tiny-llama3", "tiny-qwen2"])
    func folderLogitsMatchTransformers(name: String) throws {
        let path = try Self.folder(name)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ModelLoader.load(path)
        #expect(model.format.contains(name == "tiny-llama3" ? "bf16" : "f32"))
        #expect(model.tokenizer.kind == .byteLevelBPE)
        #expect(model.chatTemplate != nil)
        let doc = try TinyFixture.json("\(name).json")
        let ids = TinyFixture.ints(doc["input_ids"])
        let logits = try GradMode.noGrad { try model.network.logits(ids: ids, batch: 2, seqLen: 9) }
        let err = maxAbsDiff(logits.toArray(), TinyFixture.floats(doc["logits"]))
        #expect(err < 1e-3, "max |Δlogit| = \(err)")
    }

    @Test func quantizeAndDtypeAtLoad() throws {
        let path = try Self.folder("tiny-qwen2")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let doc = try TinyFixture.json("tiny-qwen2.json")
        let ids = TinyFixture.ints(doc["input_ids"])
        let expected = TinyFixture.floats(doc["logits"])
        let scale = expected.map(abs).max()!
        // q8_0 keeps logits within 2 % of their range. 4-bit blocks on these tiny random matrices move them
        // far more (≈ 20–30 %); the quantizers themselves match llama.cpp's bit for bit (QuantReferenceTests).
        var errors: [DType: Float] = [:]
        for (q, tol) in [(DType.q8_0, Float(0.02)), (.q4_0, 0.4), (.q4_1, 0.4)] {
            let m = try ModelLoader.load(path, options: LoadOptions(quantize: q))
            #expect(m.storageTypes.contains(q.rawValue))
            let l = try GradMode.noGrad { try m.network.logits(ids: ids, batch: 2, seqLen: 9) }
            errors[q] = maxAbsDiff(l.toArray(), expected) / scale
            #expect(errors[q]! < tol, "\(q)")
        }
        #expect(errors[.q8_0]! < errors[.q4_0]!)
        let f = try ModelLoader.load(path, options: LoadOptions(dtype: .f32))
        #expect(f.storageTypes == ["f32"])
        #expect(throws: ModelError.self) { try ModelLoader.load(path, options: LoadOptions(quantize: .q6_K)) }
        #expect(throws: ModelError.self) { try ModelLoader.load(path + "/missing") }
    }
}

extension HuggingFaceFolderTests {
    @Test func stopStringsEndGenerationAndStayOutOfTheText() throws {
        let path = try Self.folder("tiny-llama3")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ModelLoader.load(path)
        model.eosIds = []  // let it run to max_tokens
        var o = GenerationOptions()
        o.maxTokens = 12
        // ids < 96 exist in this tiny model; pick a prompt of such tokens.
        let prompt = model.detokenize([40, 41, 42])
        let (full, _) = try model.generate(prompt, options: o)
        #expect(!full.isEmpty)
        let stop = String(full.dropFirst(full.count / 2).prefix(2))
        var streamed = ""
        let (cut, r) = try model.generate(prompt, options: o, stopStrings: [stop], onText: { streamed += $0 })
        #expect(full.hasPrefix(cut))
        #expect(!cut.contains(stop) || stop.isEmpty)
        #expect(streamed == cut)
        #expect(r.tokens.count <= 12)
    }

    @Test func mistralConfigsLoadAsTheLlamaDecoder() throws {
        let json = #"{"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 32000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "sliding_window": 4096, "max_position_embeddings": 32768, "tie_word_embeddings": false}"#
        let c = try ModelConfig.fromHuggingFace(Data(json.utf8), file: "config.json")
        #expect(c.architecture == .mistral)
        #expect(c.headDim == 16 && c.numKeyValueHeads == 2 && !c.qkvBias && !c.tieWordEmbeddings)
        #expect(c.ropeTheta == 1_000_000)
    }
}
