import Foundation
import Testing
@testable import FinchModels
import FinchSupport

@Suite struct TokenizerGGUFTests {
    /// The SmolLM2 tokenizer as GGUF metadata holds it (tokens by id, "a b" merges, control tokens).
    static func smolSpec() throws -> GGUFTokenizerSpec {
        let root = try #require(try JSONSerialization.jsonObject(with: TokenizerFixtures.smolJSON) as? [String: Any])
        let model = try #require(root["model"] as? [String: Any])
        let vocab = try #require(model["vocab"] as? [String: Int])
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        var types = [Int32](repeating: 1, count: tokens.count)
        for t in try #require(root["added_tokens"] as? [[String: Any]]) where t["special"] as? Bool == true {
            types[t["id"] as! Int] = 3
        }
        let merges = try #require(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        return GGUFTokenizerSpec(model: "gpt2", pre: "smollm", tokens: tokens, tokenTypes: types, merges: merges,
                                 bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0, paddingTokenId: 2,
                                 addBosToken: false, chatTemplate: "{{ messages }}")
    }

    @Test func smolLM2FromGGUFSpecMatchesReference() throws {
        let tok = try Tokenizer(gguf: try Self.smolSpec())
        #expect(tok.kind == .byteLevelBPE)
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2)
        #expect(tok.chatTemplate == "{{ messages }}")
        let expected = try #require(TokenizerFixtures.expected.ids["smollm2"])
        for (s, ids) in zip(TokenizerFixtures.expected.strings, expected) {
            #expect(tok.encode(s) == ids, "\(s.debugDescription)")
            #expect(tok.decode(ids) == s)
        }
    }

    /// GGUF `llama` tokenizers merge by scores (llama.cpp); the reference is SentencePiece itself.
    @Test func sentencePieceFromGGUFSpecMatchesSentencePiece() throws {
        // Our own parser: JSONSerialization and [String: …] would fold canonically equivalent pieces together.
        let obj = try JSON.parse(TokenizerFixtures.data("spm/spm_vocab.json"), options: .lenient)
        guard case .array(let pieces)? = obj["pieces"] else { Issue.record("no pieces"); return }
        var tokens: [String] = [], types: [Int32] = [], scores: [Float] = []
        for p in pieces {
            guard case .array(let f) = p, f.count == 3, case .string(let t) = f[0], let sc = f[1].doubleValue,
                  let ty = f[2].doubleValue else { Issue.record("bad piece"); return }
            tokens.append(t); scores.append(Float(sc)); types.append(Int32(ty))
        }
        let spec = GGUFTokenizerSpec(
            model: "llama", tokens: tokens, tokenTypes: types, scores: scores, bosTokenId: 1, eosTokenId: 2,
            unknownTokenId: 0, addBosToken: true, addSpacePrefix: true)
        let tok = try Tokenizer(gguf: spec)
        #expect(tok.kind == .sentencePieceScores)
        let expected = try #require(TokenizerFixtures.expected.ids["spm_sentencepiece"])
        for (s, ids) in zip(TokenizerFixtures.expected.strings, expected) {
            #expect(tok.encode(s) == ids, "\(s.debugDescription)")
            #expect(tok.decode(ids) == s, "\(s.debugDescription)")
        }
    }

    @Test func badSpecsAreTypedErrors() throws {
        var spec = try Self.smolSpec()
        spec.tokenTypes = [1, 2]
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: spec) }
        spec = try Self.smolSpec()
        spec.bosTokenId = 1_000_000
        #expect(throws: TokenizerError.invalidValue(file: "GGUF metadata", path: "tokenizer.ggml.bos_token_id",
                                                     reason: "id 1000000 is outside the 49152 tokens")) { try Tokenizer(gguf: spec) }
        spec = try Self.smolSpec()
        spec.pre = "mystery"
        #expect(throws: TokenizerError.unsupported(file: "GGUF metadata", path: "tokenizer.ggml.pre", what: "pre-tokenizer \"mystery\"")) {
            try Tokenizer(gguf: spec)
        }
        spec = try Self.smolSpec()
        spec.merges[5] = "nospace"
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: spec) }
        spec = try Self.smolSpec()
        spec.model = "bert"
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: spec) }
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: GGUFTokenizerSpec(model: "gpt2", tokens: [])) }
    }
}

