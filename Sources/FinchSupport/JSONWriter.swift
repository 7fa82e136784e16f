// The one JSON writer. Compact (`{"a":1,"b":[1,2]}`) or indented as Python's json.dumps(indent=n)
// (`"a": 1`, one member a line); keys in document order or sorted (byte order, as Python's sort_keys)
// for files that must not change between runs. Strings escape `"`, `\` and control characters and
// leave other text as UTF-8 (serde_json; Python's ensure_ascii=False, which chat templates' tojson
// use; safetensors headers stay byte for byte the reference's), or escape everything from DEL up
// (Python's ensure_ascii). Doubles are written with the shortest digits that read back to the same bits;
// NaN and ±Infinity, which JSON cannot hold, are written as null.

extension JSON {
    public func serialized(sortKeys: Bool = false, indent: Int? = nil, asciiOnly: Bool = false) -> String {
        var out = ""
        write(to: &out, sortKeys: sortKeys, indent: indent, asciiOnly: asciiOnly, level: 0)
        return out
    }

    private func write(to out: inout String, sortKeys: Bool, indent: Int?, asciiOnly: Bool, level: Int) {
        let nl = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += JSON.numberText(d) ?? "null"
        case .string(let s): JSON.writeString(s, to: &out, asciiOnly: asciiOnly)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                out += nl
                v.write(to: &out, sortKeys: sortKeys, indent: indent, asciiOnly: asciiOnly, level: level + 1)
            }
            out += close + "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            let members = sortKeys ? o.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : o
            for (i, (k, v)) in members.enumerated() {
                if i > 0 { out += "," }
                out += nl
                JSON.writeString(k, to: &out, asciiOnly: asciiOnly)
                out += indent == nil ? ":" : ": "
                v.write(to: &out, sortKeys: sortKeys, indent: indent, asciiOnly: asciiOnly, level: level + 1)
            }
            out += close + "}"
        }
    }

    /// A finite double as Python's repr writes it (shortest round-trip digits, always a '.' or an
    /// exponent of at least two digits: 0.1, 1.0, 1e-05, 1e+16); nil for NaN and ±Infinity.
    public static func numberText(_ d: Double) -> String? {
        guard d.isFinite else { return nil }
        var s = d.description
        if let e = s.firstIndex(of: "e") {
            let mantissa = s[..<e]
            var exp = String(s[s.index(after: e)...])
            var sign = "+"
            if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
            if exp.count < 2 { exp = "0" + exp }
            s = "\(mantissa.hasSuffix(".0") ? String(mantissa.dropLast(2)) : String(mantissa))e\(sign)\(exp)"
        }
        return s
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String, asciiOnly: Bool = false) -> String {
        var out = ""
        writeString(s, to: &out, asciiOnly: asciiOnly)
        return out
    }

    public static func writeString(_ s: String, to out: inout String, asciiOnly: Bool = false) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    writeEscape(UInt16(u.value), to: &out)
                } else if asciiOnly && u.value >= 0x7F {
                    for unit in String(u).utf16 { writeEscape(unit, to: &out) }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    private static func writeEscape(_ unit: UInt16, to out: inout String) {
        let hex = String(unit, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
