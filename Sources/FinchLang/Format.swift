#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FinchSupport)
import FinchSupport
#endif

// Printing values: `str` (what print shows), `repr` (quoted, inside containers), JSON, format specs.

/// Containers deeper than this print as `[...]`; also stops cycles (`a.append(a)`).
let maxPrintDepth = 100

public func str(_ v: Value) -> String {
    switch v {
    case .string(let s): return s
    case .object(let o): return o.display
    default: return repr(v)
    }
}

public func repr(_ v: Value) -> String {
    var out = ""
    var active: [ObjectIdentifier] = []
    writeRepr(v, into: &out, depth: 0, top: true, active: &active)
    return out
}

/// A repr cut to a length suitable for error messages.
public func shortRepr(_ v: Value, limit: Int = 40) -> String {
    let r = repr(v)
    if r.count <= limit { return r }
    return String(r.prefix(limit - 1)) + "…"
}

/// `active` holds the containers being printed, so a list that contains itself prints `[...]` (as Python).
func writeRepr(_ v: Value, into out: inout String, depth: Int, top: Bool, active: inout [ObjectIdentifier]) {
    switch v {
    case .none: out += "none"   // as written in Finch code, inside containers too (JSON has json())
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .float(let d): out += formatFloat(d)
    case .string(let s): JSON.writeString(s, to: &out)
    case .list(let l):
        let id = ObjectIdentifier(l)
        if depth >= maxPrintDepth || active.contains(id) { out += "[...]"; return }
        active.append(id)
        defer { active.removeLast() }
        out += "["
        for (i, x) in l.items.enumerated() {
            if i > 0 { out += ", " }
            writeRepr(x, into: &out, depth: depth + 1, top: false, active: &active)
        }
        out += "]"
    case .dict(let d):
        let id = ObjectIdentifier(d)
        if depth >= maxPrintDepth || active.contains(id) { out += "{...}"; return }
        active.append(id)
        defer { active.removeLast() }
        out += "{"
        var first = true
        for (k, x) in d.pairs {
            if !first { out += ", " }
            first = false
            writeRepr(k.value, into: &out, depth: depth + 1, top: false, active: &active)
            out += ": "
            writeRepr(x, into: &out, depth: depth + 1, top: false, active: &active)
        }
        out += "}"
    case .function(let f): out += "<function \(f.name)(\(f.decl.params.map { $0.defaultValue == nil ? $0.name : $0.name + "=…" }.joined(separator: ", ")))>"
    case .builtin(let b): out += "<builtin \(b.name)>"
    case .object(let o): out += o.description
    }
}

/// Python's float repr: shortest round-trip digits, always with a '.' or exponent.
public func formatFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    return JSON.numberText(d) ?? "nan"
}

// MARK: - Format specs: [[fill]align][sign][#][0][width][,|_][.precision][type]

struct FormatSpec {
    var fill: Character = " "
    var align: Character? = nil
    var sign: Character = "-"
    var alternate = false
    var width = 0
    var grouping: Character? = nil
    var precision: Int? = nil
    var type: Character? = nil

    init(_ spec: String) throws {
        var chars = Array(spec)
        var i = 0
        func isAlign(_ c: Character) -> Bool { c == "<" || c == ">" || c == "^" || c == "=" }
        if chars.count >= 2 && isAlign(chars[1]) { fill = chars[0]; align = chars[1]; i = 2 }
        else if let c = chars.first, isAlign(c) { align = c; i = 1 }
        if i < chars.count, chars[i] == "+" || chars[i] == "-" || chars[i] == " " { sign = chars[i]; i += 1 }
        if i < chars.count, chars[i] == "#" { alternate = true; i += 1 }
        if i < chars.count, chars[i] == "0" {
            if align == nil { fill = "0"; align = "=" }
            i += 1
        }
        var w = ""
        while i < chars.count, chars[i].isASCII, chars[i].isNumber { w.append(chars[i]); i += 1 }
        if !w.isEmpty { guard let n = Int(w), n <= 10_000 else { throw FinchError("format width \(w) is too large") }; width = n }
        if i < chars.count, chars[i] == "," || chars[i] == "_" { grouping = chars[i]; i += 1 }
        if i < chars.count, chars[i] == "." {
            i += 1
            var p = ""
            while i < chars.count, chars[i].isASCII, chars[i].isNumber { p.append(chars[i]); i += 1 }
            guard let n = Int(p), n <= 1000 else { throw FinchError("format precision missing or too large in '\(spec)'") }
            precision = n
        }
        if i < chars.count { type = chars[i]; i += 1 }
        if i != chars.count { chars.removeFirst(0); throw FinchError("invalid format spec '\(spec)'") }
    }
}

