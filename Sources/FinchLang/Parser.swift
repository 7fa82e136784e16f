// Parser: tokens → statements, by recursive descent with one method per grammar rule.
// A syntax error abandons the current statement only: the parser skips to the next line and goes on,
// so one run reports every error in a cell.

struct ParseError: Error {
    var pos: Pos
    var message: String
}

public struct Parser {
    /// Deeper nesting than this is an error, not a stack overflow.
    public static let maxDepth = 150

    let tokens: [Token]
    var current = 0
    var depth = 0
    /// Binary operators and postfix operations build left-deep trees without recursion; they are
    /// counted too so no expression tree gets deep enough to overflow the evaluator's stack.
    var chain = 0
    public static let maxChain = 5000
    public internal(set) var errors: [(Pos, String)] = []

    public init(_ source: String, line: Int = 1, column: Int = 1, fragment: Bool = false, depth: Int = 0) {
        var lexer = Lexer(source, line: line, column: column, fragment: fragment)
        tokens = lexer.tokenize()
        errors = lexer.errors
        self.depth = depth
    }

    /// Parses a whole source; throws SyntaxErrors with every error found, sorted by position.
    public static func parse(_ file: SourceFile) throws -> [Stmt] {
        var parser = Parser(file.text)
        let program = parser.program()
        if !parser.errors.isEmpty {
            throw SyntaxErrors(diagnostics: parser.sortedErrors().map {
                Diagnostic(kind: .syntax, message: $0.1, file: file, pos: $0.0)
            })
        }
        return program
    }

    /// Errors sorted by position, at most one per line (later ones on a line are usually consequences).
    /// An unterminated string explains its line better than the bracket it swallowed; an error past
    /// the last line is a consequence of an earlier one when there is one.
    func sortedErrors() -> [(Pos, String)] {
        var seen = Set<Int32>()
        let lastLine = tokens.last.map { $0.pos.line } ?? 0
        let rank: ((Pos, String)) -> Int = { $0.1.hasPrefix("unterminated") ? 0 : 1 }
        var sorted = errors.sorted { ($0.0.line, rank($0), $0.0.column) < ($1.0.line, rank($1), $1.0.column) }
            .filter { seen.insert($0.0.line).inserted }
        if sorted.count > 1 { sorted.removeAll { $0.0.line >= lastLine && $0.0.column == 1 && $0.1.hasPrefix("expected") } }
        return sorted
    }

    // MARK: token helpers

    var peek: Token { tokens[current] }
    /// Whether every token was consumed.
    public var peekIsEnd: Bool { peekKind == .eof || (peekKind == .newline && peekKind(1) == .eof) }
    var peekKind: TokenKind { tokens[current].kind }
    func peekKind(_ k: Int) -> TokenKind { current + k < tokens.count ? tokens[current + k].kind : .eof }

    @discardableResult
    mutating func advance() -> Token {
        let t = tokens[current]
        if current < tokens.count - 1 { current += 1 }
        return t
    }

    func check(_ op: String) -> Bool { peekKind == .op(op) }
    func checkKeyword(_ k: String) -> Bool { peekKind == .keyword(k) }

    mutating func match(_ op: String) -> Bool {
        if check(op) { advance(); return true }
        return false
    }
    mutating func matchKeyword(_ k: String) -> Bool {
        if checkKeyword(k) { advance(); return true }
        return false
    }

    mutating func expect(_ op: String, _ what: String) throws {
        guard match(op) else { throw ParseError(pos: peek.pos, message: "expected '\(op)' \(what), found \(describe(peek))") }
    }

