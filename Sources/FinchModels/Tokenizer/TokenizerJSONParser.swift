/// A small, strict JSON parser for tokenizer files: bounds-checked, depth-limited, no Foundation.
/// (JSONSerialization blurs booleans and numbers on Linux and is slower on large vocabularies.)
enum TokenizerJSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokenizerJSONValue])
    case object(JSONObject)

    subscript(key: String) -> TokenizerJSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// A JSON object as its members in file order. Not a `[String: …]`: Swift dictionaries merge keys that are
/// canonically equivalent ("é" and "e\u{301}"), which are different tokens in a vocabulary.
struct JSONObject: Equatable {
    struct Member: Equatable {
        let key: String
        let value: TokenizerJSONValue
    }
    var pairs: [Member] = []

    var count: Int { pairs.count }

    /// The last member with exactly this key (JSON's "last one wins").
    subscript(key: String) -> TokenizerJSONValue? {
        get {
            for p in pairs.reversed() where p.key.utf8.elementsEqual(key.utf8) { return p.value }
            return nil
        }
        set {
            pairs.removeAll { $0.key.utf8.elementsEqual(key.utf8) }
            if let newValue { pairs.append(Member(key: key, value: newValue)) }
        }
    }
}

struct TokenizerJSONSyntaxError: Error, Equatable {
    let offset: Int
    let reason: String
}

struct TokenizerJSONParser {
    static let maxDepth = 256
    private let bytes: [UInt8]
    private var i = 0

    static func parse(_ bytes: [UInt8]) throws -> TokenizerJSONValue {
        var p = TokenizerJSONParser(bytes: bytes)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == bytes.count else { throw TokenizerJSONSyntaxError(offset: p.i, reason: "unexpected text after the value") }
        return v
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private func fail(_ reason: String) -> TokenizerJSONSyntaxError { TokenizerJSONSyntaxError(offset: i, reason: reason) }

    private mutating func value(depth: Int) throws -> TokenizerJSONValue {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var obj = JSONObject()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWhitespace()
                obj.pairs.append(JSONObject.Member(key: key, value: try value(depth: depth + 1)))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end of input in an object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var arr: [TokenizerJSONValue] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
            while true {
                skipWhitespace()
                arr.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end of input in an array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of input") }
        let ok = word.withUTF8Buffer { w in (0..<n).allSatisfy { bytes[i + $0] == w[$0] } }
        guard ok else { throw fail("invalid literal") }
        i += n
    }

    private mutating func number() throws -> Double {
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < bytes.count, (48...57).contains(bytes[i]) { i += 1; digits += 1 }
        guard digits > 0 else { throw fail("invalid value") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            var frac = 0
            while i < bytes.count, (48...57).contains(bytes[i]) { i += 1; frac += 1 }
            guard frac > 0 else { throw fail("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            var exp = 0
            while i < bytes.count, (48...57).contains(bytes[i]) { i += 1; exp += 1 }
            guard exp > 0 else { throw fail("invalid number") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number") }
        return d
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        var start = i
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[start..<i])
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: bytes[start..<i])
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    // A surrogate pair; a lone surrogate becomes U+FFFD as in lossy decoders.
                    if i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else { i = save; code = 0xFFFD }
                    } else { code = 0xFFFD }
                } else if (0xDC00...0xDFFF).contains(code) {
                    code = 0xFFFD
                }
                out.append(contentsOf: UTF8.encode(Unicode.Scalar(code) ?? "\u{FFFD}")!)
            default:
                throw fail("invalid escape")
            }
            start = i
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Typed access with errors naming the file and the key path.
struct JSONReader {
    let file: String

    func parse(_ bytes: [UInt8]) throws -> TokenizerJSONValue {
        do {
            let v = try TokenizerJSONParser.parse(bytes)
            guard case .object = v else { throw TokenizerError.wrongType(file: file, path: "(top level)", expected: "an object") }
            return v
        } catch let e as TokenizerJSONSyntaxError {
            throw TokenizerError.invalidJSON(file: file, reason: "\(e.reason) at byte \(e.offset)")
        }
    }

    func isNull(_ v: TokenizerJSONValue?) -> Bool { v == nil || v == .null }

    func object(_ v: TokenizerJSONValue?, _ path: String) throws -> JSONObject {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .object(let o) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an object") }
        return o
    }

    func array(_ v: TokenizerJSONValue?, _ path: String) throws -> [TokenizerJSONValue] {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .array(let a) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an array") }
        return a
    }

    func string(_ v: TokenizerJSONValue?, _ path: String) throws -> String {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .string(let s) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "a string") }
        return s
    }

    func optionalString(_ v: TokenizerJSONValue?, _ path: String) throws -> String? {
        isNull(v) ? nil : try string(v, path)
    }

    func bool(_ v: TokenizerJSONValue?, _ path: String, default d: Bool) throws -> Bool {
        guard let v, v != .null else { return d }
        guard case .bool(let b) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "true or false") }
        return b
    }

    /// A token id: an integer in 0..<maxVocabularySize (bounds memory).
    func tokenId(_ v: TokenizerJSONValue?, _ path: String) throws -> Int {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .number(let d) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an integer token id") }
        guard d.isFinite, d == d.rounded(), d >= 0, d < Double(Tokenizer.maxVocabularySize) else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "token id \(d) is not an integer in 0..<\(Tokenizer.maxVocabularySize)")
        }
        return Int(d)
    }

    func int(_ v: TokenizerJSONValue?, _ path: String, default d: Int) throws -> Int {
        guard let v, v != .null else { return d }
        guard case .number(let x) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an integer") }
        guard x.isFinite, x == x.rounded(), abs(x) < 1e9 else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "\(x) is not a small integer")
        }
        return Int(x)
    }

    /// A single Unicode scalar given as a string (e.g. Metaspace's replacement).
    func scalar(_ v: TokenizerJSONValue?, _ path: String, default d: Unicode.Scalar) throws -> Unicode.Scalar {
        guard !isNull(v) else { return d }
        let s = try string(v, path)
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "expected exactly one character, got \"\(s)\"")
        }
        return c
    }
}
