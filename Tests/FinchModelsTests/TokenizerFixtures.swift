import Foundation
@testable import FinchModels

/// Loads the committed tokenizer fixtures (written by scripts/reference/tokenizer_fixtures.py).
enum TokenizerFixtures {
    static func url(_ path: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/tokenizers").appendingPathComponent(path)
    }

    static func data(_ path: String) -> Data {
        (try? Data(contentsOf: url(path))) ?? Data()
    }

    struct Expected {
        let strings: [String]
        let extraStrings: [String]
        let spmExtraStrings: [String]
        let ids: [String: [[Int]]]
        let decoded: [String: [String]]
    }

    static let expected: Expected = {
        let obj = (try? JSONSerialization.jsonObject(with: data("expected.json"))) as? [String: Any] ?? [:]
        let ids = (obj["ids"] as? [String: [[Int]]]) ?? [:]
        return Expected(strings: obj["strings"] as? [String] ?? [], extraStrings: obj["extra_strings"] as? [String] ?? [],
                        spmExtraStrings: obj["spm_extra_strings"] as? [String] ?? [],
                        ids: ids, decoded: obj["decoded"] as? [String: [String]] ?? [:])
    }()

    static let smolJSON = data("smollm2/tokenizer.json")
    static let smolConfig = data("smollm2/tokenizer_config.json")

    /// The SmolLM2 tokenizer.json with a variant's overrides applied (see variants.json).
    static func variantJSON(_ name: String) -> Data {
        guard var root = (try? JSONSerialization.jsonObject(with: smolJSON)) as? [String: Any],
              let variants = (try? JSONSerialization.jsonObject(with: data("variants.json")) as? [String: Any])?["variants"] as? [String: Any],
              let v = variants[name] as? [String: Any] else { return Data() }
        for key in ["normalizer", "pre_tokenizer", "decoder"] { if let x = v[key] { root[key] = x } }
        var model = root["model"] as! [String: Any]
        if let ignore = v["ignore_merges"] { model["ignore_merges"] = ignore }
        if v["merges_format"] as? String == "string" {
            model["merges"] = (model["merges"] as! [Any]).map { m -> Any in
                if let pair = m as? [String] { return pair.joined(separator: " ") }
                return m
            }
        }
        root["model"] = model
        if let extra = v["extra_added_tokens"] as? [[String: Any]] {
            var added = root["added_tokens"] as! [[String: Any]]
            var next = max((added.map { $0["id"] as! Int }.max() ?? 0) + 1, (model["vocab"] as! [String: Any]).count)
            for var t in extra { t["id"] = next; next += 1; added.append(t) }
            root["added_tokens"] = added
        }
        return (try? JSONSerialization.data(withJSONObject: root)) ?? Data()
    }

    static let lock = NSLock()
    nonisolated(unsafe) static var cache: [String: Tokenizer] = [:]

    /// Tokenizers by fixture name: smollm2, gpt2, gpt2_prefix_space, llama3, qwen2, spm, spm_metaspace.
    static func tokenizer(_ name: String) throws -> Tokenizer {
        lock.lock(); defer { lock.unlock() }
        if let t = cache[name] { return t }
        let t: Tokenizer
        switch name {
        case "smollm2": t = try Tokenizer(tokenizerJSON: smolJSON, config: smolConfig)
        case "spm": t = try Tokenizer(tokenizerJSON: data("spm/tokenizer.json"), config: data("spm/tokenizer_config.json"))
        case "spm_metaspace": t = try Tokenizer(tokenizerJSON: data("spm/tokenizer_metaspace.json"), config: data("spm/tokenizer_config.json"))
        default: t = try Tokenizer(tokenizerJSON: variantJSON(name), config: smolConfig)
        }
        cache[name] = t
        return t
    }

    /// The strings a variant was encoded on (llama3 adds strings exercising its extra added tokens, the
    /// SentencePiece-style ones strings with <s>, </s>, <unk> written in the text).
    static func strings(_ name: String) -> [String] {
        switch name {
        case "llama3": return expected.strings + expected.extraStrings
        case "spm", "spm_metaspace": return expected.strings + expected.spmExtraStrings
        default: return expected.strings
        }
    }
}
