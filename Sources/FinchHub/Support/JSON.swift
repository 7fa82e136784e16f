// A JSON value that keeps object key order (dataset columns are shown in file order), with a
// bounds-checked recursive-descent parser and a serializer. Foundation's JSONSerialization loses order.
import Foundation

public enum JSON: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o }; return nil }

    /// A short name of the value's type, used in error messages ("expected string, found number").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var description: String { serialized() }

    public func serialized(sortKeys: Bool = false) -> String {
        var out = ""
        write(to: &out, sortKeys: sortKeys)
        return out
    }

    private func write(to out: inout String, sortKeys: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN || d.isInfinite { out += "null" }
            else if d == d.rounded() && abs(d) < 1e15 { out += String(Int(d)) + ".0" }
            else { out += "\(d)" }
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += "," }; v.write(to: &out, sortKeys: sortKeys) }
            out += "]"
        case .object(let o):
            out += "{"
            let pairs = sortKeys ? o.sorted { $0.0 < $1.0 } : o
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(k, to: &out); out += ":"; v.write(to: &out, sortKeys: sortKeys)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }

    public static func parse(_ text: String) throws -> JSON { try parse(Data(text.utf8)) }

    public static func parse(_ data: Data) throws -> JSON {
        try data.withUnsafeBytes { raw -> JSON in
            var p = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            p.skipBOM()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.pos == p.bytes.count else { throw p.error("unexpected trailing characters") }
            return v
        }
    }

    /// Parses one JSON value per non-empty line (JSON Lines). Errors name the 1-based line.
    public static func parseLines(_ data: Data) throws -> [JSON] {
        var out: [JSON] = []
        var lineNo = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            let trimmed = line.drop(while: { $0 == 32 || $0 == 9 || $0 == 13 })
            if trimmed.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do { out.append(try parse(Data(line))) } catch let e as JSONParseError {
                throw JSONParseError(message: e.message, offset: e.offset, line: lineNo)
            }
        }
        return out
    }
}

public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var offset: Int
    public var line: Int?
    public var description: String {
        if let line { return "invalid JSON on line \(line): \(message)" }
        return "invalid JSON at byte \(offset): \(message)"
    }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    static let maxDepth = 512

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: pos, line: nil) }

    mutating func skipBOM() {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { pos = 3 }
    }

    mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 32 || bytes[pos] == 9 || bytes[pos] == 10 || bytes[pos] == 13 { pos += 1 }
    }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < JSONParser.maxDepth else { throw error("nesting too deep") }
        skipSpace()
        guard pos < bytes.count else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var pairs: [(String, JSON)] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let k = try string()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
                pos += 1
                let v = try value(depth: depth + 1)
                if let i = pairs.firstIndex(where: { $0.0 == k }) { pairs[i].1 = v } else { pairs.append((k, v)) }
                skipSpace()
                guard pos < bytes.count else { throw error("unexpected end of input in object") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSON] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw error("unexpected end of input in array") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .double(.nan)  // Python's json writes NaN
        default: return try number()
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw error("unexpected end of input") }
        for i in 0..<n where bytes[pos + i] != word.utf8Start[i] { throw error("invalid literal") }
        pos += n
    }

    mutating func number() throws -> JSON {
        let start = pos
        var isInt = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        if pos + 8 <= bytes.count, bytes[pos] == UInt8(ascii: "I") { try literal("Infinity"); return .double(bytes[start] == UInt8(ascii: "-") ? -.infinity : .infinity) }
        let digitsStart = pos
        while pos < bytes.count, (48...57).contains(bytes[pos]) { pos += 1 }
        guard pos > digitsStart else { throw error("invalid value") }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInt = false; pos += 1
            let f = pos
            while pos < bytes.count, (48...57).contains(bytes[pos]) { pos += 1 }
            guard pos > f else { throw error("invalid number") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInt = false; pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            let e = pos
            while pos < bytes.count, (48...57).contains(bytes[pos]) { pos += 1 }
            guard pos > e else { throw error("invalid number exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if isInt, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("invalid number") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]; pos += 1
            v <<= 4
            switch c {
            case 48...57: v |= UInt32(c - 48)
            case 65...70: v |= UInt32(c - 55)
            case 97...102: v |= UInt32(c - 87)
            default: throw error("invalid \\u escape")
            }
        }
        return v
    }

    mutating func string() throws -> String {
        pos += 1  // opening quote
        var buf: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let c = bytes[pos]; pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                guard pos < bytes.count else { throw error("unterminated escape") }
                let e = bytes[pos]; pos += 1
                switch e {
                case UInt8(ascii: "\""): buf.append(34)
                case UInt8(ascii: "\\"): buf.append(92)
                case UInt8(ascii: "/"): buf.append(47)
                case UInt8(ascii: "b"): buf.append(8)
                case UInt8(ascii: "f"): buf.append(12)
                case UInt8(ascii: "n"): buf.append(10)
                case UInt8(ascii: "r"): buf.append(13)
                case UInt8(ascii: "t"): buf.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), pos + 1 < bytes.count, bytes[pos] == 92, bytes[pos + 1] == UInt8(ascii: "u") {
                        pos += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) { scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) } else { scalar = 0xFFFD }
                    }
                    let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    buf.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("invalid escape")
                }
            } else {
                buf.append(c)
            }
        }
        return String(decoding: buf, as: UTF8.self)
    }
}

extension JSON {
    /// Convenience for building objects in code.
    public static func obj(_ pairs: KeyValuePairs<String, JSON>) -> JSON {
        .object(pairs.map { ($0.key, $0.value) })
    }
}