    mutating func expectName(_ what: String) throws -> String {
        if case .name(let n) = peekKind { advance(); return n }
        throw ParseError(pos: peek.pos, message: "expected \(what), found \(describe(peek))")
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .name(let n): return "name '\(n)'"
        case .keyword(let k): return "'\(k)'"
        case .int, .float: return "a number"
        case .string, .fstring: return "a string"
        case .op(let o): return "'\(o)'"
        case .newline: return "end of line"
        case .indent: return "an indented block"
        case .dedent: return "end of block"
        case .eof: return "end of input"
        }
    }

    mutating func chained(_ pos: Pos) throws {
        chain += 1
        if chain > Parser.maxChain {
            throw ParseError(pos: pos, message: "statement too long (more than \(Parser.maxChain) operators); split it over several statements")
        }
    }

    mutating func nested<T>(_ pos: Pos, _ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth {
            throw ParseError(pos: pos, message: "nesting too deep (more than \(Parser.maxDepth) levels)")
        }
        return try body(&self)
    }

    // MARK: statements

    /// program := statement* EOF
    public mutating func program() -> [Stmt] {
        var out: [Stmt] = []
        while peekKind != .eof {
            if peekKind == .newline { advance(); continue }
            if peekKind == .indent {
                errors.append((peek.pos, "unexpected indent"))
                skipBlock()
                continue
            }
            if peekKind == .dedent { advance(); continue }
            statementRecovering(into: &out)
        }
        return out
    }

    mutating func statementRecovering(into out: inout [Stmt]) {
        chain = 0
        do {
            out += try statement()
        } catch let e as ParseError {
            errors.append((e.pos, e.message))
            synchronize()
        } catch {
            errors.append((peek.pos, "\(error)"))
            synchronize()
        }
    }

    /// Skips to the start of the next statement, and over a block that belonged to the broken one.
    mutating func synchronize() {
        while peekKind != .newline && peekKind != .eof && peekKind != .dedent { advance() }
        if peekKind == .newline { advance() }
        if peekKind == .indent { skipBlock() }
    }

    mutating func skipBlock() {
        var level = 0
        repeat {
            if peekKind == .indent { level += 1 }
            if peekKind == .dedent { level -= 1 }
            if peekKind == .eof { return }
            advance()
        } while level > 0
    }

    /// statement := ifStmt | whileStmt | forStmt | defStmt | simpleStatements
    mutating func statement() throws -> [Stmt] {
        switch peekKind {
        case .keyword("if"): return [try ifStatement()]
        case .keyword("while"): return [try whileStatement()]
        case .keyword("for"): return [try forStatement()]
        case .keyword("def"): return [try defStatement()]
        default: return try simpleStatements()
        }
    }

    /// simpleStatements := simple (';' simple)* NEWLINE
    mutating func simpleStatements() throws -> [Stmt] {
        var out = [try simpleStatement()]
        while match(";") {
            if peekKind == .newline || peekKind == .eof { break }
            out.append(try simpleStatement())
        }
        if peekKind == .newline { advance() }
        else if peekKind != .eof && peekKind != .dedent {
            throw ParseError(pos: peek.pos, message: "expected end of line, found \(describe(peek))")
        }
        return out
    }

    /// simple := 'pass' | 'break' | 'continue' | 'return' [exprList] | 'use' STRING | assignment
    mutating func simpleStatement() throws -> Stmt {
        let t = peek
        switch t.kind {
        case .keyword("pass"): advance(); return Stmt(.pass, t.pos)
        case .keyword("break"): advance(); return Stmt(.breakLoop, t.pos)
        case .keyword("continue"): advance(); return Stmt(.continueLoop, t.pos)
        case .keyword("return"):
            advance()
            if peekKind == .newline || peekKind == .eof || check(";") || peekKind == .dedent { return Stmt(.returnValue(nil), t.pos) }
            return Stmt(.returnValue(try exprList()), t.pos)
        case .keyword("assert"):
            advance()
            let cond = try expression()
            let message = match(",") ? try expression() : nil
            return Stmt(.assert(cond, message), t.pos)
        case .name(let n) where (n == "import" || n == "from") && { if case .name = peekKind(1) { return true }; return false }():
            throw ParseError(pos: t.pos, message: "Finch has no '\(n)': built-ins are always available, and `use \"name\"` loads a stdlib module")
        case .keyword("use"):
            advance()
            if case .string(let name) = peekKind { advance(); return Stmt(.use(name), t.pos) }
            if case .name(let name) = peekKind { advance(); return Stmt(.use(name), t.pos) }
            throw ParseError(pos: peek.pos, message: "expected a module name after 'use', e.g. use \"text\"")
        default:
            return try assignment()
        }
    }

    static let augmentedOps: [String: BinaryOp] = ["+=": .add, "-=": .sub, "*=": .mul, "/=": .div, "//=": .floorDiv, "%=": .mod, "**=": .pow]

    /// assignment := exprList ('=' exprList)* | target augOp expression
    mutating func assignment() throws -> Stmt {
        let start = peek.pos
        let first = try exprList()
        if case .op(let o) = peekKind, let op = Parser.augmentedOps[o] {
            advance()
            let target = try toTarget(first)
            if case .tuple = target { throw ParseError(pos: start, message: "'\(o)' needs a single target") }
            return Stmt(.augAssign(target, op, try expression()), start)
        }
        if !check("=") { return Stmt(.expr(first), start) }
        var chain = [first]
        while match("=") { chain.append(try exprList()) }
        let value = chain.removeLast()
        return Stmt(.assign(try chain.map { try toTarget($0) }, value), start)
    }

    func toTarget(_ e: Expr) throws -> Target {
        switch e.kind {
        case .name(let n): return .name(n, e.pos)
        case .index(let obj, let idx): return .index(obj, idx, e.pos)
        case .attribute(let obj, let name): return .attribute(obj, name, e.pos)
        case .list(let items): return .tuple(try items.map(toTarget), e.pos)
        case .call: throw ParseError(pos: e.pos, message: "cannot assign to a function call (did you mean '=='?)")
        case .literal: throw ParseError(pos: e.pos, message: "cannot assign to a literal (did you mean '=='?)")
        default: throw ParseError(pos: e.pos, message: "cannot assign to this expression")
        }
    }

    /// block := ':' (simpleStatements | NEWLINE INDENT statement+ DEDENT)
    mutating func block(_ what: String) throws -> [Stmt] {
        let pos = peek.pos
        try expect(":", "after \(what)")
        return try nested(pos) { p in
            if p.peekKind != .newline { return try p.simpleStatements() }
            p.advance()
            guard p.peekKind == .indent else {
                throw ParseError(pos: p.peek.pos, message: "expected an indented block after \(what)")
            }
            p.advance()
            var body: [Stmt] = []
            while p.peekKind != .dedent && p.peekKind != .eof {
                if p.peekKind == .newline { p.advance(); continue }
                if p.peekKind == .indent {
                    p.errors.append((p.peek.pos, "unexpected indent"))
                    p.skipBlock()
                    continue
                }
                p.statementRecovering(into: &body)
            }
            if p.peekKind == .dedent { p.advance() }
            return body
        }
    }

    /// ifStmt := 'if' expression block ('elif' expression block)* ['else' block]
    mutating func ifStatement() throws -> Stmt {
        let start = advance().pos
        var branches = [IfBranch(condition: try expression(), body: try block("'if' condition"))]
        var elseBody: [Stmt]? = nil
        while true {
            if matchKeyword("elif") {
                branches.append(IfBranch(condition: try expression(), body: try block("'elif' condition")))
            } else if matchKeyword("else") {
                elseBody = try block("'else'")
                break
            } else { break }
        }
        return Stmt(.ifElse(branches, elseBody), start)
    }

    /// whileStmt := 'while' expression block
    mutating func whileStatement() throws -> Stmt {
        let start = advance().pos
        let cond = try expression()
        return Stmt(.whileLoop(cond, try block("'while' condition")), start)
    }

    /// forStmt := 'for' targetList 'in' exprList block
    mutating func forStatement() throws -> Stmt {
        let start = advance().pos
        let target = try targetList()
        guard matchKeyword("in") else { throw ParseError(pos: peek.pos, message: "expected 'in' in for loop, found \(describe(peek))") }
        let iterable = try exprList()
        return Stmt(.forLoop(target, iterable, try block("'for' clause")), start)
    }

    /// targetList := postfix (',' postfix)*
    mutating func targetList() throws -> Target {
        let start = peek.pos
        var items = [try postfix()]
        while match(",") {
            if checkKeyword("in") { break }
            items.append(try postfix())
        }
        if items.count == 1 { return try toTarget(items[0]) }
        return .tuple(try items.map(toTarget), start)
    }

    /// defStmt := 'def' NAME '(' params ')' block
    mutating func defStatement() throws -> Stmt {
        let start = advance().pos
        let name = try expectName("a function name after 'def'")
        try expect("(", "after the function name")
        let params = try parameters(closing: ")")
        try expect(")", "to close the parameter list")
        if match("->") { _ = try expression() }  // return annotations are accepted and ignored
        let body = try block("function header")
        return Stmt(.def(FunctionDecl(name: name, params: params, body: body, expression: nil, pos: start)), start)
    }

    /// params := [param (',' param)* [',']]; param := NAME ['=' expression]
    mutating func parameters(closing: String) throws -> [ParamDecl] {
        var params: [ParamDecl] = []
        var sawDefault = false
        while !check(closing) {
            let pos = peek.pos
            let name = try expectName("a parameter name")
            if params.contains(where: { $0.name == name }) { throw ParseError(pos: pos, message: "duplicate parameter '\(name)'") }
            if closing == ")" && match(":") { _ = try expression() }  // type annotations are accepted and ignored
            var def: Expr? = nil
            if match("=") { def = try expression(); sawDefault = true }
            else if sawDefault { throw ParseError(pos: pos, message: "parameter '\(name)' without a default follows one with a default") }
            params.append(ParamDecl(name: name, defaultValue: def, pos: pos))
            if !match(",") { break }
        }
        return params
    }
}
