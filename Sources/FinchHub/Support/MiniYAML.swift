// A small YAML subset reader for dataset cards' front matter: block mappings and sequences, plain and
// quoted scalars, flow lists, `|`/`>` blocks. Enough for `configs:`, `license:`, `tags:`; anything it
// does not understand becomes a string rather than an error, since the card is advisory.
#if canImport(FinchSupport)
import FinchSupport
#endif
import Foundation

enum MiniYAML {
    struct Line { var indent: Int; var text: String }

    /// Splits `---\n…\n---` front matter off a README; nil when there is none.
    static func frontMatter(_ markdown: String) -> String? {
        var lines = markdown.components(separatedBy: "\n")
        if lines.first?.hasSuffix("\r") == true { lines = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 } }
        guard lines.first?.trimmingCharacters(in: .whitespaces) == "---" else { return nil }
        guard let end = lines.dropFirst().firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "---" }) else { return nil }
        return lines[1..<end].joined(separator: "\n")
    }

    static func parse(_ text: String) -> JSON {
        var lines: [Line] = []
        for raw in text.components(separatedBy: "\n") {
            let noTab = raw.replacingOccurrences(of: "\t", with: "  ")
            let trimmed = noTab.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = noTab.prefix(while: { $0 == " " }).count
            lines.append(Line(indent: indent, text: String(noTab.dropFirst(indent)).trimmingCharacters(in: .whitespaces)))
        }
        var p = Parser(lines: lines)
        guard !lines.isEmpty else { return .object([]) }
        return p.block(indent: lines[0].indent)
    }

    struct Parser {
        var lines: [Line]
        var i = 0

        mutating func block(indent: Int) -> JSON {
            guard i < lines.count else { return .null }
            return isSeqItem(lines[i].text) ? sequence(indent: indent) : mapping(indent: indent)
        }

        func isSeqItem(_ t: String) -> Bool { t == "-" || t.hasPrefix("- ") }

        mutating func sequence(indent: Int) -> JSON {
            var items: [JSON] = []
            while i < lines.count, lines[i].indent == indent, isSeqItem(lines[i].text) {
                let content = lines[i].text == "-" ? "" : String(lines[i].text.dropFirst(2)).trimmingCharacters(in: .whitespaces)
                if content.isEmpty {
                    i += 1
                    if i < lines.count, lines[i].indent > indent { items.append(block(indent: lines[i].indent)) } else { items.append(.null) }
                } else if MiniYAML.splitKey(content) != nil {
                    // "- key: value" starts a mapping whose keys sit where "key" is
                    let offset = lines[i].text.count - content.count
                    lines[i] = Line(indent: indent + offset, text: content)
                    items.append(mapping(indent: indent + offset))
                } else {
                    items.append(MiniYAML.scalar(content)); i += 1
                }
            }
            return .array(items)
        }

        mutating func mapping(indent: Int) -> JSON {
            var pairs: [(String, JSON)] = []
            while i < lines.count, lines[i].indent == indent, !isSeqItem(lines[i].text) {
                guard let (key, value) = MiniYAML.splitKey(lines[i].text) else { i += 1; continue }
                i += 1
                if value.isEmpty {
                    if i < lines.count, lines[i].indent > indent { pairs.append((key, block(indent: lines[i].indent))) }
                    else if i < lines.count, lines[i].indent == indent, isSeqItem(lines[i].text) { pairs.append((key, sequence(indent: indent))) }
                    else { pairs.append((key, .null)) }
                } else if value.hasPrefix("|") || value.hasPrefix(">") {
                    var text: [String] = []
                    while i < lines.count, lines[i].indent > indent { text.append(lines[i].text); i += 1 }
                    pairs.append((key, .string(text.joined(separator: value.hasPrefix("|") ? "\n" : " "))))
                } else {
                    pairs.append((key, MiniYAML.scalar(value)))
                }
            }
            return .object(pairs)
        }
    }

    /// "key: value" → (key, value); respects quotes; nil when the line is not a mapping entry.
    static func splitKey(_ t: String) -> (String, String)? {
        var quote: Character? = nil
        var idx = t.startIndex
        while idx < t.endIndex {
            let c = t[idx]
            if let q = quote { if c == q { quote = nil } }
            else if c == "\"" || c == "'" { if idx == t.startIndex { quote = c } }
            else if c == ":" {
                let next = t.index(after: idx)
                if next == t.endIndex || t[next] == " " {
                    var key = String(t[..<idx]).trimmingCharacters(in: .whitespaces)
                    if key.count >= 2, let f = key.first, f == "\"" || f == "'", key.last == f { key = String(key.dropFirst().dropLast()) }
                    return (key, String(t[next...]).trimmingCharacters(in: .whitespaces))
                }
            } else if c == "[" || c == "{" { if idx == t.startIndex { return nil } }
            idx = t.index(after: idx)
        }
        return nil
    }

    static func stripComment(_ s: String) -> String {
        var quote: Character? = nil
        var prev: Character = " "
        for (n, c) in s.enumerated() {
            if let q = quote { if c == q { quote = nil } }
            else if c == "\"" || c == "'" { quote = c }
            else if c == "#" && prev == " " { return String(s.prefix(n)).trimmingCharacters(in: .whitespaces) }
            prev = c
        }
        return s
    }

    static func scalar(_ raw: String) -> JSON {
        let s = stripComment(raw)
        if s.count >= 2, let f = s.first, f == "\"" || f == "'", s.last == f {
            var inner = String(s.dropFirst().dropLast())
            if f == "\"" { inner = inner.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\\", with: "\\") }
            else { inner = inner.replacingOccurrences(of: "''", with: "'") }
            return .string(inner)
        }
        if s.hasPrefix("[") && s.hasSuffix("]") {
            let inner = s.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            if inner.isEmpty { return .array([]) }
            return .array(splitFlow(String(inner)).map { scalar($0.trimmingCharacters(in: .whitespaces)) })
        }
        switch s.lowercased() {
        case "true", "yes": return .bool(true)
        case "false", "no": return .bool(false)
        case "null", "~", "": return .null
        default: break
        }
        if let i = Int(s) { return .int(i) }
        return .string(s)
    }

    static func splitFlow(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil, depth = 0
        for c in s {
            if let q = quote { cur.append(c); if c == q { quote = nil }; continue }
            switch c {
            case "\"", "'": quote = c; cur.append(c)
            case "[", "{": depth += 1; cur.append(c)
            case "]", "}": depth -= 1; cur.append(c)
            case "," where depth == 0: out.append(cur); cur = ""
            default: cur.append(c)
            }
        }
        out.append(cur)
        return out
    }
}
