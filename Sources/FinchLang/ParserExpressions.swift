// Parser, continued: the expression rules, from the loosest binding (lambda) to atoms.

extension Parser {

    /// exprList := expression (',' expression)* [','] — two or more make a list (Python's tuple).
    mutating func exprList() throws -> Expr {
        let first = try expression()
        guard check(",") else { return first }
        var items = [first]
        while match(",") {
            if peekKind == .newline || peekKind == .eof || check("=") || check(")") || check(";") { break }
            items.append(try expression())
        }
        return Expr(.list(items), first.pos)
    }

    /// expression := lambda | ternary
    public mutating func expression() throws -> Expr {
        try nested(peek.pos) { p in
            if p.checkKeyword("lambda") { return try p.lambda() }
            return try p.ternary()
        }
    }

    /// lambda := 'lambda' params ':' expression
    mutating func lambda() throws -> Expr {
        let start = advance().pos
        let params = try parameters(closing: ":")
        try expect(":", "after lambda parameters")
        let body = try expression()
        return Expr(.lambda(FunctionDecl(name: "<lambda>", params: params, body: [], expression: body, pos: start)), start)
    }

    /// ternary := orExpr ['if' orExpr 'else' expression]
    mutating func ternary() throws -> Expr {
        let value = try orExpr()
        if checkKeyword("if") {
            // In a comprehension `[x for x in xs if c]` the `if` belongs to the comprehension.
            let save = current
            advance()
            let cond = try orExpr()
            if matchKeyword("else") {
                return Expr(.ternary(cond: cond, then: value, else: try expression()), value.pos)
            }
            current = save
        }
        return value
    }

    /// orExpr := andExpr ('or' andExpr)*
    mutating func orExpr() throws -> Expr {
        var left = try andExpr()
        while checkKeyword("or") {
            advance()
            try chained(left.pos)
            left = Expr(.or(left, try andExpr()), left.pos)
        }
        return left
    }

    /// andExpr := notExpr ('and' notExpr)*
    mutating func andExpr() throws -> Expr {
        var left = try notExpr()
        while checkKeyword("and") {
            advance()
            try chained(left.pos)
            left = Expr(.and(left, try notExpr()), left.pos)
        }
        return left
    }

    /// notExpr := 'not' notExpr | comparison
    mutating func notExpr() throws -> Expr {
        if checkKeyword("not") {
            let t = advance()
            return try nested(t.pos) { p in Expr(.unary(.not, try p.notExpr()), t.pos) }
        }
        return try comparison()
    }

    /// comparison := additive (compOp additive)*
    mutating func comparison() throws -> Expr {
        let first = try additive()
        var rest: [(CompareOp, Expr, Pos)] = []
        while true {
            let pos = peek.pos
            let op: CompareOp
            switch peekKind {
            case .op("=="): op = .eq
            case .op("!="): op = .ne
            case .op("<"): op = .lt
            case .op("<="): op = .le
            case .op(">"): op = .gt
            case .op(">="): op = .ge
            case .keyword("in"): op = .isIn
            case .keyword("not") where peekKind(1) == .keyword("in"): advance(); op = .notIn
            case .keyword("is"):
                if peekKind(1) == .keyword("not") { advance(); op = .isNot } else { op = .isSame }
            default: op = .eq
            }
            if case .op(let o) = peekKind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {} else if op == .eq { break }
            advance()
            rest.append((op, try additive(), pos))
        }
        return rest.isEmpty ? first : Expr(.compare(first, rest), first.pos)
    }

    /// additive := term (('+' | '-') term)*
    mutating func additive() throws -> Expr {
        var left = try term()
        while true {
            let op: BinaryOp
            if check("+") { op = .add } else if check("-") { op = .sub } else { break }
            let pos = advance().pos
            try chained(pos)
            left = Expr(.binary(op, left, try term()), pos)
        }
        return left
    }

    /// term := unary (('*' | '/' | '//' | '%') unary)*
    mutating func term() throws -> Expr {
        var left = try unary()
        while true {
            let op: BinaryOp
            if check("*") { op = .mul } else if check("/") { op = .div } else if check("//") { op = .floorDiv } else if check("%") { op = .mod } else { break }
            let pos = advance().pos
            try chained(pos)
            left = Expr(.binary(op, left, try unary()), pos)
        }
        return left
    }

