import Foundation
import Testing
import FinchSupport

/// The one JSON parser and writer: both modes, escaping, float round trips.
@Suite struct JSONParserTests {
    @Test func parsesRFC8259AndKeepsKeyOrder() throws {
        let v = try JSON.parse(#" {"b":1,"a":[1, -2.5e3, true, false, null],"s":"\u00e9\ud83e\udd9c\n\"","c":{"d":-3e2}} "#, options: .strict)
        #expect(v.objectValue?.map(\.0) == ["b", "a", "s", "c"])
        #expect(v["a"] == .array([.int(1), .double(-2500), .bool(true), .bool(false), .null]))
        #expect(v["s"]?.stringValue == "é🦜\n\"")
        #expect(v["c"]?["d"] == .double(-300))
        #expect(v["a"]?.arrayValue?[0].uint64Value == 1)
        #expect(v["a"]?.arrayValue?[1].uint64Value == nil)
        #expect(try JSON.parse(v.serialized(), options: .strict) == v)
        let ints = try JSON.parse("[-17, 0, -0, 123456789012345678, 9223372036854775807, -9223372036854775808]", options: .strict)
        #expect(ints == [-17, 0, 0, 123456789012345678, .int(.max), .int(.min)])
    }

    @Test func rejectsMalformedTextInBothModes() {
        for bad in ["", "{", "[1,]", "{\"a\":1,}", "1.", "\"\\x\"", "\"\u{01}\"", "{\"a\" 1}", "tru", "[1] 2", "{\"a\":", "[1,2] x", "{\"a\":01x}", "+1", "'a'"] {
            #expect(throws: JSONError.self, "strict \(bad)") { try JSON.parse(bad, options: .strict) }
            #expect(throws: JSONError.self, "lenient \(bad)") { try JSON.parse(bad, options: .lenient) }
        }
        #expect(throws: JSONError.self) { try JSON.parse(String(repeating: "[", count: 10_000), options: .lenient) }
    }

    /// Safetensors headers strictly; tokenizer files, configs and datasets the way HF tools and Python read them.
    @Test func strictAndLenientDiffer() throws {
        let dup = #"{"a":1,"a":2}"#, lone = #""\ud800x""#, zero = "01"
        #expect(try JSON.parse(dup, options: .lenient)["a"] == .int(2))
        #expect(throws: JSONError(message: "duplicate key \"a\"", offset: 7)) { try JSON.parse(dup, options: .strict) }
        #expect(try JSON.parse(lone, options: .lenient) == .string("\u{FFFD}x"))
        #expect(throws: JSONError.self) { try JSON.parse(lone, options: .strict) }
        #expect(try JSON.parse(zero, options: .lenient) == .int(1))
        #expect(throws: JSONError.self) { try JSON.parse(zero, options: .strict) }
        // Python's json writes NaN and Infinity; HF config files sometimes carry them.
        let py = try JSON.parse(#"[NaN, Infinity, -Infinity]"#, options: .lenient)
        #expect(py.arrayValue?[0].doubleValue?.isNaN == true)
        #expect(py.arrayValue?[1] == .double(.infinity) && py.arrayValue?[2] == .double(-.infinity))
        for s in ["NaN", "Infinity", "-Infinity", "\u{FEFF}{}"] {
            #expect(throws: JSONError.self, "\(s)") { try JSON.parse(s, options: .strict) }
        }
        #expect(try JSON.parse("\u{FEFF}{\"a\":1}", options: .lenient)["a"] == .int(1))
        // An integer beyond Int: an error strictly (a byte offset must be exact), a double leniently.
        #expect(throws: JSONError(message: "number 18446744073709551615 is out of range", offset: 0)) {
            try JSON.parse("18446744073709551615", options: .strict)
        }
        #expect(try JSON.parse("18446744073709551615", options: .lenient) == .double(18446744073709551615))
        #expect(throws: JSONError.self) { try JSON.parse("1e999", options: .strict) }
        // Depth and size limits.
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError(message: "nesting deeper than 64", offset: 64)) { try JSON.parse(deep, options: .strict) }
        #expect(try JSON.parse(deep, options: .lenient).arrayValue != nil)
        var small = JSON.ParseOptions.strict
        small.maxBytes = 4
        #expect(throws: JSONError.self) { try JSON.parse("[1,2]", options: small) }
        // Invalid UTF-8 inside a string.
        let badUTF8: [UInt8] = [0x22, 0xFF, 0x22]
        #expect(throws: JSONError.self) { try JSON.parse(badUTF8, options: .strict) }
        #expect(try JSON.parse(badUTF8, options: .lenient) == .string("\u{FFFD}"))
    }

