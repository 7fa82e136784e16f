import Foundation
import Testing
@testable import FinchModels
@testable import FinchTrain

/// Dataset rows → token ids and labels (`train(train_on=…)`), with SmolLM2's real tokenizer.
@Suite struct TrainDataTests {
    static let tokenizer: Tokenizer = {
        let dir = tinyFixtures.appendingPathComponent("../tokenizers/smollm2").standardized
        return try! Tokenizer(tokenizerJSON: Data(contentsOf: dir.appendingPathComponent("tokenizer.json")),
                              config: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")))
    }()
    let eos = 2
    let prompt = "Question: 2+2?\nAnswer: ", response = "4, because two and two make four."

    func ids(_ s: String) -> [Int32] { Self.tokenizer.encode(s).map(Int32.init) }

    @Test func aPromptStyleRowHasTheLossOnItsResponseOnly() throws {
        #expect(!Self.tokenizer.addBosToken)  // SmolLM2 adds no BOS: the ids below start with the prompt's
        let row = TrainText(prompt + response, responseStart: prompt.count)
        for on in [TrainOn.auto, .responses] {
            let e = try TrainData.examples([row], tokenizer: Self.tokenizer, eosId: eos, trainOn: on)[0]
            let p = ids(prompt)
            // prompt and response tokenized apart, so the mask ends on a token boundary; EOS taught at the end
            #expect(e.ids == p + ids(response) + [Int32(eos)], "\(on)")
            #expect(e.labels == [Int32](repeating: -100, count: p.count) + ids(response) + [Int32(eos)], "\(on)")
            #expect(e.targetCount == ids(response).count + 1)
        }
        // train_on="all": the whole text as one, every token a target
        let all = try TrainData.examples([row], tokenizer: Self.tokenizer, eosId: eos, trainOn: .all)[0]
        #expect(all.ids == ids(prompt + response) + [Int32(eos)] && all.labels == all.ids)
    }

    @Test func plainTextIsLearnedWholeAndGetsNoEOS() throws {
        let e = try TrainData.examples([TrainText("0123456789")], tokenizer: Self.tokenizer, eosId: eos, trainOn: .auto)
        #expect(e == [TrainExample(ids: ids("0123456789"))])
    }

    @Test func anEOSAlreadyAtTheEndIsNotDoubled() throws {
        let last = Int(ids(response).last!)
        let e = try TrainData.examples([TrainText(prompt + response, responseStart: prompt.count)], tokenizer: Self.tokenizer,
                                       eosId: last, trainOn: .auto)[0]
        #expect(e.ids == ids(prompt) + ids(response))
    }

    @Test func responsesOnlyNeedsEveryRowMarked() {
        let rows = [TrainText(prompt + response, responseStart: prompt.count), TrainText("no marker")]
        #expect(throws: TrainDataError.noResponseMarker(row: 1)) {
            try TrainData.examples(rows, tokenizer: Self.tokenizer, eosId: eos, trainOn: .responses)
        }
        #expect("\(TrainDataError.noResponseMarker(row: 1))".contains("data.map(style)"))
    }

    @Test func aResponseStartOutsideTheTextIsAnError() throws {
        for start in [-5, 12, 1_000_000, Int.min + 1] {
            #expect(throws: TrainDataError.responseStartOutsideText(row: 0, start: start, length: 11)) {
                try TrainData.examples([TrainText("hello there", responseStart: start)], tokenizer: Self.tokenizer, eosId: eos, trainOn: .auto)
            }
        }
        // both ends are inside: all response, or all prompt
        let ends = try TrainData.examples([TrainText("hello there", responseStart: 0), TrainText("hello there", responseStart: 11)],
                                          tokenizer: Self.tokenizer, eosId: eos, trainOn: .auto)
        #expect(ends[0].labels == ends[0].ids)
        #expect(ends[1].labels == [Int32](repeating: -100, count: ids("hello there").count) + [Int32(eos)])
    }

    @Test func paddingUsesThePadTokenBeforeEOS() {
        #expect(TrainData.padId(tokenizer: Self.tokenizer, eosIds: [7]) == 2)  // SmolLM2's pad_token <|im_end|>
    }
}
