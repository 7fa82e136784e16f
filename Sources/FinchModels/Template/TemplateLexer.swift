import Foundation

/// Splits a template into text and tags, applies whitespace control (`{%-`, `-%}`, and `trim_blocks` /
/// `lstrip_blocks` as transformers sets them), and tokenizes the inside of tags.
struct TemplateLexer {
    enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)
    }

    struct Located: Equatable {
        let token: Token
        let line: Int
        let column: Int
    }

    enum Piece {
        case text(String)
        case output([Located], line: Int, column: Int)
        case statement([Located], line: Int, column: Int)
    }

    private enum Kind { case output, statement, comment }

    private struct RawTag {
        let kind: Kind
        let tokens: [Located]
        let line: Int, column: Int
        let stripBefore: Bool   // {%- / {{- / {#-
        let keepBefore: Bool    // {%+ (disables lstrip_blocks)
        let stripAfter: Bool    // -%} / -}} / -#}
    }

    let source: [Character]
    var trimBlocks = true
    var lstripBlocks = true

    init(_ source: String) { self.source = Array(source) }

    func tokenize() throws -> [Piece] {
        var texts: [String] = []   // texts[k] precedes tags[k]; one more text at the end
        var tags: [RawTag] = []
        var i = 0
        var line = 1, col = 1
        var textStart = 0
        func advance(_ n: Int) {
            for _ in 0..<n where i < source.count {
                if source[i] == "\n" { line += 1; col = 1 } else { col += 1 }
                i += 1
            }
        }
        while i < source.count {
            guard source[i] == "{", i + 1 < source.count, source[i + 1] == "{" || source[i + 1] == "%" || source[i + 1] == "#" else {
                advance(1); continue
            }
            let kind: Kind = source[i + 1] == "{" ? .output : source[i + 1] == "%" ? .statement : .comment
            texts.append(String(source[textStart..<i]))
            let tagLine = line, tagCol = col
            advance(2)
            var stripBefore = false, keepBefore = false
            if i < source.count, source[i] == "-" { stripBefore = true; advance(1) }
            else if i < source.count, source[i] == "+" { keepBefore = true; advance(1) }
            var tokens: [Located] = []
            var stripAfter = false
            if kind == .comment {
                while true {
                    guard i + 1 < source.count else { throw TemplateError.syntax(line: tagLine, column: tagCol, message: "unclosed comment") }
                    if source[i] == "-" && i + 2 < source.count && source[i + 1] == "#" && source[i + 2] == "}" { stripAfter = true; advance(3); break }
                    if source[i] == "#" && source[i + 1] == "}" { advance(2); break }
                    advance(1)
                }
            } else {
                let close: Character = kind == .output ? "}" : "%"
                var depth = 0
                while true {
                    while i < source.count, source[i] == " " || source[i] == "\t" || source[i] == "\n" || source[i] == "\r" { advance(1) }
                    guard i < source.count else {
                        throw TemplateError.syntax(line: tagLine, column: tagCol, message: kind == .output ? "missing }}" : "missing %}")
                    }
                    if depth == 0 {
                        if source[i] == "-", i + 2 < source.count, source[i + 1] == close, source[i + 2] == "}" { stripAfter = true; advance(3); break }
                        if source[i] == close, i + 1 < source.count, source[i + 1] == "}" { advance(2); break }
                    }
                    let (tok, length) = try lexToken(at: i, line: line, column: col)
                    if case .op(let o) = tok {
                        if o == "(" || o == "[" || o == "{" { depth += 1 }
                        if o == ")" || o == "]" || o == "}" { depth = max(0, depth - 1) }
                    }
                    tokens.append(Located(token: tok, line: line, column: col))
                    advance(length)
                }
            }
            tags.append(RawTag(kind: kind, tokens: tokens, line: tagLine, column: tagCol,
                               stripBefore: stripBefore, keepBefore: keepBefore, stripAfter: stripAfter))
            textStart = i
        }
        texts.append(String(source[textStart..<source.count]))

        // Whitespace control, decided on the original text around each tag.
        var pieces: [Piece] = []
        for k in 0..<texts.count {
            var text = texts[k]
            let before: RawTag? = k > 0 ? tags[k - 1] : nil
            let after: RawTag? = k < tags.count ? tags[k] : nil
            if let after {
                if after.stripBefore {
                    while let last = text.last, last.isWhitespace { text.removeLast() }
                } else if lstripBlocks && after.kind != .output && !after.keepBefore {
                    // Only spaces/tabs between the line start (or template start) and the tag.
                    var j = text.endIndex
                    while j > text.startIndex, text[text.index(before: j)] == " " || text[text.index(before: j)] == "\t" { j = text.index(before: j) }
                    let atLineStart = j == text.startIndex ? (k == 0 || false) : text[text.index(before: j)] == "\n"
                    let startOfTemplate = j == text.startIndex && k == 0
                    if atLineStart || startOfTemplate { text.removeSubrange(j...) }
                }
            }
            if let before {
                if before.stripAfter {
                    while let first = text.first, first.isWhitespace { text.removeFirst() }
                } else if trimBlocks && before.kind != .output {
                    if text.hasPrefix("\n") { text.removeFirst() }
                    else if text.hasPrefix("\r\n") { text.removeFirst() }
                }
            }
            if !text.isEmpty { pieces.append(.text(text)) }
            if let after {
                switch after.kind {
                case .output: pieces.append(.output(after.tokens, line: after.line, column: after.column))
                case .statement: pieces.append(.statement(after.tokens, line: after.line, column: after.column))
                case .comment: break
                }
            }
        }
        return pieces
    }

    private static let twoCharOps: Set<String> = ["==", "!=", "<=", ">=", "//", "**"]
    private static let oneCharOps: Set<Character> = ["<", ">", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "="]

    private func lexToken(at i: Int, line: Int, column: Int) throws -> (Token, Int) {
        let c = source[i]
        if c == "'" || c == "\"" {
            var j = i + 1
            var out = ""
            while true {
                guard j < source.count else { throw TemplateError.syntax(line: line, column: column, message: "unterminated string") }
                let d = source[j]
                if d == c { j += 1; break }
                if d == "\\", j + 1 < source.count {
                    // Python's unicode-escape, as Jinja decodes string literals.
                    let e = source[j + 1]
                    j += 2
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "a": out.append("\u{07}")
                    case "b": out.append("\u{08}")
                    case "f": out.append("\u{0C}")
                    case "v": out.append("\u{0B}")
                    case "\\": out.append("\\")
                    case "'": out.append("'")
                    case "\"": out.append("\"")
                    case "\n": break  // backslash-newline: line continuation
                    case "x", "u", "U":
                        let width = e == "x" ? 2 : e == "u" ? 4 : 8
                        guard j + width <= source.count,
                              let v = UInt32(String(source[j..<(j + width)]), radix: 16), let scalar = Unicode.Scalar(v) else {
                            throw TemplateError.syntax(line: line, column: column, message: "bad \\\(e) escape in a string")
                        }
                        out.unicodeScalars.append(scalar)
                        j += width
                    case "0"..."7":
                        var v = UInt32(e.asciiValue! - 48)
                        var k = 0
                        while k < 2, j < source.count, let dgt = source[j].asciiValue, (48...55).contains(dgt) { v = v * 8 + UInt32(dgt - 48); j += 1; k += 1 }
                        out.unicodeScalars.append(Unicode.Scalar(v)!)
                    default: out.append("\\"); out.append(e)
                    }
                    continue
                }
                out.append(d)
                j += 1
            }
            return (.string(out), j - i)
        }
        if c.isNumber && c.isASCII {
            var j = i
            while j < source.count, (source[j].isASCII && source[j].isNumber) || source[j] == "_" { j += 1 }
            var isFloat = false
            if j + 1 < source.count, source[j] == ".", source[j + 1].isASCII, source[j + 1].isNumber {
                isFloat = true
                j += 1
                while j < source.count, source[j].isASCII, source[j].isNumber { j += 1 }
            }
            let text = String(source[i..<j]).replacingOccurrences(of: "_", with: "")
            if isFloat {
                guard let d = Double(text) else { throw TemplateError.syntax(line: line, column: column, message: "bad number \(text)") }
                return (.double(d), j - i)
            }
            guard let n = Int(text) else { throw TemplateError.syntax(line: line, column: column, message: "number too large: \(text)") }
            return (.int(n), j - i)
        }
        if c.isLetter || c == "_" {
            var j = i
            while j < source.count, source[j].isLetter || source[j].isNumber || source[j] == "_" { j += 1 }
            return (.name(String(source[i..<j])), j - i)
        }
        if i + 1 < source.count, Self.twoCharOps.contains(String([c, source[i + 1]])) {
            return (.op(String([c, source[i + 1]])), 2)
        }
        if Self.oneCharOps.contains(c) { return (.op(String(c)), 1) }
        throw TemplateError.syntax(line: line, column: column, message: "unexpected character \"\(c)\"")
    }
}
