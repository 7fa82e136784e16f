import Foundation

/// A runtime error tied to where it happened, collecting the call stack as it unwinds.
public struct RuntimeError: Error {
    var message: String
    /// Where the error happened (innermost).
    var originFile: SourceFile
    var originPos: Pos
    /// Position in the frame the error is currently unwinding through.
    var file: SourceFile
    var pos: Pos
    /// Outermost first, filled while unwinding.
    var frames: [StackFrame] = []
}

enum Flow {
    case normal
    case breakLoop
    case continueLoop
    case returned(Value)
}

/// The tree-walking interpreter. One instance is one session: its globals persist across `run` calls
/// (cells of a notebook, lines at the REPL).
public final class Interpreter: @unchecked Sendable {
    public let registry: BuiltinRegistry
    public let globals = Environment()
    public var output: OutputSink
    public var modules: ModuleLoader
    /// The folder a notebook's relative paths resolve against (its own folder); nil at the prompt, where they
    /// resolve against the working directory. See Paths.swift.
    public var baseDirectory: String?
    /// Extension point for bindings in other modules (e.g. the notebook runner's memo cache).
    public var userInfo: [String: Any] = [:]
    /// Polled in loops and calls; Ctrl-C sets `Interrupt.shared`.
    public var interruptFlag: InterruptFlag = Interrupt.shared
    /// Python's default recursion limit; the interpreter runs on a 512 MiB stack (`withLargeStack`), so
    /// reaching it is an error, never a crash.
    public static let maxCallDepth = 1000
    var callDepth = 0
    var file: SourceFile = SourceFile(name: "<input>", text: "")
    var loadedModules: Set<String> = []
    var loadingModules: Set<String> = []
    /// A value a built-in has already shown the user (chat's streamed reply, the path save printed):
    /// the REPL does not echo it a second time.
    public var shownResult: Value?

    public init(registry: BuiltinRegistry = .standard(), output: OutputSink = .standard(), modules: ModuleLoader = ModuleLoader()) {
        self.registry = registry
        self.output = output
        self.modules = modules
    }

    // MARK: entry points

    /// Marks `value` as already shown to the user and returns it (for built-ins: `return ctx.shown(v)`).
    public func shown(_ value: Value) -> Value {
        shownResult = value
        return value
    }

    /// Whether `value` is what a built-in already showed (so an echo would repeat it).
    public func resultWasShown(_ value: Value) -> Bool {
        guard let s = shownResult else { return false }
        return (try? valuesEqual(s, value)) ?? false
    }

    /// Parses and runs a source in the global scope. Throws `SyntaxErrors` (every syntax error in the
    /// source), a `Diagnostic` for a runtime error, or `Interrupted`.
    public func run(_ source: SourceFile) throws {
        _ = try runReturningValue(source)
    }

    /// Like `run`; when the last statement is an expression, returns its value (the REPL echoes it).
    @discardableResult
    public func runReturningValue(_ source: SourceFile) throws -> Value? {
        try onLargeStack {
            let program = try Parser.parse(source)
            return try self.execute(program, in: source)
        }
    }

    /// Runs parsed statements in the global scope.
    public func execute(_ program: [Stmt], in source: SourceFile) throws -> Value? {
        let saved = file
        file = source
        defer { file = saved }
        do {
            var last: Value? = nil
            for (i, stmt) in program.enumerated() {
                if i == program.count - 1, case .expr(let e) = stmt.kind {
                    last = try eval(e, globals)
                } else {
                    _ = try exec(stmt, globals)
                }
            }
            return last
        } catch let e as RuntimeError {
            var frames = e.frames
            if !frames.isEmpty {
                frames.insert(StackFrame(function: source.name.hasPrefix("<") ? source.name : "<\(source.name)>", source: source.name, line: absoluteLine(source, e.pos), column: Int(e.pos.column)), at: 0)
            }
            throw Diagnostic(kind: .runtime, message: e.message, file: e.originFile, pos: e.originPos, stack: frames)
        } catch let e as FinchError {
            // Every statement path attaches a position; this is a safety net, not the usual route.
            throw Diagnostic(kind: .runtime, message: e.message, file: source, pos: .unknown)
        }
    }

