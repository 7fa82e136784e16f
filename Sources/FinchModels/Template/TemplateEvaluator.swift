import Foundation

/// Renders parsed nodes. Sandboxed: no file, process or attribute access beyond template values; loop
/// iterations, output size and call depth are bounded.
final class TemplateEvaluator {
    struct Limits {
        var maxIterations = 1_000_000
        var maxOutputBytes = 16 << 20
        var maxCallDepth = 64
    }

    private var scopes: [[String: TemplateValue]]
    private var output = ""
    private var outputBytes = 0
    private var iterations = 0
    private var callDepth = 0
    private let limits: Limits
    private var macros: [String: (params: [(String, Expr?)], body: [Node])] = [:]
    private var line = 0

    init(globals: [String: TemplateValue], limits: Limits) {
        scopes = [globals]
        self.limits = limits
    }

    func render(_ nodes: [Node]) throws -> String {
        try execute(nodes)
        return output
    }

    // MARK: - Statements

    private func emit(_ s: String) throws {
        outputBytes += s.utf8.count
        guard outputBytes <= limits.maxOutputBytes else {
            throw TemplateError.limitExceeded("output larger than \(limits.maxOutputBytes) bytes")
        }
        output += s
    }

    private func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    private func assign(_ name: String, _ value: TemplateValue) {
        scopes[scopes.count - 1][name] = value
    }

    private func execute(_ nodes: [Node]) throws {
        for node in nodes {
            switch node {
            case .text(let t):
                try emit(t)
            case let .output(expr, line):
                self.line = line
                try emit(try str(try eval(expr)))
            case let .ifChain(branches, otherwise, line):
                self.line = line
                var taken = false
                for (cond, body) in branches where try eval(cond).isTruthy {
                    try execute(body)
                    taken = true
                    break
                }
                if !taken { try execute(otherwise) }
            case let .forLoop(targets, iterable, filter, body, otherwise, line):
                self.line = line
                try runFor(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
            case let .set(target, attribute, expr, line):
                self.line = line
                let value = try eval(expr)
                if let attribute {
                    guard case .namespace(let ns) = lookup(target) else {
                        throw TemplateError.runtime(line: line, message: "cannot set attribute \(attribute) on \(target): it is not a namespace")
                    }
                    ns.values[attribute] = value
                } else {
                    assign(target, value)
                }
            case let .setBlock(target, body, _):
                let saved = output
                output = ""
                try execute(body)
                let captured = output
                output = saved
                assign(target, .string(captured))
            case let .macro(name, params, body):
                macros[name] = (params, body)
                assign(name, .function(TemplateFunction(name: name) { _, _ in .none }))  // marks it defined
            }
        }
    }

    private func runFor(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node]) throws {
        var items: [TemplateValue]
        switch try eval(iterable) {
        case .array(let a): items = a
        case .object(let o): items = o.keys.map { .string($0) }
        case .string(let s): items = s.map { .string(String($0)) }
        case .undefined, .none: items = []
        case let other: throw TemplateError.runtime(line: line, message: "cannot loop over a \(other.typeName)")
        }
        if let filter {
            items = try items.filter { item in
                scopes.append([:])
                defer { scopes.removeLast() }
                try bind(targets, item)
                return try eval(filter).isTruthy
            }
        }
        if items.isEmpty { try execute(otherwise); return }
        let n = items.count
        for (k, item) in items.enumerated() {
            iterations += 1
            guard iterations <= limits.maxIterations else {
                throw TemplateError.limitExceeded("more than \(limits.maxIterations) loop iterations")
            }
            var loop = TemplateObject()
            loop["index"] = .int(k + 1)
            loop["index0"] = .int(k)
            loop["revindex"] = .int(n - k)
            loop["revindex0"] = .int(n - k - 1)
            loop["first"] = .bool(k == 0)
            loop["last"] = .bool(k == n - 1)
            loop["length"] = .int(n)
            loop["previtem"] = k > 0 ? items[k - 1] : .undefined
            loop["nextitem"] = k + 1 < n ? items[k + 1] : .undefined
            scopes.append(["loop": .object(loop)])
            defer { scopes.removeLast() }
            try bind(targets, item)
            try execute(body)
        }
    }

    private func bind(_ targets: [String], _ item: TemplateValue) throws {
        if targets.count == 1 { assign(targets[0], item); return }
        guard case .array(let parts) = item, parts.count == targets.count else {
            throw TemplateError.runtime(line: line, message: "cannot unpack \(item.typeName) into \(targets.count) names")
        }
        for (t, v) in zip(targets, parts) { assign(t, v) }
    }

    // MARK: - Expressions

