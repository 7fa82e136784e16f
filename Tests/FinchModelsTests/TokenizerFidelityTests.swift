import Foundation
import Testing
@testable import FinchModels

/// Token ids and decoded text identical to the Python `tokenizers`/transformers references.
@Suite struct TokenizerFidelityTests {
    static let variants = ["smollm2", "gpt2", "gpt2_prefix_space", "llama3", "qwen2", "deepseek_v3", "spm", "spm_metaspace"]

    @Test func fixturesArePresent() throws {
        #expect(TokenizerFixtures.expected.strings.count >= 40)
        for v in Self.variants { #expect(TokenizerFixtures.expected.ids[v]?.count == TokenizerFixtures.strings(v).count, "\(v)") }
    }

    @Test(arguments: variants)
    func idsMatchReference(variant: String) throws {
        let tok = try TokenizerFixtures.tokenizer(variant)
        let strings = TokenizerFixtures.strings(variant)
        let expected = try #require(TokenizerFixtures.expected.ids[variant])
        var mismatches = 0
        for (s, ids) in zip(strings, expected) {
            let got = tok.encode(s)
            if got != ids { mismatches += 1 }
            #expect(got == ids, "\(variant): \(s.debugDescription)")
        }
        #expect(mismatches == 0)
    }

    @Test(arguments: variants)
    func decodeMatchesReference(variant: String) throws {
        let tok = try TokenizerFixtures.tokenizer(variant)
        let ids = try #require(TokenizerFixtures.expected.ids[variant])
        let decoded = try #require(TokenizerFixtures.expected.decoded[variant])
        for (i, d) in zip(ids, decoded) {
            #expect(tok.decode(i) == d, "\(variant): \(d.debugDescription)")
        }
        if let skipped = TokenizerFixtures.expected.decoded[variant + "_skip"] {
            for (i, d) in zip(ids, skipped) {
                #expect(tok.decode(i, skipSpecialTokens: true) == d, "\(variant) skip: \(d.debugDescription)")
            }
        }
    }

    /// For the tokenizers without a lossy normalizer or prefix, decode(encode(x)) == x exactly
    /// (llama3's extra strings are left out: lstrip/rstrip tokens absorb whitespace by design).
    @Test(arguments: ["smollm2", "gpt2", "llama3", "deepseek_v3", "spm"])
    func roundTripIsExact(variant: String) throws {
        let tok = try TokenizerFixtures.tokenizer(variant)
        for s in TokenizerFixtures.expected.strings {
            #expect(tok.decode(tok.encode(s)) == s, "\(variant): \(s.debugDescription)")
        }
    }

    @Test(arguments: variants)
    func streamingEqualsFullDecode(variant: String) throws {
        let tok = try TokenizerFixtures.tokenizer(variant)
        for ids in try #require(TokenizerFixtures.expected.ids[variant]) {
            var stream = tok.streamingDecoder()
            var text = ""
            for id in ids {
                let piece = stream.push(id)
                #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "a streamed piece split a character")
                text += piece
            }
            text += stream.finish()
            #expect(text == tok.decode(ids))
        }
    }

    @Test func streamingHoldsPartialCharacters() throws {
        let tok = try TokenizerFixtures.tokenizer("smollm2")
        // 👨‍👩‍👧‍👦 is several byte-level tokens, none of which is a whole character on its own.
        let ids = tok.encode("👨‍👩‍👧‍👦")
        #expect(ids.count > 1)
        var stream = tok.streamingDecoder()
        var pieces: [String] = []
        for id in ids { pieces.append(stream.push(id)) }
        pieces.append(stream.finish())
        #expect(pieces.first == "")
        #expect(pieces.joined() == "👨‍👩‍👧‍👦")
        // A dangling lead byte comes out as U+FFFD only at finish.
        var s2 = tok.streamingDecoder()
        #expect(s2.push(ids[0]) == "")
        #expect(s2.finish() == "\u{FFFD}")
    }

    @Test func smolLM2Facts() throws {
        let tok = try TokenizerFixtures.tokenizer("smollm2")
        #expect(tok.kind == .byteLevelBPE)
        #expect(tok.vocabSize == 49152)
        #expect(tok.id(for: "<|im_start|>") == 1)
        #expect(tok.token(for: 2) == "<|im_end|>")
        #expect(tok.bosTokenId == 1)
        #expect(tok.eosTokenId == 2)
        #expect(tok.specialTokenIds.contains(0))
        #expect(tok.token(for: -1) == nil && tok.token(for: 1 << 30) == nil)
        #expect(tok.chatTemplate?.contains("<|im_start|>") == true)
        #expect(tok.encode("<|im_start|>user") == [1] + tok.encode("user"))
        #expect(tok.decode([1, 2], skipSpecialTokens: true) == "")
    }

    @Test func spmFacts() throws {
        let tok = try TokenizerFixtures.tokenizer("spm")
        #expect(tok.kind == .bpe)
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2 && tok.unkTokenId == 0)
        #expect(tok.addBosToken)
        // Byte fallback: a character absent from the tiny vocabulary becomes <0xNN> tokens.
        let ids = tok.encode("ꙮ")
        #expect(ids.compactMap { tok.token(for: $0) }.filter { $0.hasPrefix("<0x") }.count == 3)
        #expect(tok.decode(ids) == "ꙮ")
    }
}
