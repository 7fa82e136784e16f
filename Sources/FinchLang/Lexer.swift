// Lexer: source text → tokens, with Python-style INDENT/DEDENT and implicit line joining inside
// brackets. Errors are collected (not thrown) so one run reports all of them.

public struct Lexer {
    let s: [Unicode.Scalar]
    var i = 0
    var line: Int
    var col: Int
    var tokens: [Token] = []
    public private(set) var errors: [(Pos, String)] = []
    var indents: [Int] = [0]
    var brackets: [(Unicode.Scalar, Pos)] = []
    var atLineStart = true
    /// Indentation of the line the current statement started on.
    var lineIndent = 0
    /// Expression text inside an f-string: no INDENT/NEWLINE handling.
    let fragment: Bool

    public init(_ text: String, line: Int = 1, column: Int = 1, fragment: Bool = false) {
        self.s = Array(text.unicodeScalars)
        self.line = line
        self.col = column
        self.fragment = fragment
        if fragment { atLineStart = false }
    }

    var pos: Pos { Pos(line: line, column: col) }
    func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

    mutating func advance() -> Unicode.Scalar {
        let c = s[i]
        i += 1
        if c == "\n" { line += 1; col = 1 } else { col += 1 }
        return c
    }

    mutating func error(_ p: Pos, _ message: String) { errors.append((p, message)) }

    public mutating func tokenize() -> [Token] {
        while true {
            if atLineStart && brackets.isEmpty && !fragment {
                handleIndentation()
                if i >= s.count { break }
            }
            guard let c = peek() else { break }
            if c == " " || c == "\t" || c == "\r" || c == "\u{0C}" { _ = advance(); continue }
            if c == "#" { while let d = peek(), d != "\n" { _ = advance() }; continue }
            if c == "\\" && peek(1) == "\n" { _ = advance(); _ = advance(); continue }
            if c == "\n" {
                let p = pos
                if !brackets.isEmpty && !fragment && nextLineStartsStatement() {
                    // An unclosed bracket would swallow the rest of the cell; report it and resync here
                    // so the following statements are still checked.
                    for (b, bp) in brackets { error(bp, "'\(b)' was never closed") }
                    brackets.removeAll()
                }
                _ = advance()
                if brackets.isEmpty && !fragment {
                    if let last = tokens.last, last.kind != .newline { tokens.append(Token(.newline, p)) }
                    atLineStart = true
                }
                continue
            }
            let start = pos
            if isIdentStart(c) {
                var name = ""
                while let d = peek(), isIdentPart(d) { name.unicodeScalars.append(advance()) }
                if (name == "f" || name == "F" || name == "r" || name == "R" || name == "rf" || name == "fr"),
                   let q = peek(), q == "\"" || q == "'" {
                    let lower = name.lowercased()
                    lexString(start: start, format: lower.contains("f"), raw: lower.contains("r"))
                } else if let alias = literalAliases[name] {
                    tokens.append(Token(.keyword(alias), start))
                } else if keywords.contains(name) {
                    tokens.append(Token(.keyword(name), start))
                } else {
                    tokens.append(Token(.name(name), start))
                }
                continue
            }
            if isDigit(c) || (c == "." && peek(1).map(isDigit) == true) { lexNumber(start: start); continue }
            if c == "\"" || c == "'" { lexString(start: start, format: false, raw: false); continue }
            lexOperator(start: start, c)
        }
        if !fragment {
            if let last = tokens.last, last.kind != .newline { tokens.append(Token(.newline, pos)) }
            for (b, p) in brackets { error(p, "'\(b)' was never closed") }
            while indents.count > 1 { indents.removeLast(); tokens.append(Token(.dedent, pos)) }
        }
        tokens.append(Token(.eof, pos))
        return tokens
    }

