/// What GGUF metadata says about a tokenizer (`tokenizer.ggml.*`, `tokenizer.chat_template`).
/// The GGUF reader fills it; `Tokenizer(gguf:)` turns it into a tokenizer.
public struct GGUFTokenizerSpec: Sendable, Equatable {
    /// llama.cpp token types (`tokenizer.ggml.token_type`).
    public enum TokenType: Int32, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`: "default", "gpt-2", "smollm", "llama-bpe", "qwen2", … (byte-level BPE only).
    public var pre: String?
    public var tokens: [String]
    /// Raw `token_type` values; empty means all normal.
    public var tokenTypes: [Int32]
    /// `tokenizer.ggml.scores` (SentencePiece); empty when absent.
    public var scores: [Float]
    /// `tokenizer.ggml.merges`, "a b" strings (byte-level BPE).
    public var merges: [String]
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var unknownTokenId: Int?
    public var paddingTokenId: Int?
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    public var addSpacePrefix: Bool?
    public var chatTemplate: String?

    public init(model: String, pre: String? = nil, tokens: [String], tokenTypes: [Int32] = [], scores: [Float] = [],
                merges: [String] = [], bosTokenId: Int? = nil, eosTokenId: Int? = nil, unknownTokenId: Int? = nil,
                paddingTokenId: Int? = nil, addBosToken: Bool? = nil, addEosToken: Bool? = nil,
                addSpacePrefix: Bool? = nil, chatTemplate: String? = nil) {
        self.model = model; self.pre = pre; self.tokens = tokens; self.tokenTypes = tokenTypes; self.scores = scores
        self.merges = merges; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId; self.paddingTokenId = paddingTokenId; self.addBosToken = addBosToken
        self.addEosToken = addEosToken; self.addSpacePrefix = addSpacePrefix; self.chatTemplate = chatTemplate
    }
}

extension Tokenizer {
    static let ggufFile = "GGUF metadata"

    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value.
    static func ggufPreTokenizer(_ pre: String?) throws -> PreTokenizer {
        let byteLevel = PreTokenizer.byteLevel(addPrefixSpace: false, useRegex: false)
        switch pre ?? "default" {
        case "default", "gpt-2", "gpt2":
            return .byteLevel(addPrefixSpace: false, useRegex: true)
        case "smollm", "starcoder", "refact", "codeshell":
            return .sequence([.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)])
        case "llama-bpe", "llama3", "llama-v3", "smaug-bpe":
            return .sequence([.split(.known(.llama3(maxDigits: 3)), .isolated, invert: false), byteLevel])
        case "qwen2", "deepseek-r1-qwen":
            return .sequence([.split(.known(.llama3(maxDigits: 1)), .isolated, invert: false), byteLevel])
        case let other:
            throw TokenizerError.unsupported(file: ggufFile, path: "tokenizer.ggml.pre", what: "pre-tokenizer \"\(other)\"")
        }
    }

    /// Builds a tokenizer from GGUF tokenizer metadata.
    public convenience init(gguf spec: GGUFTokenizerSpec) throws {
        let file = Self.ggufFile
        guard !spec.tokens.isEmpty, spec.tokens.count < Tokenizer.maxVocabularySize else {
            throw TokenizerError.invalidValue(file: file, path: "tokenizer.ggml.tokens", reason: "\(spec.tokens.count) tokens")
        }
        guard spec.tokenTypes.isEmpty || spec.tokenTypes.count == spec.tokens.count else {
            throw TokenizerError.invalidValue(file: file, path: "tokenizer.ggml.token_type",
                                              reason: "\(spec.tokenTypes.count) types for \(spec.tokens.count) tokens")
        }
        guard spec.scores.isEmpty || spec.scores.count == spec.tokens.count else {
            throw TokenizerError.invalidValue(file: file, path: "tokenizer.ggml.scores",
                                              reason: "\(spec.scores.count) scores for \(spec.tokens.count) tokens")
        }
        func checkedId(_ id: Int?, _ key: String) throws -> Int? {
            guard let id else { return nil }
            // llama.cpp writes -1 / UINT32_MAX style values for "none".
            guard id >= 0 else { return nil }
            guard id < spec.tokens.count else {
                throw TokenizerError.invalidValue(file: file, path: key, reason: "id \(id) is outside the \(spec.tokens.count) tokens")
            }
            return id
        }
        let bos = try checkedId(spec.bosTokenId, "tokenizer.ggml.bos_token_id")
        let eos = try checkedId(spec.eosTokenId, "tokenizer.ggml.eos_token_id")
        let unk = try checkedId(spec.unknownTokenId, "tokenizer.ggml.unknown_token_id")
        let pad = try checkedId(spec.paddingTokenId, "tokenizer.ggml.padding_token_id")

        var vocab: Vocabulary = [:]
        vocab.reserveCapacity(spec.tokens.count)
        var added: [AddedToken] = []
        for (id, t) in spec.tokens.enumerated() {
            let type = spec.tokenTypes.isEmpty ? GGUFTokenizerSpec.TokenType.normal
                : GGUFTokenizerSpec.TokenType(rawValue: spec.tokenTypes[id]) ?? .normal
            if type == .control || type == .userDefined, !t.isEmpty {
                added.append(AddedToken(id: id, content: t, scalars: Array(t.unicodeScalars), special: type == .control,
                                        lstrip: false, rstrip: false, singleWord: false, normalized: false))
            }
            if vocab[TokenKey(t)] == nil { vocab[TokenKey(t)] = id }
        }

        var parts: Parts
        switch spec.model {
        case "gpt2":
            var pairs: [(String, String)] = []
            pairs.reserveCapacity(spec.merges.count)
            for (k, m) in spec.merges.enumerated() {
                let p = m.split(separator: " ", omittingEmptySubsequences: false)
                guard p.count == 2 else {
                    throw TokenizerError.invalidValue(file: file, path: "tokenizer.ggml.merges[\(k)]", reason: "\"\(m)\" is not two tokens separated by one space")
                }
                pairs.append((String(p[0]), String(p[1])))
            }
            let bpe = BPEModel(vocab: vocab, mergePairs: pairs, byteLevel: true, ignoreMerges: false,
                               byteFallback: false, fuseUnk: false, unkToken: nil)
            let pre = try Self.ggufPreTokenizer(spec.pre)
            let normalizer: Normalizer? = (spec.pre == "qwen2" || spec.pre == "deepseek-r1-qwen") ? .nfc : nil
            parts = Parts(kind: .byteLevelBPE, model: .bpe(bpe), modelVocab: vocab, added: added,
                          normalizer: normalizer, preTokenizer: pre, decoder: .byteLevel)
        case "llama":
            let addSpace = spec.addSpacePrefix ?? true
            let spm = SentencePieceScoreModel(tokens: spec.tokens, scores: spec.scores, unkId: unk)
            var steps: [TokenDecoder] = [.replace(pattern: "\u{2581}", content: " "), .byteFallback, .fuse]
            if addSpace { steps.append(.strip(content: " ", start: 1, stop: 0)) }
            parts = Parts(kind: .sentencePieceScores, model: .scores(spm, addSpacePrefix: addSpace), modelVocab: vocab,
                          added: added, normalizer: nil, preTokenizer: nil, decoder: .sequence(steps))
        case let other:
            throw TokenizerError.unsupported(file: file, path: "tokenizer.ggml.model", what: "tokenizer model \"\(other)\"")
        }
        parts.bos = bos; parts.eos = eos; parts.unk = unk; parts.pad = pad
        parts.addBos = spec.addBosToken ?? (spec.model == "llama")
        parts.addEos = spec.addEosToken ?? false
        parts.chatTemplate = spec.chatTemplate
        self.init(parts)
    }
}
