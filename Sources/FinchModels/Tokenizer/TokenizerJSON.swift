#if canImport(FinchSupport)
import FinchSupport
#endif
import Foundation

extension Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`, with its `tokenizer_config.json` if given.
    /// `chatTemplate` (the contents of a `chat_template.jinja`, which newer transformers write instead of the
    /// config key) takes precedence over the config's. `tokenizerFile`/`configFile` name the files in errors.
    public convenience init(tokenizerJSON: Data, config: Data? = nil, chatTemplate: String? = nil,
                            tokenizerFile: String = "tokenizer.json", configFile: String = "tokenizer_config.json") throws {
        let r = TokenizerFileReader(file: tokenizerFile)
        let root = try r.object(try r.parse([UInt8](tokenizerJSON)), "(top level)")

        // Model
        let modelObj = try r.object(root["model"], "model")
        let type = try r.optionalString(modelObj["type"], "model.type") ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(file: tokenizerFile, path: "model.type", what: "model \"\(type)\" (only BPE)") }
        var vocab: Vocabulary = [:]
        let vocabObj = try r.object(modelObj["vocab"], "model.vocab")
        vocab.reserveCapacity(vocabObj.count)
        for member in vocabObj.pairs {
            vocab[TokenKey(member.key)] = try r.tokenId(member.value, "model.vocab[\"\(member.key)\"]")
        }

        var mergePairs: [(String, String)] = []
        let mergesArr = try r.isNull(modelObj["merges"]) ? [] : r.array(modelObj["merges"], "model.merges")
        mergePairs.reserveCapacity(mergesArr.count)
        for (k, m) in mergesArr.enumerated() {
            switch m {
            case .string(let s):
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidValue(file: tokenizerFile, path: "model.merges[\(k)]", reason: "\"\(s)\" is not two tokens separated by one space")
                }
                mergePairs.append((String(parts[0]), String(parts[1])))
            case .array(let a):
                guard a.count == 2, case .string(let x) = a[0], case .string(let y) = a[1] else {
                    throw TokenizerError.invalidValue(file: tokenizerFile, path: "model.merges[\(k)]", reason: "expected two strings")
                }
                mergePairs.append((x, y))
            default:
                throw TokenizerError.wrongType(file: tokenizerFile, path: "model.merges[\(k)]", expected: "a string \"a b\" or an array [\"a\", \"b\"]")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = try r.optionalString(modelObj[key], "model.\(key)"), !s.isEmpty {
                throw TokenizerError.unsupported(file: tokenizerFile, path: "model.\(key)", what: "value \"\(s)\"")
            }
        }

        // Added tokens
        var added: [AddedToken] = []
        if !r.isNull(root["added_tokens"]) {
            for (k, v) in try r.array(root["added_tokens"], "added_tokens").enumerated() {
                added.append(try Self.addedToken(v, path: "added_tokens[\(k)]", r))
            }
        }

        let normalizer = try r.isNull(root["normalizer"]) ? nil : Self.normalizer(root["normalizer"], "normalizer", r)
        let pre = try r.isNull(root["pre_tokenizer"]) ? nil : Self.preTokenizer(root["pre_tokenizer"], "pre_tokenizer", r)
        let decoder = try r.isNull(root["decoder"]) ? nil : Self.decoder(root["decoder"], "decoder", r)
        let byteLevel = pre?.isByteLevel ?? false

        let bpe = BPEModel(
            vocab: vocab, mergePairs: mergePairs, byteLevel: byteLevel,
            ignoreMerges: try r.bool(modelObj["ignore_merges"], "model.ignore_merges", default: false),
            byteFallback: try r.bool(modelObj["byte_fallback"], "model.byte_fallback", default: false),
            fuseUnk: try r.bool(modelObj["fuse_unk"], "model.fuse_unk", default: false),
            unkToken: try r.optionalString(modelObj["unk_token"], "model.unk_token"))

        var parts = Parts(kind: byteLevel ? .byteLevelBPE : .bpe, model: .bpe(bpe), modelVocab: vocab, added: added,
                          normalizer: normalizer, preTokenizer: pre, decoder: decoder)

        // Config
        if let config {
            let c = TokenizerFileReader(file: configFile)
            let cfg = try c.object(try c.parse([UInt8](config)), "(top level)")
            var known = Set(added.map { $0.id })
            if !c.isNull(cfg["added_tokens_decoder"]) {
                for member in try c.object(cfg["added_tokens_decoder"], "added_tokens_decoder").pairs {
                    let idText = member.key, v = member.value
                    let path = "added_tokens_decoder[\"\(idText)\"]"
                    guard let id = Int(idText), id >= 0, id < Tokenizer.maxVocabularySize else {
                        throw TokenizerError.invalidValue(file: configFile, path: path, reason: "key is not a token id")
                    }
                    var obj = try c.object(v, path)
                    obj["id"] = .int(id)
                    let t = try Self.addedToken(obj.value, path: path, c)
                    if !known.contains(id) { parts.added.append(t); known.insert(id) }
                }
            }
            var lookup = vocab
            for t in parts.added { lookup[TokenKey(t.content)] = t.id }
            func tokenId(_ key: String) throws -> Int? {
                let v = cfg[key]
                if c.isNull(v) { return nil }
                let content: String
                if case .object = v! { content = try c.string(v!["content"], "\(key).content") } else { content = try c.string(v, key) }
                return lookup[TokenKey(content)]
            }
            parts.bos = try tokenId("bos_token")
            parts.eos = try tokenId("eos_token")
            parts.unk = try tokenId("unk_token")
            parts.pad = try tokenId("pad_token")
            parts.addBos = try c.bool(cfg["add_bos_token"], "add_bos_token", default: false)
            parts.addEos = try c.bool(cfg["add_eos_token"], "add_eos_token", default: false)
            if let t = cfg["chat_template"], t != .null {
                switch t {
                case .string(let s): parts.chatTemplate = s
                case .array(let list):
                    // [{name, template}]: the "default" one, else the first.
                    var chosen: String? = nil
                    for (k, item) in list.enumerated() {
                        let o = try c.object(item, "chat_template[\(k)]")
                        let name = try c.optionalString(o["name"], "chat_template[\(k)].name")
                        let tpl = try c.string(o["template"], "chat_template[\(k)].template")
                        if name == "default" || chosen == nil { chosen = tpl }
                        if name == "default" { break }
                    }
                    parts.chatTemplate = chosen
                default:
                    throw TokenizerError.wrongType(file: configFile, path: "chat_template", expected: "a string or a list of {name, template}")
                }
            }
        }
        if let chatTemplate { parts.chatTemplate = chatTemplate }
        if parts.unk == nil, let u = bpe.unkId { parts.unk = u }
        self.init(parts)
    }

    static func addedToken(_ v: JSON, path: String, _ r: TokenizerFileReader) throws -> AddedToken {
        let o = try r.object(v, path)
        let content = try r.string(o["content"], "\(path).content")
        guard !content.isEmpty else { throw TokenizerError.invalidValue(file: r.file, path: "\(path).content", reason: "empty token") }
        return AddedToken(
            id: try r.tokenId(o["id"], "\(path).id"), content: content, scalars: Array(content.unicodeScalars),
            special: try r.bool(o["special"], "\(path).special", default: false),
            lstrip: try r.bool(o["lstrip"], "\(path).lstrip", default: false),
            rstrip: try r.bool(o["rstrip"], "\(path).rstrip", default: false),
            singleWord: try r.bool(o["single_word"], "\(path).single_word", default: false),
            normalized: try r.bool(o["normalized"], "\(path).normalized", default: true))
    }

    static func pattern(_ v: JSON?, _ path: String, _ r: TokenizerFileReader) throws -> (literal: String?, regex: String?) {
        let o = try r.object(v, path)
        if let s = o["String"] { return (try r.string(s, "\(path).String"), nil) }
        if let s = o["Regex"] { return (nil, try r.string(s, "\(path).Regex")) }
        throw TokenizerError.missingKey(file: r.file, path: "\(path).String or \(path).Regex")
    }

    static func regex(_ source: String, _ path: String, _ r: TokenizerFileReader) throws -> FallbackRegex {
        do { return try FallbackRegex(source) } catch {
            throw TokenizerError.invalidValue(file: r.file, path: path, reason: "regex does not compile: \(source)")
        }
    }

    static func normalizer(_ v: JSON?, _ path: String, _ r: TokenizerFileReader, depth: Int = 0) throws -> Normalizer {
        guard depth < 16 else { throw TokenizerError.invalidValue(file: r.file, path: path, reason: "nested too deeply") }
        let o = try r.object(v, path)
        let type = try r.string(o["type"], "\(path).type")
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend": return .prepend(try r.string(o["prepend"], "\(path).prepend"))
        case "Strip":
            return .strip(left: try r.bool(o["strip_left"], "\(path).strip_left", default: true),
                          right: try r.bool(o["strip_right"], "\(path).strip_right", default: true))
        case "Replace":
            let p = try pattern(o["pattern"], "\(path).pattern", r)
            let content = try r.string(o["content"], "\(path).content")
            if let lit = p.literal { return .replace(pattern: .literal(lit), content: content) }
            return .replace(pattern: .regex(try regex(p.regex!, "\(path).pattern.Regex", r)), content: content)
        case "Sequence":
            let list = try r.array(o["normalizers"], "\(path).normalizers")
            return .sequence(try list.enumerated().map { try normalizer($1, "\(path).normalizers[\($0)]", r, depth: depth + 1) })
        default:
            throw TokenizerError.unsupported(file: r.file, path: "\(path).type", what: "normalizer \"\(type)\"")
        }
    }

    static func prependScheme(_ o: JSONObject, _ path: String, _ r: TokenizerFileReader) throws -> PrependScheme {
        if let s = try r.optionalString(o["prepend_scheme"], "\(path).prepend_scheme") {
            guard let p = PrependScheme(rawValue: s) else {
                throw TokenizerError.invalidValue(file: r.file, path: "\(path).prepend_scheme", reason: "expected first, never or always")
            }
            return p
        }
        return try r.bool(o["add_prefix_space"], "\(path).add_prefix_space", default: true) ? .always : .never
    }

    static func preTokenizer(_ v: JSON?, _ path: String, _ r: TokenizerFileReader, depth: Int = 0) throws -> PreTokenizer {
        guard depth < 16 else { throw TokenizerError.invalidValue(file: r.file, path: path, reason: "nested too deeply") }
        let o = try r.object(v, path)
        let type = try r.string(o["type"], "\(path).type")
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try r.bool(o["add_prefix_space"], "\(path).add_prefix_space", default: true),
                              useRegex: try r.bool(o["use_regex"], "\(path).use_regex", default: true))
        case "Digits":
            return .digits(individual: try r.bool(o["individual_digits"], "\(path).individual_digits", default: false))
        case "Metaspace":
            return .metaspace(replacement: try r.scalar(o["replacement"], "\(path).replacement", default: "\u{2581}"),
                              prependScheme: try prependScheme(o, path, r),
                              split: try r.bool(o["split"], "\(path).split", default: true))
        case "Split":
            let p = try pattern(o["pattern"], "\(path).pattern", r)
            let behaviorName = try r.string(o["behavior"], "\(path).behavior")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError.invalidValue(file: r.file, path: "\(path).behavior", reason: "unknown behavior \"\(behaviorName)\"")
            }
            let invert = try r.bool(o["invert"], "\(path).invert", default: false)
            if let lit = p.literal { return .split(.literal(Array(lit.unicodeScalars)), behavior, invert: invert) }
            if let known = KnownSplitPattern(source: p.regex!) { return .split(.known(known), behavior, invert: invert) }
            return .split(.regex(try regex(p.regex!, "\(path).pattern.Regex", r)), behavior, invert: invert)
        case "Sequence":
            let list = try r.array(o["pretokenizers"], "\(path).pretokenizers")
            return .sequence(try list.enumerated().map { try preTokenizer($1, "\(path).pretokenizers[\($0)]", r, depth: depth + 1) })
        default:
            throw TokenizerError.unsupported(file: r.file, path: "\(path).type", what: "pre-tokenizer \"\(type)\"")
        }
    }

    static func decoder(_ v: JSON?, _ path: String, _ r: TokenizerFileReader, depth: Int = 0) throws -> TokenDecoder {
        guard depth < 16 else { throw TokenizerError.invalidValue(file: r.file, path: path, reason: "nested too deeply") }
        let o = try r.object(v, path)
        let type = try r.string(o["type"], "\(path).type")
        switch type {
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Replace":
            let p = try pattern(o["pattern"], "\(path).pattern", r)
            guard let lit = p.literal else {
                throw TokenizerError.unsupported(file: r.file, path: "\(path).pattern", what: "regex in a Replace decoder")
            }
            return .replace(pattern: lit, content: try r.string(o["content"], "\(path).content"))
        case "Strip":
            return .strip(content: try r.scalar(o["content"], "\(path).content", default: " "),
                          start: max(0, try r.int(o["start"], "\(path).start", default: 0)),
                          stop: max(0, try r.int(o["stop"], "\(path).stop", default: 0)))
        case "Metaspace":
            return .metaspace(replacement: try r.scalar(o["replacement"], "\(path).replacement", default: "\u{2581}"),
                              prependScheme: try prependScheme(o, path, r))
        case "Sequence":
            let list = try r.array(o["decoders"], "\(path).decoders")
            return .sequence(try list.enumerated().map { try decoder($1, "\(path).decoders[\($0)]", r, depth: depth + 1) })
        default:
            throw TokenizerError.unsupported(file: r.file, path: "\(path).type", what: "decoder \"\(type)\"")
        }
    }
}
