// Static checks without running anything (`finch check`): names that are never defined, and keyword
// arguments and arity of calls to built-ins and to functions defined with `def`.

public final class Checker {
    let registry: BuiltinRegistry
    let modules: ModuleLoader
    /// Where `use` looks for a `stdlib/` folder (the notebook's folder; nil: the working directory).
    public var baseDirectory: String?
    /// Names defined so far at top level (grows across cells in order).
    public var globals: Set<String>
    var functions: [String: FunctionDecl] = [:]
    /// Function bodies are checked at the end, against every global the notebook defines.
    var deferred: [(FunctionDecl, [Set<String>], SourceFile)] = []
    var usedModules: Set<String> = []
    public private(set) var diagnostics: [Diagnostic] = []
    var file = SourceFile(name: "", text: "")

    public init(registry: BuiltinRegistry, modules: ModuleLoader = ModuleLoader(), predefined: [String] = []) {
        self.registry = registry
        self.modules = modules
        self.globals = Set(predefined)
    }

    /// Checks one source (a cell); call `finish()` after the last one.
    public func check(_ source: SourceFile) {
        file = source
        do {
            let program = try Parser.parse(source)
            for s in program { stmt(s, scopes: []) }
        } catch let e as SyntaxErrors {
            diagnostics += e.diagnostics
        } catch {
            diagnostics.append(Diagnostic(kind: .syntax, message: "\(error)", file: source, pos: .unknown))
        }
    }

    /// Checks the bodies of functions now that every top-level name is known; returns all diagnostics.
    public func finish() -> [Diagnostic] {
        let pending = deferred
        deferred = []
        for (decl, scopes, source) in pending {
            file = source
            var local = Set(decl.params.map(\.name))
            collectAssigned(decl.body, into: &local)
            let inner = scopes + [local]
            if let e = decl.expression { expr(e, scopes: inner) }
            for s in decl.body { stmt(s, scopes: inner) }
        }
        if !deferred.isEmpty { return finish() }
        return diagnostics
    }

    func report(_ pos: Pos, _ message: String) {
        diagnostics.append(Diagnostic(kind: .runtime, message: message, file: file, pos: pos))
    }

    func isDefined(_ name: String, _ scopes: [Set<String>]) -> Bool {
        globals.contains(name) || registry.lookup(name) != nil || scopes.contains { $0.contains(name) }
    }

    func define(_ name: String, _ scopes: inout [Set<String>]) {
        if scopes.isEmpty { globals.insert(name) } else { scopes[scopes.count - 1].insert(name) }
    }

    func collectAssigned(_ body: [Stmt], into set: inout Set<String>) {
        func target(_ t: Target) {
            switch t {
            case .name(let n, _): set.insert(n)
            case .tuple(let ts, _): ts.forEach(target)
            default: break
            }
        }
        for s in body {
            switch s.kind {
            case .assign(let ts, _): ts.forEach(target)
            case .augAssign(let t, _, _): target(t)
            case .forLoop(let t, _, let b): target(t); collectAssigned(b, into: &set)
            case .whileLoop(_, let b): collectAssigned(b, into: &set)
            case .ifElse(let branches, let e):
                for br in branches { collectAssigned(br.body, into: &set) }
                if let e { collectAssigned(e, into: &set) }
            case .def(let d): set.insert(d.name)
            default: break
            }
        }
    }

    func bind(_ t: Target, _ scopes: inout [Set<String>]) {
        switch t {
        case .name(let n, _): define(n, &scopes)
        case .tuple(let ts, _): for x in ts { bind(x, &scopes) }
        case .index(let o, let i, _): expr(o, scopes: scopes); expr(i, scopes: scopes)
        case .attribute(let o, _, _): expr(o, scopes: scopes)
        }
    }

    func stmt(_ s: Stmt, scopes: [Set<String>]) {
        var scopes = scopes
        switch s.kind {
        case .expr(let e): expr(e, scopes: scopes)
        case .assign(let targets, let value):
            expr(value, scopes: scopes)
            for t in targets { bind(t, &scopes) }
        case .augAssign(let t, _, let value):
            if case .name(let n, let p) = t, !isDefined(n, scopes) { undefined(n, p, scopes) }
            expr(value, scopes: scopes)
            bind(t, &scopes)
        case .ifElse(let branches, let elseBody):
            for b in branches { expr(b.condition, scopes: scopes); for x in b.body { stmt(x, scopes: scopes) } }
            elseBody?.forEach { stmt($0, scopes: scopes) }
        case .whileLoop(let c, let body):
            expr(c, scopes: scopes)
            body.forEach { stmt($0, scopes: scopes) }
        case .forLoop(let t, let iter, let body):
            expr(iter, scopes: scopes)
            bind(t, &scopes)
            body.forEach { stmt($0, scopes: scopes) }
        case .returnValue(let e): if let e { expr(e, scopes: scopes) }
        case .def(let d):
            d.params.compactMap(\.defaultValue).forEach { expr($0, scopes: scopes) }
            define(d.name, &scopes)
            if scopes.isEmpty { functions[d.name] = d }
            deferred.append((d, scopes, file))
        case .use(let name):
            useModule(name, s.pos)
        case .assert(let c, let m):
            expr(c, scopes: scopes)
            if let m { expr(m, scopes: scopes) }
        case .breakLoop, .continueLoop, .pass: break
        }
    }