    /// unary := ('-' | '+') unary | power
    mutating func unary() throws -> Expr {
        if check("-") || check("+") {
            let t = advance()
            return try nested(t.pos) { p in
                let operand = try p.unary()
                if t.kind == .op("-") {
                    // Fold negative literals so `-9223372036854775808`-style constants stay exact.
                    if case .literal(.int(let v)) = operand.kind { return Expr(.literal(.int(0 &- v)), t.pos) }
                    if case .literal(.float(let v)) = operand.kind { return Expr(.literal(.float(-v)), t.pos) }
                    return Expr(.unary(.neg, operand), t.pos)
                }
                return Expr(.unary(.pos, operand), t.pos)
            }
        }
        return try power()
    }

    /// power := postfix ['**' unary]
    mutating func power() throws -> Expr {
        let base = try postfix()
        if check("**") {
            let pos = advance().pos
            return try nested(pos) { p in Expr(.binary(.pow, base, try p.unary()), pos) }
        }
        return base
    }

    /// postfix := atom ('(' arguments ')' | '[' subscript ']' | '.' NAME)*
    mutating func postfix() throws -> Expr {
        var e = try atom()
        while true {
            if check("(") || check("[") || check(".") { try chained(peek.pos) }
            if check("(") {
                let pos = advance().pos
                let args = try arguments()
                try expect(")", "to close the call")
                e = Expr(.call(e, args), pos)
            } else if check("[") {
                let pos = advance().pos
                e = try subscriptExpr(e, pos)
                try expect("]", "to close the index")
            } else if check(".") {
                advance()
                let name = try expectName("an attribute name after '.'")
                e = Expr(.attribute(e, name), e.pos)
            } else {
                return e
            }
        }
    }

    /// arguments := [argument (',' argument)* [',']]; argument := NAME '=' expression | expression
    mutating func arguments() throws -> [CallArg] {
        var args: [CallArg] = []
        var sawKeyword = false
        while !check(")") {
            if check("*") || check("**") {
                let star = advance()
                let e = try expression()
                args.append(star.kind == .op("*") ? .unpackList(e) : .unpackDict(e))
                if star.kind == .op("**") { sawKeyword = true }
            } else if case .name(let n) = peekKind, peekKind(1) == .op("=") {
                let pos = advance().pos
                advance()
                if args.contains(where: { if case .keyword(n, _, _) = $0 { return true }; return false }) {
                    throw ParseError(pos: pos, message: "keyword argument '\(n)' repeated")
                }
                args.append(.keyword(n, try expression(), pos))
                sawKeyword = true
            } else {
                let e = try expression()
                if sawKeyword { throw ParseError(pos: e.pos, message: "positional argument follows keyword argument") }
                if checkKeyword("for") {
                    // f(x for x in xs): a generator argument, evaluated as a list.
                    args.append(.positional(Expr(.listComp(e, try comprehensionClauses()), e.pos)))
                } else {
                    args.append(.positional(e))
                }
            }
            if !match(",") { break }
        }
        return args
    }

    /// subscript := expression | [expression] ':' [expression] [':' [expression]]
    mutating func subscriptExpr(_ target: Expr, _ pos: Pos) throws -> Expr {
        var lo: Expr? = nil
        if !check(":") {
            let e = try exprList()
            if !check(":") { return Expr(.index(target, e), pos) }
            lo = e
        }
        try expect(":", "in slice")
        var hi: Expr? = nil, step: Expr? = nil
        if !check("]") && !check(":") { hi = try expression() }
        if match(":") && !check("]") { step = try expression() }
        return Expr(.slice(target, lo, hi, step), pos)
    }

    /// comprehensionClauses := ('for' targetList 'in' orExpr ('if' orExpr)*)+
    mutating func comprehensionClauses() throws -> [Comprehension] {
        var clauses: [Comprehension] = []
        while matchKeyword("for") {
            let target = try targetList()
            guard matchKeyword("in") else { throw ParseError(pos: peek.pos, message: "expected 'in' in comprehension, found \(describe(peek))") }
            let iterable = try orExpr()
            var conds: [Expr] = []
            while matchKeyword("if") { conds.append(try orExpr()) }
            clauses.append(Comprehension(target: target, iterable: iterable, conditions: conds))
        }
        return clauses
    }

