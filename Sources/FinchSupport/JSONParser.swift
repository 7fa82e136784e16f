// The one JSON parser: a bounds-checked recursive descent over bytes, in two modes.
//   .strict   safetensors headers and shard indexes, Finch's own files: RFC 8259 and nothing more;
//             duplicate keys, trailing text, lone surrogates, invalid UTF-8, leading zeros, integers
//             beyond Int, depth over 64 and documents over 100 MB are errors.
//   .lenient  files as Hugging Face tools and Python write them (tokenizer.json, config.json,
//             datasets): a byte-order mark, NaN/Infinity/-Infinity, leading zeros, duplicate keys
//             (kept; lookups take the last, as serde and Python do), lone surrogates and invalid
//             UTF-8 become U+FFFD; integers beyond Int become doubles.
// Both reject control characters inside strings, unknown escapes and any text after the value.

public struct JSONError: Error, Equatable, CustomStringConvertible {
    public var message: String
    /// Byte offset into the text (into the line for `parseLines`).
    public var offset: Int
    /// The 1-based line, for JSON Lines.
    public var line: Int?
    public init(message: String, offset: Int, line: Int? = nil) { self.message = message; self.offset = offset; self.line = line }
    public var description: String {
        if let line { return "invalid JSON on line \(line): \(message) at byte \(offset)" }
        return "\(message) at byte \(offset)"
    }
}

extension JSON {
    /// What a parse forgives beyond RFC 8259.
    public struct ParseOptions: Sendable {
        public var rejectDuplicateKeys: Bool
        /// Lone UTF-16 surrogates in \u escapes and invalid UTF-8 are errors (else U+FFFD).
        public var rejectInvalidText: Bool
        /// "01" reads as 1.
        public var allowLeadingZeros: Bool
        /// NaN, Infinity and -Infinity (Python's json writes them), and a leading UTF-8 byte-order mark.
        public var allowPythonExtensions: Bool
        /// Integers beyond Int and numbers beyond Double are errors (else they become doubles / ±inf).
        public var rejectOutOfRangeNumbers: Bool
        public var maxDepth: Int
        public var maxBytes: Int

        public static let strict = ParseOptions(rejectDuplicateKeys: true, rejectInvalidText: true, allowLeadingZeros: false,
                                                allowPythonExtensions: false, rejectOutOfRangeNumbers: true,
                                                maxDepth: 64, maxBytes: 100_000_000)
        public static let lenient = ParseOptions(rejectDuplicateKeys: false, rejectInvalidText: false, allowLeadingZeros: true,
                                                 allowPythonExtensions: true, rejectOutOfRangeNumbers: false,
                                                 maxDepth: 256, maxBytes: .max)
    }

    /// Parses one JSON value filling the whole buffer (surrounding whitespace allowed).
    public static func parse(_ bytes: UnsafeRawBufferPointer, options: ParseOptions) throws -> JSON {
        guard bytes.count <= options.maxBytes else {
            throw JSONError(message: "document of \(bytes.count) bytes is over the limit of \(options.maxBytes)", offset: 0)
        }
        var p = JSONParser(bytes, options)
        if options.allowPythonExtensions, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { p.i = 3 }
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.error("unexpected text after the JSON value") }
        return v
    }

    public static func parse<Bytes: Sequence>(_ bytes: Bytes, options: ParseOptions) throws -> JSON where Bytes.Element == UInt8 {
        if let v = try bytes.withContiguousStorageIfAvailable({ try parse(UnsafeRawBufferPointer($0), options: options) }) { return v }
        return try Array(bytes).withUnsafeBytes { try parse($0, options: options) }
    }

    public static func parse(_ text: String, options: ParseOptions) throws -> JSON {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0), options: options) }
    }

    /// One JSON value per non-blank line (JSON Lines). Errors name the 1-based line.
    public static func parseLines<Bytes: Collection>(_ bytes: Bytes, options: ParseOptions) throws -> [JSON] where Bytes.Element == UInt8 {
        var out: [JSON] = []
        var lineNo = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do { out.append(try parse(line, options: options)) } catch var e as JSONError {
                e.line = lineNo
                throw e
            }
        }
        return out
    }
}

/// The parser's cursor; use `JSON.parse`.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private let options: JSON.ParseOptions
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer, _ options: JSON.ParseOptions) { self.bytes = bytes; self.options = options }

    func error(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("invalid literal") }
        for k in 0..<n where bytes[i + k] != literal.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < options.maxDepth else { throw error("nesting deeper than \(options.maxDepth)") }
        guard let c = peek else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "N") where options.allowPythonExtensions: try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I") where options.allowPythonExtensions: try expect("Infinity"); return .double(.infinity)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws -> JSON {
        i += 1
        var members: [(String, JSON)] = []
        var keys = Set<[UInt8]>()
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyStart = i
            let key = try string()
            if options.rejectDuplicateKeys, !keys.insert(Array(key.utf8)).inserted {
                throw JSONError(message: "duplicate key \"\(key)\"", offset: keyStart)
            }
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

    private mutating func array(depth: Int) throws -> JSON {
        i += 1
        var items: [JSON] = []
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

    private mutating func number() throws -> JSON {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        if options.allowPythonExtensions, peek == UInt8(ascii: "I") { try expect("Infinity"); return .double(-.infinity) }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw error("invalid number") }
        if first == 0x30, !options.allowLeadingZeros { i += 1 } else { while let c = peek, c >= 0x30, c <= 0x39 { i += 1 } }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard let c = peek, c >= 0x30, c <= 0x39 else { throw error("invalid number") }
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let c = peek, c >= 0x30, c <= 0x39 else { throw error("invalid number") }
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1 }
        }
        // Short integers (token ids, offsets, sizes: most numbers in these files) without a String.
        if isInteger, i - start <= 18 {
            var n = 0, k = start
            let negative = bytes[k] == UInt8(ascii: "-")
            if negative { k += 1 }
            while k < i { n = n &* 10 &+ Int(bytes[k] &- 0x30); k += 1 }
            return .int(negative ? -n : n)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if isInteger, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw JSONError(message: "invalid number", offset: start) }
        if options.rejectOutOfRangeNumbers, isInteger || !d.isFinite {
            throw JSONError(message: "number \(text) is out of range", offset: start)
        }
        return .double(d)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
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
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A surrogate pair; leniently, a lone surrogate becomes U+FFFD as in lossy decoders.
                    let save = i
                    var low: UInt32 = 0
                    if i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        low = try hex4()
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
                out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
            default: throw error("invalid escape")
            }
            runStart = i
        }
        if !options.rejectInvalidText { return String(decoding: out, as: UTF8.self) }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }
}