    /// Keys compare byte for byte: a decomposed "é" is not the precomposed one (two tokens in a vocabulary).
    @Test func keysCompareByteForByte() throws {
        let keys = try JSON.parse("{\"e\u{301}\":1,\"\u{e9}\":2}", options: .strict)
        #expect(keys["e\u{301}"] == .int(1))
        #expect(keys["\u{e9}"] == .int(2))
    }

    /// Every read is bounds-checked: each prefix of a valid document fails cleanly instead of reading past the end.
    @Test func everyTruncationIsAnError() throws {
        let text = Array(#"{"a":[1,2.5e-3,"x\u00e9\ud83e\udd9c"],"b":{"c":null,"d":true}}"#.utf8)
        _ = try JSON.parse(text, options: .strict)
        for n in 0..<text.count {
            #expect(throws: JSONError.self, "\(n)") { try JSON.parse(Array(text[..<n]), options: .strict) }
        }
    }

    @Test func jsonLinesNameTheLine() throws {
        let rows = try JSON.parseLines(Data("{\"a\":1}\n\n  \r\n{\"a\":2}\n".utf8), options: .lenient)
        #expect(rows == [.obj(["a": .int(1)]), .obj(["a": .int(2)])])
        #expect(throws: JSONError(message: "expected ',' or '}'", offset: 7, line: 2)) {
            try JSON.parseLines(Data("{\"a\":1}\n{\"a\":2 x}".utf8), options: .lenient)
        }
        #expect(JSONError(message: "m", offset: 3, line: 2).description == "invalid JSON on line 2: m at byte 3")
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesAsSerdeOrAsPythonEnsureASCII() throws {
        #expect(JSON.quoted("a\"b\\c\n\u{01}é\u{7F}\u{08}\u{0C}\t\r/") == #""a\"b\\c\n\u0001é"# + "\u{7F}" + #"\b\f\t\r/""#)  // DEL stays, as serde and Python write it
        #expect(JSON.quoted("é\u{1F99C}\u{7F}", asciiOnly: true) == #""\u00e9\ud83e\udd9c\u007f""#)
        // What is written reads back as the same string.
        let s = "\u{0}\u{1F}\"\\é\u{1F99C}\u{7F}\u{2028}"
        #expect(try JSON.parse(JSON.quoted(s), options: .strict) == .string(s))
        #expect(try JSON.parse(JSON.quoted(s, asciiOnly: true), options: .strict) == .string(s))
    }

    @Test func floatsRoundTripExactly() throws {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0.1, 1.0 / 3.0, 1e-5, 1e16, 1e300, 5e-324, -0.0, 2.5, 1e22, .greatestFiniteMagnitude, .leastNormalMagnitude]
        for _ in 0..<2000 { values.append(Double(bitPattern: rng.next() & ~(0x7FF << 52) | (UInt64.random(in: 1...0x7FE, using: &rng) << 52))) }
        for d in values {
            let text = JSON.double(d).serialized()
            guard case .double(let back)? = try? JSON.parse(text, options: .strict) else { Issue.record("\(text) did not read back as a double"); continue }
            #expect(back.bitPattern == d.bitPattern, "\(text)")
        }
        // Python's repr: a '.' or a two-digit signed exponent, so a float stays a float.
        #expect(JSON.double(1).serialized() == "1.0")
        #expect(JSON.double(1e-5).serialized() == "1e-05")
        #expect(JSON.double(1e16).serialized() == "1e+16")
        #expect(JSON.double(.nan).serialized() == "null")
    }