    /// At a newline inside brackets: does the next line look like a new statement rather than a
    /// continuation? Keywords that cannot appear inside an expression always do; `name =` does when it
    /// is not indented past the statement and the line before cannot continue (no trailing `,` or opener).
    func nextLineStartsStatement() -> Bool {
        var j = i + 1, width = 0
        while j < s.count, s[j] == " " || s[j] == "\t" { width += 1; j += 1 }
        var word = ""
        while j < s.count, isIdentPart(s[j]) { word.unicodeScalars.append(s[j]); j += 1 }
        if ["def", "return", "pass", "break", "continue", "use", "while", "elif"].contains(word) { return true }
        guard !word.isEmpty, !keywords.contains(word), width <= lineIndent else { return false }
        while j < s.count, s[j] == " " { j += 1 }
        guard j + 1 < s.count, s[j] == "=", s[j + 1] != "=" else { return false }
        var k = i - 1
        while k >= 0, s[k] == " " || s[k] == "\t" || s[k] == "\r" { k -= 1 }
        guard k >= 0 else { return false }
        return ![",", "(", "[", "{"].contains(s[k])
    }

    mutating func handleIndentation() {
        // Measure the indentation of the next non-blank, non-comment line.
        while true {
            var width = 0
            let save = (i, line, col)
            while let c = peek(), c == " " || c == "\t" { width += c == "\t" ? 8 - width % 8 : 1; _ = advance() }
            guard let c = peek() else { return }
            if c == "\n" || c == "#" || c == "\r" {
                while let d = peek(), d != "\n" { _ = advance() }
                if peek() == "\n" { _ = advance() }
                continue
            }
            atLineStart = false
            lineIndent = width
            let p = pos
            if width > indents.last! {
                indents.append(width)
                tokens.append(Token(.indent, p))
            } else {
                while width < indents.last! {
                    indents.removeLast()
                    tokens.append(Token(.dedent, p))
                }
                if width != indents.last! {
                    error(Pos(line: save.1, column: 1), "unindent does not match any outer indentation level")
                    indents.append(width)
                }
            }
            return
        }
    }

    mutating func lexNumber(start: Pos) {
        var text = ""
        var isFloat = false
        if peek() == "0", let x = peek(1), x == "x" || x == "X" || x == "b" || x == "B" || x == "o" || x == "O" {
            _ = advance(); _ = advance()
            let radix = (x == "x" || x == "X") ? 16 : (x == "b" || x == "B") ? 2 : 8
            while let d = peek(), d.properties.isASCIIHexDigit || d == "_" { let c = advance(); if c != "_" { text.unicodeScalars.append(c) } }
            if let v = Int(text, radix: radix) { tokens.append(Token(.int(v), start)) }
            else if text.isEmpty { error(start, "missing digits after number prefix"); tokens.append(Token(.int(0), start)) }
            else { error(start, "integer literal too large or malformed (the largest int is \(Int.max))"); tokens.append(Token(.int(0), start)) }
            return
        }
        func digits() { while let d = peek(), isDigit(d) || d == "_" { let c = advance(); if c != "_" { text.unicodeScalars.append(c) } } }
        digits()
        if peek() == ".", peek(1).map(isDigit) == true {
            isFloat = true
            text.append(String(advance()))
            digits()
        }
        if let e = peek(), e == "e" || e == "E" {
            let sign = peek(1)
            if sign.map(isDigit) == true || ((sign == "+" || sign == "-") && peek(2).map(isDigit) == true) {
                isFloat = true
                text.unicodeScalars.append(advance())
                if sign == "+" || sign == "-" { text.unicodeScalars.append(advance()) }
                digits()
            }
        }
        if let d = peek(), isIdentStart(d) { error(pos, "invalid character '\(d)' in number") }
        if isFloat {
            if let v = Double(text) { tokens.append(Token(.float(v), start)) }
            else { error(start, "malformed float literal '\(text)'"); tokens.append(Token(.float(0), start)) }
        } else if let v = Int(text) {
            tokens.append(Token(.int(v), start))
        } else {
            error(start, "integer literal too large (the largest int is \(Int.max)); write it as a float, e.g. \(text.prefix(1)).0e\(text.count - 1)")
            tokens.append(Token(.int(0), start))
        }
    }