@Suite struct TokenizerErrorTests {
    func load(_ json: String, config: String? = nil) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: Data(json.utf8), config: config.map { Data($0.utf8) }, tokenizerFile: "t.json", configFile: "c.json")
    }

    static let minimal = #"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}"#

    @Test func minimalFileWorks() throws {
        let tok = try load(Self.minimal)
        #expect(tok.encode("abab") == [2, 2])
        #expect(tok.vocabSize == 3)
    }

    @Test func malformedFilesNameTheFileAndPlace() throws {
        let cases: [(String, TokenizerError)] = [
            ("", .invalidJSON(file: "t.json", reason: "unexpected end of input at byte 0")),
            ("[1,2]", .wrongType(file: "t.json", path: "(top level)", expected: "an object")),
            (#"{"model":{"type":"BPE","vocab":{"a":0}"#, .invalidJSON(file: "t.json", reason: "unexpected end of input in an object at byte 38")),
            ("{}", .missingKey(file: "t.json", path: "model")),
            (#"{"model":{"type":"WordPiece","vocab":{}}}"#, .unsupported(file: "t.json", path: "model.type", what: "model \"WordPiece\" (only BPE)")),
            (#"{"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}}"#,
             .invalidValue(file: "t.json", path: "model.vocab[\"a\"]", reason: "token id -1.0 is not an integer in 0..<4194304")),
            (#"{"model":{"type":"BPE","vocab":{"a":1e300},"merges":[]}}"#,
             .invalidValue(file: "t.json", path: "model.vocab[\"a\"]", reason: "token id 1e+300 is not an integer in 0..<4194304")),
            (#"{"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}}"#,
             .wrongType(file: "t.json", path: "model.vocab[\"a\"]", expected: "an integer token id")),
            (#"{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b c"]}}"#,
             .invalidValue(file: "t.json", path: "model.merges[0]", reason: "\"a b c\" is not two tokens separated by one space")),
            (#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}}"#,
             .invalidValue(file: "t.json", path: "model.merges[0]", reason: "expected two strings")),
            (#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[3]}}"#,
             .wrongType(file: "t.json", path: "model.merges[0]", expected: "a string \"a b\" or an array [\"a\", \"b\"]")),
            (#"{"model":{"type":"BPE","vocab":{}},"pre_tokenizer":{"type":"Whitespace"}}"#,
             .unsupported(file: "t.json", path: "pre_tokenizer.type", what: "pre-tokenizer \"Whitespace\"")),
            (#"{"model":{"type":"BPE","vocab":{}},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"("},"behavior":"Isolated"}]}}"#,
             .invalidValue(file: "t.json", path: "pre_tokenizer.pretokenizers[0].pattern.Regex", reason: "regex does not compile: (")),
            (#"{"model":{"type":"BPE","vocab":{}},"added_tokens":[{"id":5}]}"#,
             .missingKey(file: "t.json", path: "added_tokens[0].content")),
            (#"{"model":{"type":"BPE","vocab":{}},"normalizer":{"type":"Sequence","normalizers":[{"type":"Bogus"}]}}"#,
             .unsupported(file: "t.json", path: "normalizer.normalizers[0].type", what: "normalizer \"Bogus\"")),
            (#"{"model":{"type":"BPE","vocab":{}},"decoder":{"type":"Strip","content":"ab"}}"#,
             .invalidValue(file: "t.json", path: "decoder.content", reason: "expected exactly one character, got \"ab\"")),
            (#"{"model":{"type":"BPE","vocab":{}},"pre_tokenizer":{"type":"ByteLevel","use_regex":1}}"#,
             .wrongType(file: "t.json", path: "pre_tokenizer.use_regex", expected: "true or false")),
            (String(repeating: "[", count: 10_000), .invalidJSON(file: "t.json", reason: "nesting deeper than 256 at byte 256")),
        ]
        for (json, expected) in cases {
            #expect(throws: expected, "\(json.prefix(80))") { try load(json) }
        }
    }

    @Test func malformedConfigNamesTheConfig() throws {
        #expect(throws: TokenizerError.wrongType(file: "c.json", path: "chat_template", expected: "a string or a list of {name, template}")) {
            try load(Self.minimal, config: #"{"chat_template": 3}"#)
        }
        #expect(throws: TokenizerError.invalidValue(file: "c.json", path: "added_tokens_decoder[\"x\"]", reason: "key is not a token id")) {
            try load(Self.minimal, config: #"{"added_tokens_decoder": {"x": {"content": "<s>"}}}"#)
        }
        #expect(throws: TokenizerError.invalidJSON(file: "c.json", reason: "expected a string key at byte 1")) {
            try load(Self.minimal, config: "{,}")
        }
        let tok = try load(Self.minimal, config: #"{"bos_token": {"content": "ab"}, "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#)
        #expect(tok.bosTokenId == 2)
        #expect(tok.chatTemplate == "D")
        let withFile = try Tokenizer(tokenizerJSON: Data(Self.minimal.utf8), config: Data(#"{"chat_template": "C"}"#.utf8), chatTemplate: "J")
        #expect(withFile.chatTemplate == "J")
    }
}

@Suite struct TokenizerComponentTests {
    /// A Split regex that is not one of the hand-written ones goes through the general regex engine.
    @Test func fallbackRegexSplitAndBehaviors() throws {
        let vocab = #"{"a":0,"b":1,"c":2," ":3,"-":4}"#
        func ids(_ behavior: String, _ text: String) throws -> [Int] {
            let json = #"{"model":{"type":"BPE","vocab":\#(vocab),"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"-+"},"behavior":"\#(behavior)","invert":false}}"#
            return try Tokenizer(tokenizerJSON: Data(json.utf8)).encode(text)
        }
        #expect(try ids("Removed", "a--b-c") == [0, 1, 2])
        #expect(try ids("Isolated", "a-b") == [0, 4, 1])
        #expect(try ids("MergedWithPrevious", "a-b") == [0, 4, 1])
        let pieces = { (behavior: SplitBehavior) -> [Range<Int>] in
            var out: [Range<Int>] = []
            PreTokenizer.applyBehavior(behavior, invert: false, piece: 0..<5, matches: [1..<2, 3..<4], into: &out)
            return out
        }
        #expect(pieces(.isolated) == [0..<1, 1..<2, 2..<3, 3..<4, 4..<5])
        #expect(pieces(.removed) == [0..<1, 2..<3, 4..<5])
        #expect(pieces(.mergedWithPrevious) == [0..<2, 2..<4, 4..<5])
        #expect(pieces(.mergedWithNext) == [0..<1, 1..<3, 3..<5])
        #expect(pieces(.contiguous) == [0..<1, 1..<2, 2..<3, 3..<4, 4..<5])
    }

    /// ignore_merges: a whole pre-token found in the vocabulary is emitted as is (ids from tokenizers 0.23.3).
    @Test func ignoreMerges() throws {
        for (ignore, expected) in [(false, [0, 3, 3, 0, 0]), (true, [4, 3, 0, 0])] {
            let json = #"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"c":2,"bc":3,"abc":4},"merges":[["b","c"]],"ignore_merges":\#(ignore)},"pre_tokenizer":{"type":"Split","pattern":{"Regex":" "},"behavior":"Removed","invert":false}}"#
            #expect(try Tokenizer(tokenizerJSON: Data(json.utf8)).encode("abc bca a") == expected)
        }
    }

    @Test func handWrittenSplittersAgreeWithGeneralRegex() throws {
        let texts = TokenizerFixtures.expected.strings
        for source in [KnownSplitPattern.gpt2Source, KnownSplitPattern.llama3Source, KnownSplitPattern.qwen2Source] {
            let known = try #require(KnownSplitPattern(source: source))
            let general = try FallbackRegex(source)
            for t in texts {
                let s = Array(t.unicodeScalars)
                var fast: [Range<Int>] = []
                known.split(s, s.map(CharClass.of), 0, s.count, into: &fast)
                #expect(fast == general.matches(s, 0, s.count), "\(t.debugDescription)")
            }
        }
    }
}

/// Decoders and pre-tokenizers in isolation; expected values were printed by `tokenizers` 0.23.3
/// (`decoders.Metaspace(...).decode([...])`, `pre_tokenizers.Metaspace(...).pre_tokenize_str(...)`, …).
@Suite struct TokenizerPiecesTests {
    @Test func decodersMatchTokenizers() {
        let always = TokenDecoder.metaspace(replacement: "\u{2581}", prependScheme: .always)
        #expect(always.decode(["▁a▁b", "▁c", "▁▁d"]) == "ab c  d")
        #expect(always.decode(["▁▁a", "b"]) == "ab")
        #expect(TokenDecoder.metaspace(replacement: "\u{2581}", prependScheme: .never).decode(["▁a", "▁c"]) == " a c")
        #expect(TokenDecoder.strip(content: " ", start: 1, stop: 0).decode(["  a", " b"]) == " ab")
        #expect(TokenDecoder.byteFallback.decode(["<0xE4>", "<0xBD>", "a", "<0xE4>", "<0x41>"]) == "\u{FFFD}\u{FFFD}a\u{FFFD}\u{FFFD}")
        #expect(TokenDecoder.byteFallback.decode(["<0xE4>", "<0xBD>", "<0xA0>"]) == "你")
        #expect(TokenDecoder.byteLevel.decode(["Ġhello", "Ċ", "<|im_end|>"]) == " hello\n<|im_end|>")
    }

    func pieces(_ pre: PreTokenizer, _ text: String) -> [String] {
        var t = PreTokenized(Array(text.unicodeScalars), atTextStart: true)
        pre.apply(&t)
        let bytes = pre.isByteLevel
        return t.pieces.map { r in
            var v = String.UnicodeScalarView()
            for s in t.scalars[r] {
                if bytes { for b in UTF8.encode(s)! { v.append(ByteLevelTable.byteToScalar[Int(b)]) } } else { v.append(s) }
            }
            return String(v)
        }
    }

    @Test func preTokenizersMatchTokenizers() {
        #expect(pieces(.metaspace(replacement: "\u{2581}", prependScheme: .first, split: true), "hello  world a")
                == ["▁hello", "▁", "▁world", "▁a"])
        #expect(pieces(.byteLevel(addPrefixSpace: true, useRegex: false), " hi there") == ["ĠhiĠthere"])
        #expect(pieces(.byteLevel(addPrefixSpace: true, useRegex: false), "\thi") == ["Ġĉhi"])
        #expect(pieces(.sequence([.digits(individual: true), .byteLevel(addPrefixSpace: true, useRegex: true)]), "ab12 cd")
                == ["Ġab", "Ġ1", "Ġ2", "Ġcd"])
        #expect(pieces(.digits(individual: false), "a123b4") == ["a", "123", "b", "4"])
    }

    @Test func byteTableIsGPT2s() {
        #expect(ByteLevelTable.byteToScalar[0] == "\u{100}")
        #expect(ByteLevelTable.byteToScalar[32] == "Ġ")
        #expect(ByteLevelTable.byteToScalar[10] == "Ċ")
        #expect(ByteLevelTable.byteToScalar[127] == "\u{121}")
        #expect(ByteLevelTable.byteToScalar[173] == "\u{143}")
        #expect(ByteLevelTable.byteToScalar[65] == "A")
        #expect(Set(ByteLevelTable.byteToScalar).count == 256)
        #expect((0..<256).allSatisfy { ByteLevelTable.byte(for: ByteLevelTable.byteToScalar[$0]) == UInt8($0) })
    }
}

/// The one merge queue both BPE models use: elements come out in `precedes` order, ties by position.
@Suite struct BinaryHeapTests {
    @Test func popsInMergeOrder() {
        var bpe = BinaryHeap<BPEMerge>()
        for (rank, pos) in [(5, 0), (1, 7), (3, 2), (1, 3), (9, 1), (3, 0)] {
            bpe.push(rank: UInt32(rank), pos: pos, newId: 0, right: 0)
        }
        var order: [String] = []
        while let m = bpe.pop() { order.append("\(m.rank)@\(m.pos)") }
        #expect(order == ["1@3", "1@7", "3@0", "3@2", "5@0", "9@1"])

        // SentencePiece: the highest score first, the leftmost on ties.
        var sp = BinaryHeap<SentencePieceScoreModel.Candidate>()
        for (score, pos) in [(-2.0, 4), (-1.0, 6), (-1.0, 2), (-3.0, 0)] as [(Float, Int)] {
            sp.push(.init(score: score, pos: pos, left: "", right: ""))
        }
        var spOrder: [Int] = []
        while let c = sp.pop() { spOrder.append(c.pos) }
        #expect(spOrder == [2, 6, 4, 0])
    }
}