    @Test func compactIndentedAndSorted() {
        let v = JSON.obj(["b": .int(1), "a": .array([.bool(true), .null]), "c": .obj([:]), "d": .array([])])
        #expect(v.serialized() == #"{"b":1,"a":[true,null],"c":{},"d":[]}"#)
        #expect(v.serialized(sortKeys: true) == #"{"a":[true,null],"b":1,"c":{},"d":[]}"#)
        // json.dumps(v, indent=2, sort_keys=True)
        #expect(v.serialized(sortKeys: true, indent: 2) == "{\n  \"a\": [\n    true,\n    null\n  ],\n  \"b\": 1,\n  \"c\": {},\n  \"d\": []\n}")
    }
}

/// Configs read as typed fields under Hugging Face's names; every problem names the file and the field.
@Suite struct JSONFieldsTests {
    func fields(_ text: String) throws -> JSONFields { try JSONFields(parsing: Data(text.utf8), file: "config.json") }

    @Test func readsTypedFieldsAndTreatsNullAsAbsent() throws {
        let f = try fields(#"{"hidden_size": 16.0, "rms_norm_eps": 1e-5, "model_type": "llama", "tie": true, "head_dim": null, "architectures": ["LlamaForCausalLM"], "rope_scaling": {"factor": 8}, "eos_token_id": [2, 3], "bos_token_id": 1}"#)
        #expect(try f.int("hidden_size") == 16)
        #expect(try f.double("rms_norm_eps") == 1e-5)
        #expect(try f.string("model_type") == "llama")
        #expect(try f.bool("tie") == true)
        #expect(try f.int("head_dim") == nil && f.int("absent") == nil)
        #expect(try f.strings("architectures") == ["LlamaForCausalLM"])
        #expect(try f.object("rope_scaling")?.double("factor") == 8)
        #expect(f.tokenIds("eos_token_id") == [2, 3] && f.tokenIds("bos_token_id") == [1] && f.tokenIds("absent") == [])
    }

    @Test func errorsNameTheFileAndTheField() throws {
        let f = try fields(#"{"r": 2.5, "big": 1e39, "flag": 1, "name": 3, "rope_scaling": {"factor": "x"}, "list": ["a", 1], "eos_token_id": [1, 2.5]}"#)
        #expect(throws: JSONFieldError(file: "config.json", field: "r", problem: "must be a whole number no larger than \(Int.max) (got 2.5)")) { try f.int("r") }
        #expect(throws: JSONFieldError(file: "config.json", field: "big", problem: "must be a whole number no larger than \(Int.max) (got 1e+39)")) { try f.int("big") }
        #expect(throws: JSONFieldError(file: "config.json", field: "flag", problem: "must be true or false")) { try f.bool("flag") }
        #expect(throws: JSONFieldError(file: "config.json", field: "name", problem: "must be a string")) { try f.string("name") }
        #expect(throws: JSONFieldError(file: "config.json", field: "missing", problem: "is missing")) { try f.requiredInt("missing") }
        #expect(throws: JSONFieldError(file: "config.json", field: "list", problem: "must be a list of strings")) { try f.strings("list") }
        #expect(throws: JSONFieldError(file: "config.json", field: "rope_scaling.factor", problem: "must be a number")) {
            try f.object("rope_scaling")?.double("factor")
        }
        #expect(f.tokenIds("eos_token_id") == [], "a fractional id is never rounded into a wrong one")
        #expect(JSONFieldError(file: "c.json", field: "r", problem: "is missing").description == "c.json: 'r' is missing")
        #expect(throws: JSONFieldError(file: "config.json", field: "(top level)", problem: "must be a JSON object, not array")) { try fields("[1]") }
        #expect(throws: JSONFieldError.self) { try fields("{") }
    }
}