public func formatValue(_ v: Value, spec: String) throws -> String {
    if spec.isEmpty { return str(v) }
    let f = try FormatSpec(spec)
    var body: String
    var negative = false
    var numeric = true
    switch v {
    case .int(let i) where f.type == nil || "dnxXobc".contains(f.type!):
        negative = i < 0
        let mag = i.magnitude
        switch f.type {
        case "x": body = (f.alternate ? "0x" : "") + String(mag, radix: 16)
        case "X": body = (f.alternate ? "0X" : "") + String(mag, radix: 16, uppercase: true)
        case "o": body = (f.alternate ? "0o" : "") + String(mag, radix: 8)
        case "b": body = (f.alternate ? "0b" : "") + String(mag, radix: 2)
        case "c":
            guard let u = Unicode.Scalar(UInt32(truncatingIfNeeded: i)) else { throw FinchError("format 'c' needs a valid code point") }
            body = String(u); numeric = false
        default: body = group(String(mag), f.grouping)
        }
    case .int(let i): return try formatValue(.float(Double(i)), spec: spec)
    case .bool(let b) where f.type != nil && f.type != "s": return try formatValue(.int(b ? 1 : 0), spec: spec)
    case .float(let d):
        negative = d.sign == .minus && !(d.isNaN)
        body = try formatFloatSpec(abs(d), f)
    default:
        guard f.type == nil || f.type == "s" else {
            throw FinchError("format spec '\(spec)' needs a number, got \(v.typeName) \(shortRepr(v))")
        }
        numeric = false
        body = str(v)
        if let p = f.precision { body = String(body.prefix(p)) }
    }
    var signText = ""
    if numeric {
        if negative { signText = "-" } else if f.sign == "+" { signText = "+" } else if f.sign == " " { signText = " " }
    }
    let len = signText.count + body.count
    guard f.width > len else { return signText + body }
    let pad = f.width - len
    let fill = String(repeating: f.fill, count: pad)
    switch f.align ?? (numeric ? ">" : "<") {
    case "<": return signText + body + fill
    case "^": return String(repeating: f.fill, count: pad / 2) + signText + body + String(repeating: f.fill, count: pad - pad / 2)
    case "=": return signText + fill + body
    default: return fill + signText + body
    }
}

func formatFloatSpec(_ d: Double, _ f: FormatSpec) throws -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return "inf" }
    var body: String
    switch f.type {
    case "f", "F": body = cFormat(d, "f", f.precision ?? 6)
    case "e", "E": body = pythonExponent(cFormat(d, f.type == "e" ? "e" : "E", f.precision ?? 6))
    case "%": body = cFormat(d * 100, "f", f.precision ?? 6) + "%"
    case "g", "G":
        body = pythonExponent(cFormat(d, f.type == "g" ? (f.alternate ? "#g" : "g") : "G", max(f.precision ?? 6, 1)))
    case nil:
        if let p = f.precision { body = pythonExponent(cFormat(d, "g", max(p, 1))) }
        else { body = formatFloat(d) }
    case "d": throw FinchError("format 'd' needs an int, got float \(formatFloat(d)); use round() or int() first")
    default: throw FinchError("unknown format type '\(f.type!)' for a float")
    }
    if let g = f.grouping {
        let intEnd = body.firstIndex(where: { $0 == "." || $0 == "e" || $0 == "E" || $0 == "%" }) ?? body.endIndex
        body = group(String(body[..<intEnd]), g) + body[intEnd...]
    }
    return body
}

/// printf-style formatting of one double (`%.{precision}{conv}`).
func cFormat(_ d: Double, _ conv: String, _ precision: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 512 + precision)
    let fmt = "%.\(precision)\(conv)"
    let n = withVaList([d]) { vsnprintf(&buffer, buffer.count, fmt, $0) }
    if n < 0 { return formatFloat(d) }
    return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// C writes 1e+05 and 1e+100, Python 1e+05 and 1e+100: the same; this only keeps a hook for differences.
func pythonExponent(_ s: String) -> String { s }

func group(_ digits: String, _ sep: Character?) -> String {
    guard let sep else { return digits }
    var out: [Character] = []
    for (i, c) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(sep) }
        out.append(c)
    }
    return String(out.reversed())
}

// MARK: - "did you mean"

/// Levenshtein distance, bounded so long names cost little.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().unicodeScalars), y = Array(b.lowercased().unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count)
    var cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[y.count]
}

/// The closest candidate within a distance that scales with the name's length, or nil.
public func suggestion(for name: String, among candidates: [String]) -> String? {
    // One- and two-letter names are all close to each other; only a case slip is worth suggesting.
    let limit = name.count <= 2 ? 0 : max(1, min(3, name.count / 3 + 1))
    var best: (String, Int)? = nil
    for c in Set(candidates) where c != name {
        let d = editDistance(name, c)
        let prefixBonus = c.hasPrefix(name) && name.count >= 3
        if d <= limit || prefixBonus {
            let score = prefixBonus ? min(d, limit) : d
            if best == nil || score < best!.1 || (score == best!.1 && c < best!.0) { best = (c, score) }
        }
    }
    return best?.0
}

/// "an int", "a str", "an Adapter": the type name with its English article.
public func withArticle(_ typeName: String) -> String {
    guard let first = typeName.lowercased().first else { return typeName }
    return ("aeio".contains(first) ? "an " : "a ") + typeName
}