    mutating func lexString(start: Pos, format: Bool, raw: Bool) {
        let quote = advance()
        var triple = false
        if peek() == quote && peek(1) == quote { _ = advance(); _ = advance(); triple = true }
        var pieces: [FStringPiece] = []
        var text = ""
        var closed = false
        while let c = peek() {
            if c == quote {
                if !triple { _ = advance(); closed = true; break }
                if peek(1) == quote && peek(2) == quote { _ = advance(); _ = advance(); _ = advance(); closed = true; break }
            }
            if c == "\n" && !triple { break }
            if c == "\\" && !raw {
                let escPos = pos
                _ = advance()
                guard let e = peek() else { break }
                if let scalar = lexEscape(e, at: escPos) { text.unicodeScalars.append(scalar) }
                continue
            }
            if format && c == "{" {
                if peek(1) == "{" { _ = advance(); _ = advance(); text += "{"; continue }
                if !text.isEmpty { pieces.append(.text(text)); text = "" }
                _ = advance()
                if let piece = lexFormatField(quote: quote, triple: triple) { pieces.append(piece) }
                continue
            }
            if format && c == "}" {
                if peek(1) == "}" { _ = advance(); _ = advance(); text += "}"; continue }
                error(pos, "single '}' is not allowed in an f-string; write '}}'")
                _ = advance()
                continue
            }
            text.unicodeScalars.append(advance())
        }
        if !closed {
            error(start, triple ? "unterminated triple-quoted string" : "unterminated string (a string must end on the line it starts; use triple quotes for several lines)")
        }
        if format {
            if !text.isEmpty || pieces.isEmpty { pieces.append(.text(text)) }
            tokens.append(Token(.fstring(pieces), start))
        } else {
            tokens.append(Token(.string(text), start))
        }
    }