    /// atom := NUMBER | STRING+ | FSTRING | NAME | 'true' | 'false' | 'none' | list | dict | '(' [exprList] ')'
    mutating func atom() throws -> Expr {
        let t = peek
        switch t.kind {
        case .int(let v): advance(); return Expr(.literal(.int(v)), t.pos)
        case .float(let v): advance(); return Expr(.literal(.float(v)), t.pos)
        case .string, .fstring: return try strings()
        case .name(let n): advance(); return Expr(.name(n), t.pos)
        case .keyword("true"): advance(); return Expr(.literal(.bool(true)), t.pos)
        case .keyword("false"): advance(); return Expr(.literal(.bool(false)), t.pos)
        case .keyword("none"): advance(); return Expr(.literal(.none), t.pos)
        case .op("("):
            advance()
            if match(")") { return Expr(.list([]), t.pos) }
            let e = try nested(t.pos) { p in try p.exprList() }
            if checkKeyword("for") {
                let clauses = try comprehensionClauses()
                try expect(")", "to close the parenthesis")
                return Expr(.listComp(e, clauses), t.pos)
            }
            try expect(")", "to close the parenthesis")
            return e
        case .op("["): return try listDisplay()
        case .op("{"): return try dictDisplay()
        case .keyword(let k):
            throw ParseError(pos: t.pos, message: "'\(k)' cannot start an expression")
        case .newline, .eof:
            throw ParseError(pos: t.pos, message: "expected an expression, found \(describe(t))")
        default:
            throw ParseError(pos: t.pos, message: "expected an expression, found \(describe(t))")
        }
    }

    /// strings := (STRING | FSTRING)+ — adjacent literals concatenate as in Python.
    mutating func strings() throws -> Expr {
        let start = peek.pos
        var parts: [FPart] = []
        var isFormat = false
        while true {
            switch peekKind {
            case .string(let s): advance(); parts.append(.text(s))
            case .fstring(let pieces):
                advance()
                isFormat = true
                for piece in pieces {
                    switch piece {
                    case .text(let s): parts.append(.text(s))
                    case .expr(let src, let pos, let conv, let spec):
                        var sub = Parser(src, line: Int(pos.line), column: Int(pos.column), fragment: true, depth: depth + 1)
                        do {
                            let e = try sub.expression()
                            if sub.peekKind != .eof {
                                sub.errors.append((sub.peek.pos, "unexpected \(sub.describe(sub.peek)) in f-string expression"))
                            }
                            parts.append(.expr(e, conversion: conv, spec: spec))
                        } catch let e as ParseError {
                            sub.errors.append((e.pos, e.message))
                        }
                        errors += sub.errors
                    }
                }
            default:
                if !isFormat {
                    return Expr(.literal(.string(parts.map { if case .text(let s) = $0 { return s }; return "" }.joined())), start)
                }
                return Expr(.fstring(parts), start)
            }
        }
    }

    /// list := '[' [exprList-items | expression comprehensionClauses] ']'
    mutating func listDisplay() throws -> Expr {
        let start = advance().pos
        return try nested(start) { p in
            var items: [Expr] = []
            while !p.check("]") {
                let e = try p.expression()
                if items.isEmpty && p.checkKeyword("for") {
                    let clauses = try p.comprehensionClauses()
                    try p.expect("]", "to close the list comprehension")
                    return Expr(.listComp(e, clauses), start)
                }
                items.append(e)
                if !p.match(",") { break }
            }
            try p.expect("]", "to close the list opened at line \(start.line)")
            return Expr(.list(items), start)
        }
    }

    /// dict := '{' [expression ':' expression (',' ...)* | expression ':' expression comprehensionClauses] '}'
    mutating func dictDisplay() throws -> Expr {
        let start = advance().pos
        return try nested(start) { p in
            var pairs: [(Expr, Expr)] = []
            while !p.check("}") {
                let k = try p.expression()
                try p.expect(":", "after a dict key")
                let v = try p.expression()
                if pairs.isEmpty && p.checkKeyword("for") {
                    let clauses = try p.comprehensionClauses()
                    try p.expect("}", "to close the dict comprehension")
                    return Expr(.dictComp(k, v, clauses), start)
                }
                pairs.append((k, v))
                if !p.match(",") { break }
            }
            try p.expect("}", "to close the dict opened at line \(start.line)")
            return Expr(.dict(pairs), start)
        }
    }
}