    func eval(_ e: Expr) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map(eval))
        case .dict(let pairs):
            var o = TemplateObject()
            for (k, v) in pairs {
                guard case .string(let key) = try eval(k) else {
                    throw TemplateError.runtime(line: line, message: "dictionary keys must be strings")
                }
                o[key] = try eval(v)
            }
            return .object(o)
        case let .attribute(base, name):
            return try attribute(try eval(base), name)
        case let .index(base, index):
            return try subscriptValue(try eval(base), try eval(index))
        case let .slice(base, start, stop, step):
            return try slice(try eval(base), start.map(eval), stop.map(eval), step.map(eval))
        case let .call(callee, args, kwargs):
            if case .name(let n) = callee, let m = macros[n] {
                return try callMacro(m, try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
            }
            let f = try eval(callee)
            guard case .function(let fn) = f else {
                throw TemplateError.runtime(line: line, message: "\(describe(callee)) is not callable (\(f.typeName))")
            }
            do {
                return try fn.call(try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
            } catch let BuiltinFailure.message(m) {
                throw TemplateError.runtime(line: line, message: m)
            }
        case let .filter(base, name, args, kwargs):
            do {
                return try TemplateBuiltins.filter(name, try eval(base), try args.map(eval),
                                                   try kwargs.map { ($0.0, try eval($0.1)) }, self)
            } catch let BuiltinFailure.message(m) {
                throw TemplateError.runtime(line: line, message: m)
            }
        case let .test(base, name, args, negated):
            do {
                let r = try TemplateBuiltins.test(name, try eval(base), try args.map(eval))
                return .bool(negated ? !r : r)
            } catch let BuiltinFailure.message(m) {
                throw TemplateError.runtime(line: line, message: m)
            }
        case let .unary(op, x):
            let v = try eval(x)
            if op == "not" { return .bool(!v.isTruthy) }
            switch v {
            case .int(let n): return .int(0 &- n)
            case .double(let d): return .double(-d)
            default: throw TemplateError.runtime(line: line, message: "bad operand for unary -: \(v.typeName)")
            }
        case let .and(a, b):
            let x = try eval(a)
            return x.isTruthy ? try eval(b) : x
        case let .or(a, b):
            let x = try eval(a)
            return x.isTruthy ? x : try eval(b)
        case let .conditional(value, cond, otherwise):
            if try eval(cond).isTruthy { return try eval(value) }
            return try otherwise.map(eval) ?? .undefined
        case let .binary(op, a, b):
            return try binary(op, try eval(a), try eval(b))
        }
    }

    private func describe(_ e: Expr) -> String {
        switch e {
        case .name(let n): return n
        case .attribute(let b, let n): return describe(b) + "." + n
        default: return "expression"
        }
    }

    private func callMacro(_ m: (params: [(String, Expr?)], body: [Node]), _ args: [TemplateValue],
                           _ kwargs: [(String, TemplateValue)]) throws -> TemplateValue {
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= limits.maxCallDepth else { throw TemplateError.limitExceeded("macro calls nested more than \(limits.maxCallDepth) deep") }
        var frame: [String: TemplateValue] = [:]
        for (k, (name, dflt)) in m.params.enumerated() {
            if k < args.count { frame[name] = args[k] }
            else if let kv = kwargs.first(where: { $0.0 == name }) { frame[name] = kv.1 }
            else if let dflt { frame[name] = try eval(dflt) }
            else { frame[name] = .undefined }
        }
        let saved = output
        output = ""
        scopes.append(frame)
        defer { scopes.removeLast() }
        try execute(m.body)
        let result = output
        output = saved
        return .string(result)
    }

    func attribute(_ base: TemplateValue, _ name: String) throws -> TemplateValue {
        switch base {
        case .object(let o):
            if let v = o[name] { return v }
            return TemplateBuiltins.method(base, name) ?? .undefined
        case .namespace(let ns):
            return ns.values[name] ?? .undefined
        case .undefined:
            throw TemplateError.runtime(line: line, message: "undefined value has no attribute \"\(name)\"")
        default:
            return TemplateBuiltins.method(base, name) ?? .undefined
        }
    }

    private func subscriptValue(_ base: TemplateValue, _ index: TemplateValue) throws -> TemplateValue {
        switch (base, index) {
        case let (.array(a), .int(k)):
            let j = k < 0 ? a.count + k : k
            return j >= 0 && j < a.count ? a[j] : .undefined
        case let (.string(s), .int(k)):
            let chars = Array(s)
            let j = k < 0 ? chars.count + k : k
            return j >= 0 && j < chars.count ? .string(String(chars[j])) : .undefined
        case let (.object(o), .string(k)):
            return o[k] ?? .undefined
        case let (.namespace(ns), .string(k)):
            return ns.values[k] ?? .undefined
        case (.undefined, _):
            throw TemplateError.runtime(line: line, message: "undefined value is not subscriptable")
        case (.object, _), (.array, _), (.string, _):
            return .undefined
        default:
            throw TemplateError.runtime(line: line, message: "\(base.typeName) is not subscriptable")
        }
    }

    private func slice(_ base: TemplateValue, _ start: TemplateValue?, _ stop: TemplateValue?, _ step: TemplateValue?) throws -> TemplateValue {
        func int(_ v: TemplateValue?) throws -> Int? {
            guard let v, v != .none else { return nil }
            guard case .int(let n) = v else { throw TemplateError.runtime(line: line, message: "slice indices must be integers") }
            return n
        }
        let st = try int(step) ?? 1
        guard st != 0 else { throw TemplateError.runtime(line: line, message: "slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            // Python's slice.indices.
            func clamp(_ v: Int?, _ dflt: Int) -> Int {
                guard var x = v else { return dflt }
                if x < 0 { x += n }
                if st > 0 { return min(max(x, 0), n) }
                return min(max(x, -1), n - 1)
            }
            let a = clamp(try int(start), st > 0 ? 0 : n - 1)
            let b = clamp(try int(stop), st > 0 ? n : -1)
            var out: [Int] = []
            var k = a
            while st > 0 ? k < b : k > b {
                out.append(k)
                let (next, overflow) = k.addingReportingOverflow(st)
                if overflow { break }
                k = next
            }
            return out
        }
        switch base {
        case .array(let a): return .array(try indices(a.count).map { a[$0] })
        case .string(let s):
            let chars = Array(s)
            return .string(String(try indices(chars.count).map { chars[$0] }))
        default: throw TemplateError.runtime(line: line, message: "\(base.typeName) cannot be sliced")
        }
    }

    private func number(_ v: TemplateValue) -> Double? {
        switch v {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        func fail() -> TemplateError {
            .runtime(line: line, message: "unsupported operand types for \(op): \(a.typeName) and \(b.typeName)")
        }
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "<", "<=", ">", ">=":
            let c: Int
            if let x = number(a), let y = number(b) { c = x < y ? -1 : x > y ? 1 : 0 }
            else if case .string(let x) = a, case .string(let y) = b {
                c = x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : x == y ? 0 : 1
            } else { throw fail() }
            switch op {
            case "<": return .bool(c < 0)
            case "<=": return .bool(c <= 0)
            case ">": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case "in", "not in":
            let r: Bool
            switch b {
            case .string(let s):
                guard case .string(let x) = a else { throw fail() }
                r = x.isEmpty || s.contains(x)
            case .array(let arr): r = arr.contains(a)
            case .object(let o):
                if case .string(let k) = a { r = o[k] != nil } else { r = false }
            case .undefined: r = false
            default: throw fail()
            }
            return .bool(op == "in" ? r : !r)
        case "~":
            return .string(try str(a) + str(b))
        case "+":
            switch (a, b) {
            case let (.string(x), .string(y)): return .string(x + y)
            case let (.array(x), .array(y)): return .array(x + y)
            case let (.int(x), .int(y)):
                let (r, o) = x.addingReportingOverflow(y)
                return o ? .double(Double(x) + Double(y)) : .int(r)
            default:
                guard let x = number(a), let y = number(b), !(a.isBoolOrString || b.isBoolOrString) else { throw fail() }
                return .double(x + y)
            }
        case "-", "*", "/", "//", "%", "**":
            if op == "*", case .string(let s) = a, case .int(let n) = b {
                guard n <= 0 || s.utf8.count * n <= limits.maxOutputBytes else { throw TemplateError.limitExceeded("string repetition too large") }
                return .string(n > 0 ? String(repeating: s, count: n) : "")
            }
            if case .int(let x) = a, case .int(let y) = b, op != "/" {
                switch op {
                case "-": let (r, o) = x.subtractingReportingOverflow(y); if !o { return .int(r) }
                case "*": let (r, o) = x.multipliedReportingOverflow(by: y); if !o { return .int(r) }
                case "//":
                    guard y != 0 else { throw TemplateError.runtime(line: line, message: "integer division by zero") }
                    if x == Int.min && y == -1 { return .double(-Double(x)) }
                    let q = x / y
                    return .int((x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q)
                case "%":
                    guard y != 0 else { throw TemplateError.runtime(line: line, message: "integer modulo by zero") }
                    if y == -1 { return .int(0) }
                    let m = x % y
                    return .int(m != 0 && ((m < 0) != (y < 0)) ? m + y : m)
                default:
                    if y >= 0 && y < 64 {
                        var r = 1, overflow = false
                        for _ in 0..<y { let (p, o) = r.multipliedReportingOverflow(by: x); r = p; overflow = overflow || o }
                        if !overflow { return .int(r) }
                    }
                }
            }
            guard let x = number(a), let y = number(b), !a.isBoolOrString, !b.isBoolOrString else { throw fail() }
            switch op {
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw TemplateError.runtime(line: line, message: "division by zero") }
                return .double(x / y)
            case "//":
                guard y != 0 else { throw TemplateError.runtime(line: line, message: "division by zero") }
                return .double((x / y).rounded(.down))
            case "%":
                guard y != 0 else { throw TemplateError.runtime(line: line, message: "modulo by zero") }
                let m = x.truncatingRemainder(dividingBy: y)
                return .double(m != 0 && ((m < 0) != (y < 0)) ? m + y : m)
            default: return .double(pow(x, y))
            }
        default:
            throw fail()
        }
    }

    /// Python's `str()` of a value, as Jinja prints it.
    func str(_ v: TemplateValue) throws -> String {
        switch v {
        case .undefined: return ""
        case .string(let s): return s
        default: return TemplateBuiltins.repr(v, top: true)
        }
    }
}

extension TemplateValue {
    var isBoolOrString: Bool {
        switch self {
        case .bool, .string: return true
        default: return false
        }
    }
}

enum BuiltinFailure: Error { case message(String) }
