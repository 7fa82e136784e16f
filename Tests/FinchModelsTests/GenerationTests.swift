import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor

@Suite struct GenerationTests {
    @Test func greedyTakesTheArgmaxAndTopK1IsGreedy() {
        var logits: [Float] = [0.1, 2.5, -1, 2.4, 0]
        var greedy = Sampler(options: GenerationOptions())
        #expect(logits.withUnsafeMutableBufferPointer { greedy.next(logits: $0.baseAddress!, vocab: 5, history: []) } == 1)
        var opts = GenerationOptions()
        opts.temperature = 1.3
        opts.topK = 1
        opts.seed = 9
        var k1 = Sampler(options: opts)
        for _ in 0..<20 {
            #expect(logits.withUnsafeMutableBufferPointer { k1.next(logits: $0.baseAddress!, vocab: 5, history: []) } == 1)
        }
        // Repetition penalty divides positive logits of seen tokens: 2.5 / 2 < 2.4.
        var pen = GenerationOptions()
        pen.repetitionPenalty = 2
        var s = Sampler(options: pen)
        #expect(logits.withUnsafeMutableBufferPointer { s.next(logits: $0.baseAddress!, vocab: 5, history: [1]) } == 3)
    }

    @Test func samplingIsSeededAndRespectsTopPAndMinP() {
        let base: [Float] = [3, 2.9, 0, -5, 1]
        func draw(_ o: GenerationOptions, _ n: Int) -> [Int32] {
            var s = Sampler(options: o)
            return (0..<n).map { _ in var l = base; return l.withUnsafeMutableBufferPointer { s.next(logits: $0.baseAddress!, vocab: 5, history: []) } }
        }
        var o = GenerationOptions()
        o.temperature = 1
        o.seed = 42
        #expect(draw(o, 50) == draw(o, 50))
        o.topP = 0.5   // only the top token (p ≈ 0.48) plus the one that crosses 0.5
        #expect(Set(draw(o, 200)).isSubset(of: [0, 1]))
        o.topP = 1
        o.minP = 0.5   // keeps tokens with p ≥ 0.5 · p_max: ids 0 and 1
        #expect(Set(draw(o, 200)) == [0, 1])
    }

    @Test func logprobsMatchTheFixtureLogits() throws {
        let (model, doc) = try TinyFixture.model("tiny-qwen2")
        let ids = Array(TinyFixture.ints(doc["input_ids"]).prefix(9))
        let logits = TinyFixture.floats(doc["logits"])
        let lp = try model.logprobs(ids: ids)
        #expect(lp.count == 8)
        for i in 0..<8 {
            let row = Array(logits[(i * 96)..<((i + 1) * 96)]).map(Double.init)
            let m = row.max()!
            let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
            #expect(abs(Double(lp[i]) - (row[Int(ids[i + 1])] - lse)) < 1e-3)
        }
    }

    @Test func generateStopsAtStopIdsAndMaxTokens() throws {
        let (model, _) = try TinyFixture.model("tiny-llama3")
        var o = GenerationOptions()
        o.maxTokens = 6
        let r = try model.generate(prompt: [5, 6, 7], options: o)
        #expect(r.tokens.count == 6)
        #expect(r.stopReason == .maxTokens)
        o.stopIds = [r.tokens[2]]
        let r2 = try model.generate(prompt: [5, 6, 7], options: o)
        #expect(Array(r2.tokens) == Array(r.tokens.prefix(3)))
        #expect(r2.stopReason == .eos)
        // Greedy generation equals repeated full forwards.
        var seq: [Int32] = [5, 6, 7]
        for _ in 0..<6 {
            let l = try GradMode.noGrad { try model.logits(ids: seq) }.toArray()
            let last = Array(l.suffix(96))
            seq.append(Int32(last.indices.max { last[$0] < last[$1] }!))
        }
        #expect(Array(seq.suffix(6)) == r.tokens)
        o.temperature = -1
        #expect(throws: ModelError.self) { try model.generate(prompt: [1], options: o) }
    }
}
