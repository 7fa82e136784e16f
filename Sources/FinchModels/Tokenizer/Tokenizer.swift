import Foundation

/// A text ↔ token-id mapping loaded from `tokenizer.json` (+ `tokenizer_config.json`) or GGUF metadata.
///
/// `encode` adds no BOS/EOS; special tokens written in the text map to their ids (as transformers does by
/// default). `decode` is the inverse. Thread-safe: the only mutable state is a locked cache.
public final class Tokenizer: @unchecked Sendable {
    /// No real vocabulary is larger; bounds what a malformed file can make us allocate.
    public static let maxVocabularySize = 1 << 22

    public enum Kind: String, Sendable, CustomStringConvertible {
        case byteLevelBPE = "byte-level BPE"
        case bpe = "BPE (SentencePiece style, byte fallback)"
        case sentencePieceScores = "SentencePiece BPE by scores (GGUF llama)"
        public var description: String { rawValue }
    }

    enum Model: Sendable {
        case bpe(BPEModel)
        case scores(SentencePieceScoreModel, addSpacePrefix: Bool)
    }

    public let kind: Kind
    /// Number of ids (model vocabulary plus added tokens).
    public let vocabSize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let unkTokenId: Int?
    public let padTokenId: Int?
    /// Whether the model expects BOS/EOS added around a sequence (from the config); `encode` never adds them.
    public let addBosToken: Bool
    public let addEosToken: Bool
    /// The Jinja chat template from the config or GGUF metadata, if any.
    public let chatTemplate: String?
    /// Contents of the special tokens, in id order.
    public let specialTokens: [String]
    public let specialTokenIds: Set<Int>

    let idToToken: [String?]
    let tokenToId: Vocabulary
    let model: Model
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: TokenDecoder?
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher

    struct Parts {
        var kind: Kind
        var model: Model
        var modelVocab: Vocabulary
        var added: [AddedToken]
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer?
        var decoder: TokenDecoder?
        var bos: Int?, eos: Int?, unk: Int?, pad: Int?
        var addBos = false, addEos = false
        var chatTemplate: String?
    }

    init(_ p: Parts) {
        var maxId = -1
        for v in p.modelVocab.values { maxId = max(maxId, v) }
        for t in p.added { maxId = max(maxId, t.id) }
        var table = [String?](repeating: nil, count: maxId + 1)
        var lookup = p.modelVocab
        for (t, id) in p.modelVocab where table[id] == nil { table[id] = t.string }
        for t in p.added { table[t.id] = t.content; lookup[TokenKey(t.content)] = t.id }
        idToToken = table
        tokenToId = lookup
        vocabSize = table.count
        kind = p.kind
        model = p.model
        normalizer = p.normalizer
        preTokenizer = p.preTokenizer
        decoder = p.decoder
        rawMatcher = AddedTokenMatcher(p.added.filter { !$0.normalized || p.normalizer == nil })
        normalizedMatcher = AddedTokenMatcher(p.normalizer == nil ? [] : p.added.filter { $0.normalized })
        let specials = p.added.filter { $0.special }.sorted { $0.id < $1.id }
        specialTokens = specials.map { $0.content }
        specialTokenIds = Set(specials.map { $0.id })
        bosTokenId = p.bos; eosTokenId = p.eos; unkTokenId = p.unk; padTokenId = p.pad
        addBosToken = p.addBos; addEosToken = p.addEos
        chatTemplate = p.chatTemplate
    }

    // MARK: - Lookup

    public func id(for token: String) -> Int? { tokenToId[TokenKey(token)] }

    public func token(for id: Int) -> String? {
        guard id >= 0, id < idToToken.count else { return nil }
        return idToToken[id]
    }

    // MARK: - Encoding

    /// Token ids of `text`, without BOS/EOS.
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        let scalars = Array(text.unicodeScalars)
        var previousWasToken = true  // GGUF llama: a space prefix starts the text and follows special tokens
        for segment in rawMatcher.split(scalars[...]) {
            switch segment {
            case .token(let id):
                out.append(id)
                previousWasToken = true
            case .text(let slice):
                let atStart = slice.startIndex == 0
                if let normalizer {
                    let normalized = Array(normalizer.apply(String(String.UnicodeScalarView(slice))).unicodeScalars)
                    for inner in normalizedMatcher.split(normalized[...]) {
                        switch inner {
                        case .token(let id): out.append(id)
                        case .text(let s): encodeSegment(s, atTextStart: atStart && s.startIndex == 0, prefixSpace: previousWasToken, into: &out)
                        }
                    }
                } else {
                    encodeSegment(slice, atTextStart: atStart, prefixSpace: previousWasToken, into: &out)
                }
                previousWasToken = false
            }
        }
        return out
    }

    private func encodeSegment(_ text: ArraySlice<Unicode.Scalar>, atTextStart: Bool, prefixSpace: Bool, into out: inout [Int]) {
        switch model {
        case let .scores(spm, addSpacePrefix):
            var s: [Unicode.Scalar] = []
            s.reserveCapacity(text.count + 1)
            if addSpacePrefix && prefixSpace { s.append("\u{2581}") }
            for c in text { s.append(c == " " ? "\u{2581}" : c) }
            spm.tokenize(s, into: &out)
        case .bpe(let bpe):
            var t = PreTokenized(Array(text), atTextStart: atTextStart)
            preTokenizer?.apply(&t)
            for r in t.pieces where !r.isEmpty {
                bpe.tokenize(t.scalars[r], into: &out)
            }
        }
    }

    // MARK: - Decoding

    /// The text of `ids`; ids out of range are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, id < idToToken.count, let t = idToToken[id] else { continue }
            if skipSpecialTokens && specialTokenIds.contains(id) { continue }
            tokens.append(t)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    /// A decoder fed one id at a time that returns text only once whole characters are available.
    public func streamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}

/// Incremental detokenization: never splits a UTF-8 character, and the concatenation of everything it returns
/// (including `finish()`) equals `decode` of all the ids.
public struct StreamingDecoder: Sendable {
    let tokenizer: Tokenizer
    let skipSpecialTokens: Bool
    private var ids: [Int] = []
    private var prefixOffset = 0
    private var readOffset = 0

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the newly completed text (possibly empty).
    public mutating func push(_ id: Int) -> String {
        ids.append(id)
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        // An incomplete UTF-8 sequence decodes to U+FFFD at the end: wait for more ids.
        guard full.utf8.count > prefix.utf8.count, full.unicodeScalars.last != "\u{FFFD}",
              full.utf8.starts(with: prefix.utf8) else { return "" }
        let delta = String(decoding: full.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        prefixOffset = readOffset
        readOffset = ids.count
        return delta
    }

    /// Flushes whatever is pending (an invalid trailing sequence comes out as U+FFFD).
    public mutating func finish() -> String {
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        prefixOffset = ids.count
        readOffset = ids.count
        guard full.utf8.starts(with: prefix.utf8) else { return "" }
        return String(decoding: full.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