    func useModule(_ name: String, _ pos: Pos) {
        if usedModules.contains(name) { return }
        usedModules.insert(name)
        do {
            let src = try modules.load(name, base: baseDirectory)
            let program = try Parser.parse(src)
            var names = Set<String>()
            collectAssigned(program, into: &names)
            globals.formUnion(names)
            for s in program { if case .def(let d) = s.kind { functions[d.name] = d } }
        } catch let e as FinchError {
            report(pos, e.message)
        } catch {
            report(pos, "module '\(name)' does not parse: \(error)")
        }
    }

    func undefined(_ n: String, _ pos: Pos, _ scopes: [Set<String>]) {
        let all = Array(globals) + registry.names + scopes.flatMap { $0 }
        report(pos, "name '\(n)' is not defined" + (suggestion(for: n, among: all).map { "; did you mean \($0)?" } ?? ""))
    }

    func expr(_ e: Expr, scopes: [Set<String>]) {
        switch e.kind {
        case .literal: break
        case .name(let n): if !isDefined(n, scopes) { undefined(n, e.pos, scopes) }
        case .fstring(let parts):
            for case .expr(let x, _, _) in parts { expr(x, scopes: scopes) }
        case .list(let items): items.forEach { expr($0, scopes: scopes) }
        case .dict(let pairs): for (k, v) in pairs { expr(k, scopes: scopes); expr(v, scopes: scopes) }
        case .unary(_, let x): expr(x, scopes: scopes)
        case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b), .index(let a, let b):
            expr(a, scopes: scopes); expr(b, scopes: scopes)
        case .compare(let a, let rest): expr(a, scopes: scopes); rest.forEach { expr($0.1, scopes: scopes) }
        case .ternary(let c, let t, let o): expr(c, scopes: scopes); expr(t, scopes: scopes); expr(o, scopes: scopes)
        case .attribute(let o, _): expr(o, scopes: scopes)
        case .slice(let o, let a, let b, let c): expr(o, scopes: scopes); [a, b, c].compactMap { $0 }.forEach { expr($0, scopes: scopes) }
        case .lambda(let d):
            d.params.compactMap(\.defaultValue).forEach { expr($0, scopes: scopes) }
            if let body = d.expression { expr(body, scopes: scopes + [Set(d.params.map(\.name))]) }
        case .listComp(let el, let clauses):
            var inner = scopes + [Set<String>()]
            comprehension(clauses, &inner)
            expr(el, scopes: inner)
        case .dictComp(let k, let v, let clauses):
            var inner = scopes + [Set<String>()]
            comprehension(clauses, &inner)
            expr(k, scopes: inner); expr(v, scopes: inner)
        case .call(let callee, let args):
            expr(callee, scopes: scopes)
            for a in args {
                switch a {
                case .positional(let x): expr(x, scopes: scopes)
                case .keyword(_, let x, _): expr(x, scopes: scopes)
                case .unpackList(let x), .unpackDict(let x): expr(x, scopes: scopes)
                }
            }
            checkCall(callee, args, scopes)
        }
    }

    func comprehension(_ clauses: [Comprehension], _ scopes: inout [Set<String>]) {
        for c in clauses {
            expr(c.iterable, scopes: scopes)
            bind(c.target, &scopes)
            c.conditions.forEach { expr($0, scopes: scopes) }
        }
    }

    /// Keyword names and positional counts against the built-in's or function's signature.
    func checkCall(_ callee: Expr, _ args: [CallArg], _ scopes: [Set<String>]) {
        guard case .name(let n) = callee.kind, !scopes.contains(where: { $0.contains(n) }) else { return }
        // With * or ** the arguments are only known at run time.
        if args.contains(where: { if case .unpackList = $0 { return true }; if case .unpackDict = $0 { return true }; return false }) { return }
        let positional = args.filter { if case .positional = $0 { return true }; return false }.count
        let keywords = args.compactMap { a -> (String, Pos)? in if case .keyword(let k, _, let p) = a { return (k, p) }; return nil }
        if let d = functions[n] {
            let names = d.params.map(\.name)
            if positional > names.count { report(callee.pos, "\(n)() takes \(names.count) argument\(names.count == 1 ? "" : "s") but \(positional) were given") }
            for (k, p) in keywords where !names.contains(k) {
                report(p, "\(n)() has no parameter '\(k)'" + (suggestion(for: k, among: names).map { "; did you mean \($0)?" } ?? ""))
            }
            return
        }
        guard !globals.contains(n), let b = registry.lookup(n) else { return }
        let sig = b.signature
        let takesAnyKeyword = sig.params.contains { $0.kind == .keywords }
        let takesAnyPositional = sig.params.contains { $0.kind == .variadic }
        let maxPositional = sig.params.filter { $0.kind == .positional }.count
        if !takesAnyPositional && positional > maxPositional {
            report(callee.pos, "\(n)() takes at most \(maxPositional) positional argument\(maxPositional == 1 ? "" : "s") but \(positional) were given; signature: \(sig.render(n))")
        }
        if !takesAnyKeyword {
            for (k, p) in keywords where !sig.keywordNames.contains(k) {
                report(p, "\(n)() has no parameter '\(k)'" + (suggestion(for: k, among: sig.keywordNames).map { "; did you mean \($0)?" } ?? "") + "; signature: \(sig.render(n))")
            }
        }
    }
}
