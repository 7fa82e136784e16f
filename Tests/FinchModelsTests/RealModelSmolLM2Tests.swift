import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

/// The embedded SmolLM2-135M-Instruct GGUF against transformers (scripts/reference/smollm2_reference.py):
/// token ids identical, per-token logprobs within 1e-3, greedy generation identical for 24+ tokens.
@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"), .serialized)
struct RealModelSmolLM2Tests {
    static let model: Model? = try? ModelLoader.load("smollm2")
    static let reference: [String: Any] = {
        let url = Bundle.module.url(forResource: "Fixtures/smollm2_reference", withExtension: "json")!
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()

    @Test func loadsAndDescribesItself() throws {
        let model = try #require(Self.model)
        #expect(model.config.numHiddenLayers == 30)
        #expect(model.config.hiddenSize == 576)
        #expect(model.config.tieWordEmbeddings)
        let text = model.description
        #expect(text.contains("llama"))
        #expect(text.contains("chat template yes"))
        #expect(text.contains("q4_1"))
        // Weights stay in their stored precision: about the file size, not the f32 size (540 MB).
        #expect(model.weightBytes < 120 << 20)
    }

    @Test func tokenIdsMatchTransformers() throws {
        let model = try #require(Self.model)
        for case let c as [String: Any] in Self.reference["logprobs"] as! [Any] {
            let ids = (c["ids"] as! [Int])
            #expect(model.tokenize(c["text"] as! String) == ids, "ids of \(c["text"]!)")
        }
    }

    @Test func chatTemplateMatchesTransformers() throws {
        let model = try #require(Self.model)
        for case let c as [String: Any] in Self.reference["greedy"] as! [Any] {
            let msgs = (c["messages"] as! [[String: String]])
            #expect(try model.template(msgs, addGenerationPrompt: true) == c["template"] as! String)
        }
    }

    @Test func logprobsMatchTransformers() throws {
        let model = try #require(Self.model)
        var worst: Float = 0
        for case let c as [String: Any] in Self.reference["logprobs"] as! [Any] {
            let ids = (c["ids"] as! [Int]).map(Int32.init)
            let expected = (c["logprobs"] as! [Double]).map(Float.init)
            let got = try model.network.logprobs(ids: ids)
            #expect(got.count == expected.count)
            worst = max(worst, zip(got, expected).map { abs($0 - $1) }.max() ?? 0)
        }
        #expect(worst < 1e-3, "max |Δ logprob| = \(worst)")
    }

    @Test func greedyGenerationMatchesTransformers() throws {
        let model = try #require(Self.model)
        for case let c as [String: Any] in Self.reference["greedy"] as! [Any] {
            let prompt = (c["prompt_ids"] as! [Int]).map(Int32.init)
            let expected = (c["generated"] as! [Int]).map(Int32.init)
            var opts = GenerationOptions()
            opts.maxTokens = expected.count
            opts.stopIds = Set(model.eosIds.map(Int32.init))
            let r = try model.network.generate(prompt: prompt, options: opts)
            let n = min(r.tokens.count, expected.count)
            #expect(n >= 24 || r.stopReason == .eos)
            #expect(Array(r.tokens.prefix(n)) == Array(expected.prefix(n)), "prompt: \(c["template"]!)")
        }
    }
}
