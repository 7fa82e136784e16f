import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

/// Fixtures written by scripts/reference/tiny_models.py (transformers + PEFT, seed in each header).
enum TinyFixture {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures/tiny/\(name)", withExtension: nil)!
    }

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name))) as! [String: Any]
    }

    static func floats(_ any: Any?) -> [Float] { (any as! [Any]).map { Float(($0 as! NSNumber).doubleValue) } }
    static func ints(_ any: Any?) -> [Int32] { (any as! [[Any]]).flatMap { $0.map { Int32(($0 as! NSNumber).intValue) } } }

    /// The model built from the fixture's weights (f32), with its config parsed from the same JSON.
    static func model(_ name: String) throws -> (Transformer, [String: Any]) {
        let doc = try json("\(name).json")
        let configData = try JSONSerialization.data(withJSONObject: doc["config"]!)
        let config = try ModelConfig.fromHuggingFace(configData, file: "\(name)/config.json")
        var tensors: [String: Tensor] = [:]
        for (key, value) in doc["weights"] as! [String: Any] {
            let w = value as! [String: Any]
            tensors[key] = try Tensor(floats(w["data"]), shape: (w["shape"] as! [Int]))
        }
        return (try Transformer(config: config, weights: WeightSet(tensors, source: name), source: name), doc)
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
}

@Suite struct TinyModelTests {
    @Test(arguments: ["tiny-llama3", "tiny-qwen2"])
    func logitsMatchTransformers(name: String) throws {
        let (model, doc) = try TinyFixture.model(name)
        let ids = TinyFixture.ints(doc["input_ids"])
        let expected = TinyFixture.floats(doc["logits"])
        let logits = try GradMode.noGrad { try model.logits(ids: ids, batch: 2, seqLen: 9) }
        #expect(logits.shape == [18, 96])
        let err = maxAbsDiff(logits.toArray(), expected)
        #expect(err < 1e-3, "max |Δlogit| = \(err)")
    }

    @Test func configRoundsUpArchitectures() throws {
        let (llama, _) = try TinyFixture.model("tiny-llama3")
        #expect(llama.config.architecture == .llama)
        #expect(llama.config.numKeyValueHeads == 2)
        #expect(llama.config.headDim == 8)
        #expect(llama.lmHead !== llama.embedTokens)
        if case .llama3 = llama.config.ropeScaling {} else { Issue.record("llama3 rope scaling not parsed") }
        let (qwen, _) = try TinyFixture.model("tiny-qwen2")
        #expect(qwen.config.qkvBias)
        #expect(qwen.lmHead === qwen.embedTokens || qwen.config.tieWordEmbeddings)
    }

    @Test func kvCacheGenerationMatchesFullForward() throws {
        let (model, doc) = try TinyFixture.model("tiny-llama3")
        let ids = Array(TinyFixture.ints(doc["input_ids"]).prefix(9))
        let full = try GradMode.noGrad { try model.logits(ids: ids) }.toArray()
        let cache = KVCache(config: model.config, capacity: 16)
        var incremental: [Float] = []
        try GradMode.noGrad {
            incremental += try model.logits(ids: Array(ids.prefix(4)), cache: cache).toArray()
            for i in 4..<9 { incremental += try model.logits(ids: [ids[i]], cache: cache).toArray() }
        }
        #expect(cache.length == 9)
        #expect(maxAbsDiff(full, incremental) < 1e-4)
    }

    @Test func unsupportedArchitectureIsNamed() {
        let data = Data(#"{"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"]}"#.utf8)
        #expect(throws: ModelError.self) { try ModelConfig.fromHuggingFace(data, file: "config.json") }
        do { _ = try ModelConfig.fromHuggingFace(data, file: "config.json") } catch {
            #expect("\(error)".contains("gpt_neox"))
        }
        let bad = Data(#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 4, "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2}"#.utf8)
        #expect(throws: ModelError.self) { try ModelConfig.fromHuggingFace(bad, file: "config.json") }
    }
}

@Suite struct TinyLoRATests {
    /// Attaches the fixture's PEFT adapter (all seven projections) to the model.
    static func attach(_ model: Transformer, _ doc: [String: Any]) throws {
        let lora = doc["lora"] as! [String: Any]
        let alpha = Float((doc["alpha"] as! NSNumber).doubleValue)
        for (path, linear) in model.namedProjections {
            let prefix = "base_model.model.\(path)"
            let a = lora["\(prefix).lora_A.default.weight"] as! [String: Any]
            let b = lora["\(prefix).lora_B.default.weight"] as! [String: Any]
            linear.lora = LoRA(a: try Tensor(TinyFixture.floats(a["data"]), shape: a["shape"] as! [Int]),
                               b: try Tensor(TinyFixture.floats(b["data"]), shape: b["shape"] as! [Int]), alpha: alpha)
        }
    }

    @Test(arguments: ["tiny-llama3", "tiny-qwen2"])
    func lossAndGradientsMatchPEFT(name: String) throws {
        let (model, _) = try TinyFixture.model(name)
        let doc = try TinyFixture.json("\(name)-lora.json")
        try Self.attach(model, doc)
        let ids = TinyFixture.ints(doc["input_ids"]), labels = TinyFixture.ints(doc["labels"])
        for checkpointing in [false, true] {
            model.gradientCheckpointing = checkpointing
            for (_, l) in model.namedProjections { l.lora!.a.grad = nil; l.lora!.b.grad = nil }
            let (sum, count) = try model.loss(ids: ids, labels: labels, batch: 2, seqLen: 9)
            #expect(count == (doc["count"] as! Int))
            let refLoss = Float((doc["loss_sum"] as! NSNumber).doubleValue)
            #expect(abs(sum.item - refLoss) / refLoss < 1e-5, "loss \(sum.item) vs \(refLoss)")
            try sum.backward()
            let lora = doc["lora"] as! [String: Any]
            var worst: Float = 0
            for (path, linear) in model.namedProjections {
                for (suffix, t) in [("lora_A", linear.lora!.a), ("lora_B", linear.lora!.b)] {
                    let ref = TinyFixture.floats((lora["base_model.model.\(path).\(suffix).default.weight"] as! [String: Any])["grad"])
                    let got = t.grad!.toArray()
                    let norm = ref.map { $0 * $0 }.reduce(0, +).squareRoot()
                    let diff = zip(got, ref).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                    worst = max(worst, diff / max(norm, 1e-12))
                }
            }
            #expect(worst < 1e-3, "worst relative gradient error \(worst) (checkpointing \(checkpointing))")
        }
    }
}
