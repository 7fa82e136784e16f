// A small JSON parser (RFC 8259) for untrusted files: safetensors headers and their shard indexes
// (strict: duplicate object keys rejected, as safetensors forbids them) and tokenizer files (lenient,
// as other readers of them are). Unlike JSONSerialization it keeps numbers as their text so 64-bit
// offsets stay exact, keeps object key order, compares keys byte for byte (Swift's String equality
// merges "é" and "e\u{301}", which are different tokens in a vocabulary), bounds nesting depth, and
// never blurs booleans into numbers.

public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text, exactly as written.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in document order (no duplicates).
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var array: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var object: [(String, JSONValue)]? { if case let .object(o) = self { return o }; return nil }

    /// A non-negative integer written without fraction or exponent that fits in UInt64.
    public var uint64: UInt64? {
        guard case let .number(text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// The number's value as a Double.
    public var double: Double? { if case let .number(t) = self { return Double(t) }; return nil }

    /// The member with exactly this key (byte for byte); the last one where a lenient parse kept duplicates.
    public subscript(key: String) -> JSONValue? {
        guard let members = object else { return nil }
        for (k, v) in members.reversed() where k.utf8.elementsEqual(key.utf8) { return v }
        return nil
    }
}

public struct JSONError: Error, Equatable, CustomStringConvertible {
    public let message: String
    /// Byte offset into the JSON text.
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

public struct JSONParser {
    /// What a parse forgives beyond RFC 8259.
    public struct Options: Sendable {
        /// Duplicate object keys are an error (else kept in order; lookups take the last).
        public var rejectDuplicateKeys: Bool
        /// Lone UTF-16 surrogates in \u escapes and invalid UTF-8 are errors (else U+FFFD).
        public var rejectInvalidText: Bool
        /// Numbers with leading zeros ("01") are accepted.
        public var allowLeadingZeros: Bool
        public var maxDepth: Int

        /// Safetensors headers and shard indexes.
        public static let strict = Options(rejectDuplicateKeys: true, rejectInvalidText: true, allowLeadingZeros: false, maxDepth: 64)
        /// Tokenizer files, read the way the tokenizers library and lossy decoders read them.
        public static let lenient = Options(rejectDuplicateKeys: false, rejectInvalidText: false, allowLeadingZeros: true, maxDepth: 256)
    }

    private let bytes: UnsafeRawBufferPointer
    private let options: Options
    private var i = 0

    private init(_ bytes: UnsafeRawBufferPointer, _ options: Options) { self.bytes = bytes; self.options = options }

    /// Parses one JSON value filling the whole buffer (surrounding whitespace allowed).
    public static func parse(_ bytes: UnsafeRawBufferPointer, options: Options = .strict) throws -> JSONValue {
        var p = JSONParser(bytes, options)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.error("unexpected text after the JSON value") }
        return v
    }

    public static func parse(_ bytes: [UInt8], options: Options = .strict) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, options: options) }
    }

    public static func parse(_ text: String, options: Options = .strict) throws -> JSONValue {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0), options: options) }
    }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("invalid literal") }
        for k in 0..<n where bytes[i + k] != literal.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < options.maxDepth else { throw error("nesting deeper than \(options.maxDepth)") }
        guard let c = peek else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        i += 1
        var members: [(String, JSONValue)] = []
        var keys = Set<String>()
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyStart = i
            let key = try string()
            if options.rejectDuplicateKeys, !keys.insert(key).inserted { throw JSONError(message: "duplicate key \"\(key)\"", offset: keyStart) }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipSpace()
            members.append((key, try value(depth: depth + 1)))
            skipSpace()
            guard let c = peek else { throw error("unexpected end of input in an object") }
            i += 1
            if c == UInt8(ascii: "}") { return .object(members) }
            guard c == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or '}'") }
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard let c = peek else { throw error("unexpected end of input in an array") }
            i += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or ']'") }
        }
    }

    private mutating func number() throws -> String {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw error("invalid number") }
        if first == 0x30, !options.allowLeadingZeros { i += 1 } else { while let c = peek, c >= 0x30, c <= 0x39 { i += 1 } }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard let c = peek, c >= 0x30, c <= 0x39 else { throw error("invalid number") }
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let c = peek, c >= 0x30, c <= 0x39 else { throw error("invalid number") }
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1 }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt16 {
        guard i + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt16 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | UInt16(d)
            i += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        i += 1  // opening quote
        var out = [UInt8]()
        var runStart = i
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
                i += 1
                break
            }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
            i += 1
            guard i < bytes.count else { throw error("unterminated string") }
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
                var scalar = UInt32(try hex4())
                if (0xD800..<0xDC00).contains(scalar) {
                    // A surrogate pair; leniently, a lone surrogate becomes U+FFFD as in lossy decoders.
                    let save = i
                    var low: UInt32 = 0
                    if i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        low = UInt32(try hex4())
                    }
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        guard !options.rejectInvalidText else { throw error("unpaired surrogate") }
                        i = save
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(scalar) {
                    guard !options.rejectInvalidText else { throw error("unpaired surrogate") }
                    scalar = 0xFFFD
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw error("invalid escape")
            }
            runStart = i
        }
        if !options.rejectInvalidText { return String(decoding: out, as: UTF8.self) }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }
}

/// Writes a JSON string literal the way serde_json does: escapes `"`, `\` and control characters,
/// leaves everything else (including non-ASCII) as UTF-8.
public func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
