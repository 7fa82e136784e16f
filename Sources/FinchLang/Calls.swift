// Calls: built-ins, Finch functions (binding arguments, growing the call stack), methods and attributes.

extension Interpreter {

    func evalCall(_ calleeExpr: Expr, _ argExprs: [CallArg], _ env: Environment, _ pos: Pos) throws -> Value {
        // Method calls go straight to the receiver without making a bound method.
        if case .attribute(let objExpr, let name) = calleeExpr.kind {
            let obj = try eval(objExpr, env)
            let args = try evalArgs(argExprs, env)
            return try at(pos) { try callMethod(obj, name, args, at: pos) }
        }
        let callee = try eval(calleeExpr, env)
        let args = try evalArgs(argExprs, env)
        return try at(pos) { try call(callee, args, at: pos) }
    }

    func evalArgs(_ argExprs: [CallArg], _ env: Environment) throws -> CallArgs {
        var args = CallArgs()
        for a in argExprs {
            switch a {
            case .positional(let e): args.positional.append(try eval(e, env))
            case .keyword(let k, let e, _): args.keywords.append((k, try eval(e, env)))
            case .unpackList(let e):
                let v = try eval(e, env)
                args.positional += try at(e.pos) { try iterate(v) }
            case .unpackDict(let e):
                guard case .dict(let d) = try eval(e, env) else { throw fail(e.pos, "** needs a dict") }
                for (k, v) in d.pairs {
                    guard case .string(let name) = k else { throw fail(e.pos, "** needs string keys, got \(repr(k.value))") }
                    if args.keywords.contains(where: { $0.0 == name }) { throw fail(e.pos, "keyword argument '\(name)' given twice") }
                    args.keywords.append((name, v))
                }
            }
        }
        return args
    }

    func call(_ callee: Value, _ args: CallArgs, at pos: Pos) throws -> Value {
        switch callee {
        case .builtin(let b):
            return try b.call(args, self)
        case .function(let f):
            return try callFunction(f, args, at: pos)
        case .object(let o) where o.isCallable:
            return try o.call(args, self)
        default:
            throw FinchError("\(withArticle(callee.typeName)) is not callable")
        }
    }

    func callFunction(_ f: FinchFunction, _ args: CallArgs, at callPos: Pos) throws -> Value {
        try checkInterrupt()
        guard callDepth < Interpreter.maxCallDepth else {
            throw FinchError("maximum call depth (\(Interpreter.maxCallDepth)) exceeded in \(f.name)(): is the recursion missing a base case?")
        }
        let scope = Environment(parent: f.closure)
        try bindArguments(f, args, into: scope)
        let callerFile = file
        file = f.source
        callDepth += 1
        defer { file = callerFile; callDepth -= 1 }
        do {
            if let e = f.decl.expression { return try eval(e, scope) }
            if case .returned(let v) = try exec(f.decl.body, scope) { return v }
            return .none
        } catch var e as RuntimeError {
            e.frames.insert(StackFrame(function: f.name, source: e.file.name, line: absoluteLine(e.file, e.pos), column: Int(e.pos.column)), at: 0)
            e.file = callerFile
            e.pos = callPos
            throw e
        }
    }

    func bindArguments(_ f: FinchFunction, _ args: CallArgs, into scope: Environment) throws {
        let params = f.decl.params
        guard args.positional.count <= params.count else {
            throw FinchError("\(f.name)() takes \(params.count) argument\(params.count == 1 ? "" : "s") but \(args.positional.count) were given")
        }
        for (i, v) in args.positional.enumerated() { scope.vars[params[i].name] = v }
        for (k, v) in args.keywords {
            guard params.contains(where: { $0.name == k }) else {
                let hint = suggestion(for: k, among: params.map(\.name))
                throw FinchError("\(f.name)() has no parameter '\(k)'\(hint.map { "; did you mean \($0)?" } ?? "")")
            }
            if scope.vars[k] != nil { throw FinchError("\(f.name)() got argument '\(k)' twice") }
            scope.vars[k] = v
        }
        for (i, p) in params.enumerated() where scope.vars[p.name] == nil {
            guard let d = f.defaults[i] else { throw FinchError("\(f.name)() is missing the required argument '\(p.name)'") }
            scope.vars[p.name] = d
        }
    }

    func callMethod(_ obj: Value, _ name: String, _ args: CallArgs, at pos: Pos) throws -> Value {
        if case .object(let o) = obj {
            if let v = try o.callMethod(name, args, self) { return v }
            if let attr = try o.getAttribute(name, self) { return try call(attr, args, at: pos) }
            throw FinchError(unknownAttribute(obj, name))
        }
        if let m = methodTable(for: obj)?[name] {
            let bound = try Signature(m.params).bind(function: "\(obj.typeName).\(name)", args)
            return try m.impl(obj, bound, self)
        }
        if case .dict(let d) = obj, let v = d[name], isCallable(v) {
            // A dict of functions, used like a namespace.
            return try call(v, args, at: pos)
        }
        throw FinchError(unknownAttribute(obj, name))
    }

    func isCallable(_ v: Value) -> Bool {
        switch v {
        case .function, .builtin: return true
        case .object(let o): return o.isCallable
        default: return false
        }
    }

    func getAttribute(_ obj: Value, _ name: String) throws -> Value {
        if case .object(let o) = obj {
            if let v = try o.getAttribute(name, self) { return v }
            if o.methodNames.contains(name) {
                return .builtin(BuiltinFunction(name: "\(o.typeName).\(name)", params: [.variadic("args"), .keywords("options")], doc: "") { a, ctx in
                    try ctx.callMethod(obj, name, CallArgs(a.rest, keywords: a.extraKeywords), at: .unknown)
                })
            }
            throw FinchError(unknownAttribute(obj, name))
        }
        if let m = methodTable(for: obj)?[name] {
            return .builtin(BuiltinFunction(name: "\(obj.typeName).\(name)", params: m.params, doc: m.doc) { a, ctx in try m.impl(obj, a, ctx) })
        }
        if case .function(let f) = obj, name == "__name__" { return .string(f.name) }
        throw FinchError(unknownAttribute(obj, name))
    }

    func unknownAttribute(_ obj: Value, _ name: String) -> String {
        var candidates: [String] = []
        if case .object(let o) = obj { candidates = o.attributeNames + o.methodNames }
        else if let t = methodTable(for: obj) { candidates = Array(t.keys) }
        var msg = "\(withArticle(obj.typeName)) has no attribute '\(name)'"
        if let s = suggestion(for: name, among: candidates) { msg += "; did you mean \(s)?" }
        if case .dict(let d) = obj, d[name] != nil { msg += " (to read the key, write x[\"\(name)\"])" }
        return msg
    }
}
