/// Expressions and statements of the Jinja subset, parsed one method per grammar rule.
indirect enum Expr {
    case literal(TemplateValue)
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case index(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case conditional(Expr, cond: Expr, otherwise: Expr?)
}

indirect enum Node {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(target: String, attribute: String?, Expr, line: Int)
    case setBlock(target: String, body: [Node], line: Int)
    case macro(name: String, params: [(String, Expr?)], body: [Node])
}

struct TemplateParser {
    typealias Located = TemplateLexer.Located
    private var pieces: [TemplateLexer.Piece]
    private var p = 0

    static let maxDepth = 200

    init(_ pieces: [TemplateLexer.Piece]) { self.pieces = pieces }

    /// The whole template.
    mutating func parseTemplate() throws -> [Node] {
        let (nodes, end) = try parseNodes(until: [])
        if let end { throw TemplateError.syntax(line: end.line, column: end.column, message: "unexpected {% \(end.keyword) %}") }
        return nodes
    }

    private struct EndTag { let keyword: String; let tokens: [Located]; let line: Int; let column: Int }

    /// Nodes until a statement whose keyword is in `terminators` (returned, consumed) or the end.
    private mutating func parseNodes(until terminators: Set<String>, depth: Int = 0) throws -> ([Node], EndTag?) {
        guard depth < Self.maxDepth else { throw TemplateError.limitExceeded("blocks nested more than \(Self.maxDepth) deep") }
        var nodes: [Node] = []
        while p < pieces.count {
            let piece = pieces[p]
            p += 1
            switch piece {
            case .text(let t):
                nodes.append(.text(t))
            case let .output(tokens, line, column):
                var e = ExprParser(tokens, line: line, column: column)
                let expr = try e.parseExpression()
                try e.expectEnd()
                nodes.append(.output(expr, line: line))
            case let .statement(tokens, line, column):
                guard case .name(let keyword)? = tokens.first?.token else {
                    throw TemplateError.syntax(line: line, column: column, message: "expected a statement keyword")
                }
                if terminators.contains(keyword) {
                    return (nodes, EndTag(keyword: keyword, tokens: tokens, line: line, column: column))
                }
                nodes.append(try parseStatement(keyword, tokens, line: line, column: column, depth: depth))
            }
        }
        if !terminators.isEmpty {
            throw TemplateError.syntax(line: 0, column: 0, message: "missing {% \(terminators.sorted().joined(separator: " or ")) %}")
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, _ tokens: [Located], line: Int, column: Int, depth: Int) throws -> Node {
        var e = ExprParser(Array(tokens.dropFirst()), line: line, column: column)
        switch keyword {
        case "if":
            var branches: [(Expr, [Node])] = []
            var cond = try e.parseExpression()
            try e.expectEnd()
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"], depth: depth + 1)
                branches.append((cond, body))
                guard let end else { throw TemplateError.syntax(line: line, column: column, message: "missing {% endif %}") }
                switch end.keyword {
                case "elif":
                    var ce = ExprParser(Array(end.tokens.dropFirst()), line: end.line, column: end.column)
                    cond = try ce.parseExpression()
                    try ce.expectEnd()
                case "else":
                    let (otherwise, _) = try parseNodes(until: ["endif"], depth: depth + 1)
                    return .ifChain(branches, otherwise: otherwise, line: line)
                default:
                    return .ifChain(branches, otherwise: [], line: line)
                }
            }
        case "for":
            var targets = [try e.expectName()]
            while e.accept(op: ",") { targets.append(try e.expectName()) }
            try e.expect(name: "in")
            let iterable = try e.parseExpression(allowConditional: false)
            var filter: Expr? = nil
            if e.accept(name: "if") { filter = try e.parseExpression(allowConditional: false) }
            _ = e.accept(name: "recursive")
            try e.expectEnd()
            let (body, end) = try parseNodes(until: ["else", "endfor"], depth: depth + 1)
            var otherwise: [Node] = []
            if end?.keyword == "else" { otherwise = try parseNodes(until: ["endfor"], depth: depth + 1).0 }
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case "set":
            let target = try e.expectName()
            var attribute: String? = nil
            if e.accept(op: ".") { attribute = try e.expectName() }
            if e.atEnd && attribute == nil {
                let (body, _) = try parseNodes(until: ["endset"], depth: depth + 1)
                return .setBlock(target: target, body: body, line: line)
            }
            try e.expect(op: "=")
            let value = try e.parseExpression()
            try e.expectEnd()
            return .set(target: target, attribute: attribute, value, line: line)
        case "macro":
            let name = try e.expectName()
            try e.expect(op: "(")
            var params: [(String, Expr?)] = []
            if !e.accept(op: ")") {
                repeat {
                    let pname = try e.expectName()
                    params.append((pname, e.accept(op: "=") ? try e.parseExpression() : nil))
                } while e.accept(op: ",")
                try e.expect(op: ")")
            }
            try e.expectEnd()
            let (body, _) = try parseNodes(until: ["endmacro"], depth: depth + 1)
            return .macro(name: name, params: params, body: body)
        case "generation", "endgeneration":
            // transformers' assistant-mask markers: render their content as is.
            return .text("")
        default:
            throw TemplateError.syntax(line: line, column: column, message: "unsupported statement \"\(keyword)\"")
        }
    }
}

/// Expression grammar, lowest precedence first (as Jinja2's parser):
/// conditional → or → and → not → compare → math1 (+ -) → concat (~) → math2 (* / // %) → pow → unary → postfix/filters.
struct ExprParser {
    typealias Located = TemplateLexer.Located
    private let tokens: [Located]
    private var i = 0
    private let line: Int, column: Int
    private var depth = 0

    init(_ tokens: [Located], line: Int, column: Int) {
        self.tokens = tokens; self.line = line; self.column = column
    }

    var atEnd: Bool { i >= tokens.count }

    private func error(_ message: String) -> TemplateError {
        let t = i < tokens.count ? tokens[i] : tokens.last
        return .syntax(line: t?.line ?? line, column: t?.column ?? column, message: message)
    }

    private var peek: TemplateLexer.Token? { i < tokens.count ? tokens[i].token : nil }

    mutating func accept(op: String) -> Bool {
        if case .op(op)? = peek { i += 1; return true }
        return false
    }

    mutating func accept(name: String) -> Bool {
        if case .name(name)? = peek { i += 1; return true }
        return false
    }

    mutating func expect(op: String) throws {
        guard accept(op: op) else { throw error("expected \"\(op)\"") }
    }

    mutating func expect(name: String) throws {
        guard accept(name: name) else { throw error("expected \"\(name)\"") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n)? = peek else { throw error("expected a name") }
        i += 1
        return n
    }

    func expectEnd() throws {
        guard atEnd else { throw error("unexpected \(describe(tokens[i].token))") }
    }

    private func describe(_ t: TemplateLexer.Token) -> String {
        switch t {
        case .name(let n): return "\"\(n)\""
        case .string(let s): return "string '\(s)'"
        case .int(let n): return "\(n)"
        case .double(let d): return "\(d)"
        case .op(let o): return "\"\(o)\""
        }
    }

    mutating func parseExpression(allowConditional: Bool = true) throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth < TemplateParser.maxDepth else { throw TemplateError.limitExceeded("expression nested more than \(TemplateParser.maxDepth) deep") }
        let e = try parseOr()
        if allowConditional && accept(name: "if") {
            let cond = try parseOr()
            let otherwise: Expr? = accept(name: "else") ? try parseExpression() : nil
            return .conditional(e, cond: cond, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var e = try parseAnd()
        while accept(name: "or") { e = .or(e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> Expr {
        var e = try parseNot()
        while accept(name: "and") { e = .and(e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> Expr {
        if accept(name: "not") { return .unary("not", try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        var e = try parseMath1()
        while true {
            if case .op(let o)? = peek, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                i += 1
                e = .binary(o, e, try parseMath1())
            } else if accept(name: "in") {
                e = .binary("in", e, try parseMath1())
            } else if case .name("not")? = peek, i + 1 < tokens.count, tokens[i + 1].token == .name("in") {
                i += 2
                e = .binary("not in", e, try parseMath1())
            } else {
                return e
            }
        }
    }

    private mutating func parseMath1() throws -> Expr {
        var e = try parseConcat()
        while true {
            if accept(op: "+") { e = .binary("+", e, try parseConcat()) }
            else if accept(op: "-") { e = .binary("-", e, try parseConcat()) }
            else { return e }
        }
    }

    private mutating func parseConcat() throws -> Expr {
        var e = try parseMath2()
        while accept(op: "~") { e = .binary("~", e, try parseMath2()) }
        return e
    }

    private mutating func parseMath2() throws -> Expr {
        var e = try parsePow()
        while true {
            if case .op(let o)? = peek, ["*", "/", "//", "%"].contains(o) {
                i += 1
                e = .binary(o, e, try parsePow())
            } else { return e }
        }
    }

    private mutating func parsePow() throws -> Expr {
        var e = try parseUnary()
        while accept(op: "**") { e = .binary("**", e, try parseUnary()) }
        return e
    }

    private mutating func parseUnary() throws -> Expr {
        if accept(op: "-") { return try parseFilters(.unary("-", try parseUnary())) }
        if accept(op: "+") { return try parseUnary() }
        return try parseFilters(try parsePostfix(try parsePrimary()))
    }

    private mutating func parseFilters(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept(op: "|") {
                let name = try expectName()
                var args: [Expr] = [], kwargs: [(String, Expr)] = []
                if accept(op: "(") { (args, kwargs) = try parseArguments() }
                e = .filter(e, name, args, kwargs)
                e = try parsePostfix(e)
            } else if accept(name: "is") {
                let negated = accept(name: "not")
                var name: String
                if accept(name: "none") { name = "none" } else if accept(name: "true") { name = "true" }
                else if accept(name: "false") { name = "false" } else { name = try expectName() }
                if name == "None" { name = "none" }
                var args: [Expr] = []
                if accept(op: "(") {
                    args = try parseArguments().0
                } else if let t = peek, startsPrimary(t) {
                    args = [try parsePostfix(try parsePrimary())]
                }
                e = .test(e, name, args, negated: negated)
            } else {
                return e
            }
        }
    }

    private func startsPrimary(_ t: TemplateLexer.Token) -> Bool {
        switch t {
        case .string, .int, .double: return true
        case .name(let n): return !["and", "or", "if", "else", "not", "in", "is"].contains(n)
        default: return false
        }
    }

    /// After "(": positional and keyword arguments up to ")".
    private mutating func parseArguments() throws -> ([Expr], [(String, Expr)]) {
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        if accept(op: ")") { return (args, kwargs) }
        repeat {
            if case .name(let n)? = peek, i + 1 < tokens.count, tokens[i + 1].token == .op("=") {
                i += 2
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
        } while accept(op: ",") && !(peek == .op(")"))
        try expect(op: ")")
        return (args, kwargs)
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept(op: ".") {
                if case .int(let n)? = peek { i += 1; e = .index(e, .literal(.int(n))); continue }
                e = .attribute(e, try expectName())
            } else if accept(op: "[") {
                var parts: [Expr?] = [nil]
                var sawColon = false
                while !accept(op: "]") {
                    if accept(op: ":") { sawColon = true; parts.append(nil); continue }
                    guard parts[parts.count - 1] == nil else { throw error("expected \":\" or \"]\"") }
                    parts[parts.count - 1] = try parseExpression()
                    guard !atEnd else { throw error("expected \"]\"") }
                }
                if sawColon {
                    guard parts.count <= 3 else { throw error("too many \":\" in a slice") }
                    while parts.count < 3 { parts.append(nil) }
                    e = .slice(e, parts[0], parts[1], parts[2])
                } else {
                    guard let index = parts[0] else { throw error("empty subscript") }
                    e = .index(e, index)
                }
            } else if accept(op: "(") {
                let (args, kwargs) = try parseArguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    private mutating func parsePrimary() throws -> Expr {
        guard let t = peek else { throw error("expected an expression") }
        i += 1
        switch t {
        case .string(var s):
            // Adjacent string literals concatenate.
            while case .string(let more)? = peek { s += more; i += 1 }
            return .literal(.string(s))
        case .int(let n): return .literal(.int(n))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            if accept(op: ")") { return .list([]) }
            let first = try parseExpression()
            if accept(op: ",") {
                var items = [first]
                while !accept(op: ")") {
                    items.append(try parseExpression())
                    if !accept(op: ",") { try expect(op: ")"); break }
                }
                return .list(items)
            }
            try expect(op: ")")
            return first
        case .op("["):
            var items: [Expr] = []
            while !accept(op: "]") {
                items.append(try parseExpression())
                if !accept(op: ",") { try expect(op: "]"); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !accept(op: "}") {
                let k = try parseExpression()
                try expect(op: ":")
                pairs.append((k, try parseExpression()))
                if !accept(op: ",") { try expect(op: "}"); break }
            }
            return .dict(pairs)
        default:
            i -= 1
            throw error("unexpected \(describe(t))")
        }
    }
}
