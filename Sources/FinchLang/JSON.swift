// A small JSON reader for parse_json and -p values: bounds-checked, depth-limited.

public func parseJSON(_ text: String) throws -> Value {
    var p = JSONReader(Array(text.utf8))
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == p.b.count else { throw FinchError("JSON: unexpected text at offset \(p.i)") }
    return v
}

struct JSONReader {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    mutating func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

    mutating func value(depth: Int) throws -> Value {
        guard depth < 200 else { throw FinchError("JSON nested too deeply") }
        guard i < b.count else { throw FinchError("JSON: unexpected end of text") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            let d = FinchDict()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw FinchError("JSON: expected a string key at offset \(i)") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw FinchError("JSON: expected ':' at offset \(i)") }
                i += 1
                skipSpace()
                d[k] = try value(depth: depth + 1)
                skipSpace()
                guard i < b.count else { throw FinchError("JSON: unexpected end of text") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
                throw FinchError("JSON: expected ',' or '}' at offset \(i)")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [Value] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw FinchError("JSON: unexpected end of text") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                throw FinchError("JSON: expected ',' or ']' at offset \(i)")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .none
        default:
            let start = i
            while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { i += 1 }
            let t = String(decoding: b[start..<i], as: UTF8.self)
            if let n = Int(t) { return .int(n) }
            if let d = Double(t), !t.isEmpty { return .float(d) }
            throw FinchError("JSON: unexpected character at offset \(start)")
        }
    }

    mutating func word(_ w: String) throws {
        let u = Array(w.utf8)
        guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { throw FinchError("JSON: unexpected text at offset \(i)") }
        i += u.count
    }

    mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\") {
                guard i < b.count else { break }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00...0xDFFF).contains(lo) else { throw FinchError("JSON: invalid surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    guard let s = Unicode.Scalar(code) else { throw FinchError("JSON: lone surrogate \\u\(String(code, radix: 16))") }
                    out += Array(String(s).utf8)
                default: out.append(e)
                }
            } else {
                out.append(c)
            }
        }
        throw FinchError("JSON: unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else { throw FinchError("JSON: bad \\u escape") }
        i += 4
        return v
    }
}