    /// After a backslash; consumes the escape and returns its scalar (nil after an error).
    mutating func lexEscape(_ e: Unicode.Scalar, at escPos: Pos) -> Unicode.Scalar? {
        _ = advance()
        switch e {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "b": return "\u{08}"
        case "f": return "\u{0C}"
        case "0": return "\u{00}"
        case "\"", "'", "\\", "/": return e
        case "\n": return nil  // line continuation inside a string
        case "x":
            guard let v = readHex(2) else { error(escPos, "\\x needs two hex digits"); return nil }
            return Unicode.Scalar(v)
        case "u":
            guard let hi = readHex(4) else { error(escPos, "\\u needs four hex digits"); return nil }
            if (0xD800...0xDBFF).contains(hi) {
                // A UTF-16 surrogate pair as JSON writes characters outside the BMP: \uD83D\uDE00.
                if peek() == "\\" && peek(1) == "u" {
                    let save = (i, line, col)
                    _ = advance(); _ = advance()
                    if let lo = readHex(4), (0xDC00...0xDFFF).contains(lo) {
                        return Unicode.Scalar(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    }
                    (i, line, col) = save
                }
                error(escPos, "\\u\(String(hi, radix: 16, uppercase: true)) is a high surrogate without a low surrogate after it")
                return nil
            }
            if (0xDC00...0xDFFF).contains(hi) { error(escPos, "\\u\(String(hi, radix: 16, uppercase: true)) is a lone low surrogate"); return nil }
            return Unicode.Scalar(hi)
        case "U":
            guard let v = readHex(8), let sc = Unicode.Scalar(v) else { error(escPos, "\\U needs eight hex digits of a valid code point"); return nil }
            return sc
        default:
            error(escPos, "unknown escape '\\\(e)' (use \\\\ for a backslash)")
            return nil
        }
    }

    mutating func readHex(_ n: Int) -> UInt32? {
        var v: UInt32 = 0
        for k in 0..<n {
            guard let d = peek(k), d.properties.isASCIIHexDigit, let x = UInt32(String(d), radix: 16) else { return nil }
            v = v * 16 + x
        }
        for _ in 0..<n { _ = advance() }
        return v
    }

    /// After `{` in an f-string: reads `expr[!conv][:spec]}`.
    mutating func lexFormatField(quote: Unicode.Scalar, triple: Bool) -> FStringPiece? {
        let exprPos = pos
        var expr = ""
        var depth = 0
        var conversion: Character? = nil
        var spec = ""
        var inString: Unicode.Scalar? = nil
        while let c = peek() {
            if c == "\n" && !triple { break }
            if c == quote && !triple && inString == nil { break }
            if let q = inString {
                expr.unicodeScalars.append(advance())
                if c == "\\", peek() != nil { expr.unicodeScalars.append(advance()) } else if c == q { inString = nil }
                continue
            }
            if c == "'" || c == "\"" { inString = c; expr.unicodeScalars.append(advance()); continue }
            if c == "(" || c == "[" || c == "{" { depth += 1 }
            if c == ")" || c == "]" || (c == "}" && depth > 0) { depth -= 1 }
            if depth == 0 {
                if c == "}" {
                    _ = advance()
                    return finishField(expr, exprPos, conversion, spec)
                }
                if c == "!" && peek(1) != "=" {
                    _ = advance()
                    if let k = peek(), k == "r" || k == "s" || k == "a" { conversion = Character(k); _ = advance() }
                    else { error(pos, "f-string conversion must be !r or !s") }
                    if peek() == ":" { _ = advance(); spec = readSpec(quote: quote, triple: triple) }
                    if peek() == "}" { _ = advance(); return finishField(expr, exprPos, conversion, spec) }
                    break
                }
                if c == ":" {
                    _ = advance()
                    spec = readSpec(quote: quote, triple: triple)
                    if peek() == "}" { _ = advance(); return finishField(expr, exprPos, conversion, spec) }
                    break
                }
            }
            expr.unicodeScalars.append(advance())
        }
        error(exprPos, "f-string field is missing its closing '}'")
        return nil
    }

    mutating func readSpec(quote: Unicode.Scalar, triple: Bool) -> String {
        var spec = ""
        while let c = peek(), c != "}", c != "\n" || triple, c != quote || triple {
            if c == "{" { error(pos, "a field inside a format spec is not supported; build the spec first, e.g. format(x, f\".{n}f\")") }
            spec.unicodeScalars.append(advance())
        }
        return spec
    }

    mutating func finishField(_ expr: String, _ p: Pos, _ conv: Character?, _ spec: String) -> FStringPiece? {
        if expr.allSatisfy({ $0 == " " }) { error(p, "empty expression in f-string"); return nil }
        return .expr(source: expr, pos: p, conversion: conv, spec: spec)
    }

    static let threeCharOps: Set<String> = ["**=", "//="]
    static let twoCharOps: Set<String> = ["==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "**", "//", "->"]

    mutating func lexOperator(start: Pos, _ c: Unicode.Scalar) {
        var three = ""
        for k in 0..<3 { if let d = peek(k) { three.unicodeScalars.append(d) } }
        if Lexer.threeCharOps.contains(three) {
            for _ in 0..<3 { _ = advance() }
            tokens.append(Token(.op(three), start)); return
        }
        let two = String(three.unicodeScalars.prefix(2))
        if Lexer.twoCharOps.contains(two) {
            _ = advance(); _ = advance()
            tokens.append(Token(.op(two), start)); return
        }
        _ = advance()
        switch c {
        case "(", "[", "{":
            brackets.append((c, start))
        case ")", "]", "}":
            let open: Unicode.Scalar = c == ")" ? "(" : c == "]" ? "[" : "{"
            if let last = brackets.last {
                if last.0 == open { brackets.removeLast() }
                else { error(start, "'\(c)' does not match '\(last.0)' opened at line \(last.1.line)"); brackets.removeLast() }
            } else if !fragment {
                error(start, "unmatched '\(c)'")
                return
            }
        case "+", "-", "*", "/", "%", "<", ">", "=", ".", ",", ":", ";", "@", "|", "&", "~", "^":
            break
        default:
            let shown = c.properties.isWhitespace || c.value < 0x20 || c == "\u{FFFD}" || c.value == 0x7F
                ? "U+" + String(c.value, radix: 16, uppercase: true) : "'\(c)'"
            error(start, "unexpected character \(shown)")
            return
        }
        tokens.append(Token(.op(String(c)), start))
    }
}

@inline(__always) func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
@inline(__always) func isIdentStart(_ c: Unicode.Scalar) -> Bool {
    (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || (c.value > 0x7F && c.properties.isAlphabetic)
}
@inline(__always) func isIdentPart(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || isDigit(c) }