    /// Calls a Finch callable from Swift (built-ins like `map(fn)` or `dataset.filter(fn)`).
    public func call(_ callee: Value, _ args: [Value], keywords: [(String, Value)] = []) throws -> Value {
        try call(callee, CallArgs(args, keywords: keywords), at: .unknown)
    }

    /// Runs `body` on a thread with a large stack so deep (but bounded) recursion cannot overflow.
    public func onLargeStack<T>(_ body: @escaping () throws -> T) throws -> T { try withLargeStack(body) }

    func absoluteLine(_ f: SourceFile, _ p: Pos) -> Int { Int(p.line) + f.firstLine - 1 }

    /// Runs `body`, turning a position-less FinchError into a RuntimeError at `pos`.
    @inline(__always)
    func at<T>(_ pos: Pos, _ body: () throws -> T) throws -> T {
        do { return try body() }
        catch let e as FinchError { throw RuntimeError(message: e.message, originFile: file, originPos: pos, file: file, pos: pos) }
    }

    func fail(_ pos: Pos, _ message: String) -> RuntimeError {
        RuntimeError(message: message, originFile: file, originPos: pos, file: file, pos: pos)
    }

    // MARK: statements

    func exec(_ block: [Stmt], _ env: Environment) throws -> Flow {
        for stmt in block {
            let flow = try exec(stmt, env)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    func exec(_ stmt: Stmt, _ env: Environment) throws -> Flow {
        switch stmt.kind {
        case .expr(let e):
            _ = try eval(e, env)
        case .assign(let targets, let valueExpr):
            let v = try eval(valueExpr, env)
            for t in targets { try assign(t, v, env) }
        case .augAssign(let target, let op, let valueExpr):
            try augAssign(target, op, valueExpr, env, stmt.pos)
        case .ifElse(let branches, let elseBody):
            for b in branches where try eval(b.condition, env).isTruthy {
                return try exec(b.body, env)
            }
            if let e = elseBody { return try exec(e, env) }
        case .whileLoop(let cond, let body):
            while try eval(cond, env).isTruthy {
                try checkInterrupt()
                switch try exec(body, env) {
                case .breakLoop: return .normal
                case .returned(let v): return .returned(v)
                default: continue
                }
            }
        case .forLoop(let target, let iterExpr, let body):
            let items = try at(iterExpr.pos) { try iterate(try eval(iterExpr, env)) }
            for item in items {
                try checkInterrupt()
                try assign(target, item, env)
                switch try exec(body, env) {
                case .breakLoop: return .normal
                case .returned(let v): return .returned(v)
                default: continue
                }
            }
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        case .pass: break
        case .returnValue(let e):
            return .returned(try e.map { try eval($0, env) } ?? .none)
        case .def(let decl):
            env.vars[decl.name] = .function(try makeFunction(decl, env))
        case .use(let name):
            try at(stmt.pos) { try use(name) }
        case .assert(let cond, let message):
            if !(try eval(cond, env).isTruthy) {
                throw fail(cond.pos, "assertion failed" + (try message.map { ": " + str(try eval($0, env)) } ?? ""))
            }
        }
        return .normal
    }

    @inline(__always)
    func checkInterrupt() throws { try interruptFlag.check() }

    func makeFunction(_ decl: FunctionDecl, _ env: Environment) throws -> FinchFunction {
        let defaults = try decl.params.map { p in try p.defaultValue.map { try eval($0, env) } }
        return FinchFunction(decl: decl, defaults: defaults, closure: env, source: file)
    }

    /// `use "name"`: runs stdlib/name.fin once into the global scope.
    public func use(_ name: String) throws {
        if loadedModules.contains(name) { return }
        if loadingModules.contains(name) { throw FinchError("module '\(name)' uses itself (circular use)") }
        let source = try modules.load(name, base: baseDirectory)
        loadingModules.insert(name)
        defer { loadingModules.remove(name) }
        let program: [Stmt]
        do { program = try Parser.parse(source) }
        catch let e as SyntaxErrors { throw FinchError("module '\(name)' has syntax errors:\n" + e.description) }
        let saved = file
        file = source
        defer { file = saved }
        for stmt in program { _ = try exec(stmt, globals) }
        loadedModules.insert(name)
    }

    // MARK: assignment

    func assign(_ target: Target, _ value: Value, _ env: Environment) throws {
        switch target {
        case .name(let n, _):
            env.vars[n] = value
        case .index(let objExpr, let idxExpr, let pos):
            let obj = try eval(objExpr, env)
            let idx = try eval(idxExpr, env)
            try at(pos) { try setItem(obj, idx, value) }
        case .attribute(let objExpr, let name, let pos):
            let obj = try eval(objExpr, env)
            try at(pos) {
                if case .object(let o) = obj, try o.setAttribute(name, value, self) { return }
                throw FinchError("cannot set attribute '\(name)' on \(withArticle(obj.typeName))")
            }
        case .tuple(let targets, let pos):
            let items = try at(pos) { try iterate(value) }
            guard items.count == targets.count else {
                throw fail(pos, "cannot unpack \(items.count) value\(items.count == 1 ? "" : "s") into \(targets.count) names")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, env) }
        }
    }

    func augAssign(_ target: Target, _ op: BinaryOp, _ valueExpr: Expr, _ env: Environment, _ pos: Pos) throws {
        switch target {
        case .name(let n, let p):
            guard let old = env.lookup(n) else { throw fail(p, undefinedNameMessage(n, env)) }
            let rhs = try eval(valueExpr, env)
            // `xs += ys` extends the list in place, like Python.
            if op == .add, case .list(let l) = old, case .list(let r) = rhs { l.items += r.items; env.vars[n] = old; return }
            env.vars[n] = try at(pos) { try binary(op, old, rhs) }
        case .index(let objExpr, let idxExpr, let p):
            let obj = try eval(objExpr, env)
            let idx = try eval(idxExpr, env)
            let old = try at(p) { try getItem(obj, idx) }
            let rhs = try eval(valueExpr, env)
            try at(p) { try setItem(obj, idx, try binary(op, old, rhs)) }
        case .attribute(let objExpr, let name, let p):
            let obj = try eval(objExpr, env)
            let old = try at(p) { try getAttribute(obj, name) }
            let rhs = try eval(valueExpr, env)
            try at(p) {
                let v = try binary(op, old, rhs)
                if case .object(let o) = obj, try o.setAttribute(name, v, self) { return }
                throw FinchError("cannot set attribute '\(name)' on \(withArticle(obj.typeName))")
            }
        case .tuple(_, let p):
            throw fail(p, "augmented assignment needs a single target")
        }
    }

    // MARK: expressions

    func eval(_ e: Expr, _ env: Environment) throws -> Value {
        switch e.kind {
        case .literal(let v):
            return v
        case .name(let n):
            if let v = env.lookup(n) { return v }
            if let b = registry.lookup(n) { return .builtin(b) }
            throw fail(e.pos, undefinedNameMessage(n, env))
        case .fstring(let parts):
            var out = ""
            for part in parts {
                switch part {
                case .text(let s): out += s
                case .expr(let inner, let conv, let spec):
                    var v = try eval(inner, env)
                    if conv == "r" || conv == "a" { v = .string(repr(v)) } else if conv == "s" { v = .string(str(v)) }
                    out += try at(inner.pos) { try formatValue(v, spec: spec) }
                }
            }
            return .string(out)
        case .list(let items):
            return .list(FinchList(try items.map { try eval($0, env) }))
        case .dict(let pairs):
            let d = FinchDict()
            for (k, v) in pairs {
                let key = try eval(k, env)
                guard let dk = DictKey(key) else { throw fail(k.pos, "\(withArticle(key.typeName)) cannot be a dict key (use a string, number or bool)") }
                d[dk] = try eval(v, env)
            }
            return .dict(d)
        case .unary(let op, let operand):
            let v = try eval(operand, env)
            return try at(e.pos) { try unary(op, v) }
        case .binary(let op, let l, let r):
            let a = try eval(l, env)
            let b = try eval(r, env)
            return try at(e.pos) { try binary(op, a, b) }
        case .and(let l, let r):
            let a = try eval(l, env)
            return a.isTruthy ? try eval(r, env) : a
        case .or(let l, let r):
            let a = try eval(l, env)
            return a.isTruthy ? a : try eval(r, env)
        case .compare(let first, let rest):
            var left = try eval(first, env)
            for (op, rhsExpr, pos) in rest {
                let right = try eval(rhsExpr, env)
                guard try at(pos, { try compare(op, left, right) }) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .ternary(let cond, let then, let other):
            return try eval(cond, env).isTruthy ? try eval(then, env) : try eval(other, env)
        case .call(let calleeExpr, let argExprs):
            return try evalCall(calleeExpr, argExprs, env, e.pos)
        case .attribute(let objExpr, let name):
            let obj = try eval(objExpr, env)
            return try at(e.pos) { try getAttribute(obj, name) }
        case .index(let objExpr, let idxExpr):
            let obj = try eval(objExpr, env)
            let idx = try eval(idxExpr, env)
            return try at(e.pos) { try getItem(obj, idx) }
        case .slice(let objExpr, let lo, let hi, let step):
            let obj = try eval(objExpr, env)
            let l = try lo.map { try eval($0, env) } ?? .none
            let h = try hi.map { try eval($0, env) } ?? .none
            let s = try step.map { try eval($0, env) } ?? .none
            return try at(e.pos) { try slice(obj, l, h, s) }
        case .lambda(let decl):
            return .function(try makeFunction(decl, env))
        case .listComp(let element, let clauses):
            var out: [Value] = []
            try comprehend(clauses, 0, Environment(parent: env)) { scope in out.append(try self.eval(element, scope)) }
            return .list(FinchList(out))
        case .dictComp(let keyExpr, let valueExpr, let clauses):
            let d = FinchDict()
            try comprehend(clauses, 0, Environment(parent: env)) { scope in
                let k = try self.eval(keyExpr, scope)
                guard let dk = DictKey(k) else { throw self.fail(keyExpr.pos, "\(withArticle(k.typeName)) cannot be a dict key") }
                d[dk] = try self.eval(valueExpr, scope)
            }
            return .dict(d)
        }
    }

    func comprehend(_ clauses: [Comprehension], _ i: Int, _ scope: Environment, _ body: (Environment) throws -> Void) throws {
        if i == clauses.count { try body(scope); return }
        let c = clauses[i]
        let items = try at(c.iterable.pos) { try iterate(try eval(c.iterable, scope)) }
        outer: for item in items {
            try checkInterrupt()
            try assign(c.target, item, scope)
            for cond in c.conditions where !(try eval(cond, scope).isTruthy) { continue outer }
            try comprehend(clauses, i + 1, scope, body)
        }
    }

    func undefinedNameMessage(_ n: String, _ env: Environment) -> String {
        let candidates = env.allNames + registry.names
        if let s = suggestion(for: n, among: candidates) { return "name '\(n)' is not defined; did you mean \(s)?" }
        return "name '\(n)' is not defined"
    }
}

/// Runs `body` on a thread with a 512 MB stack (reserved, not committed) so the deepest trees the parser
/// accepts can be walked recursively. Already on such a thread, runs it directly.
public func withLargeStack<T>(_ body: @escaping () throws -> T) throws -> T {
    // A thread-dictionary mark, not the name: on Linux `Thread.current.name` reads the pthread name,
    // which a name set before `start()` never becomes, so nested calls each made a new thread.
    if Thread.current.threadDictionary[largeStackThreadName] != nil { return try body() }
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        Thread.current.threadDictionary[largeStackThreadName] = true
        // Ctrl-C goes to the waiting thread (the REPL's or main), never this one; we poll the flag.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        box.result = Result { try body() }
        done.signal()
    }
    thread.name = largeStackThreadName
    thread.stackSize = 512 << 20
    thread.start()
    done.wait()
    return try box.result!.get()
}

let largeStackThreadName = "finch-interpreter"

final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }
