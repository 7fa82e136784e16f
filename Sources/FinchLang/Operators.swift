import Foundation

// Arithmetic and comparisons with Python's meaning; int overflow is an error, never a wrap or crash.

extension Interpreter {
    func unary(_ op: UnaryOp, _ v: Value) throws -> Value {
        switch (op, v) {
        case (.not, _): return .bool(!v.isTruthy)
        case (.neg, .int(let i)):
            let (r, o) = Int(0).subtractingReportingOverflow(i)
            if o { throw FinchError("integer overflow in -\(i)") }
            return .int(r)
        case (.neg, .float(let d)): return .float(-d)
        case (.neg, .bool(let b)): return .int(b ? -1 : 0)
        case (.pos, .int), (.pos, .float): return v
        default: throw FinchError("bad operand for unary \(op.rawValue): \(v.typeName)")
        }
    }

    func binary(_ op: BinaryOp, _ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case (.int(let x), .int(let y)): return try intOp(op, x, y)
        case (.bool, .int), (.int, .bool), (.bool, .bool):
            return try intOp(op, asInt(a), asInt(b))
        case (.float, .float), (.int, .float), (.float, .int), (.bool, .float), (.float, .bool):
            return try floatOp(op, asDouble(a), asDouble(b))
        case (.string(let x), .string(let y)) where op == .add: return .string(x + y)
        case (.string(let s), .int(let n)) where op == .mul, (.int(let n), .string(let s)) where op == .mul:
            let (size, o) = s.utf8.count.multipliedReportingOverflow(by: max(n, 0))
            guard !o, size <= 100_000_000 else { throw FinchError("string repetition too large (more than 100 MB)") }
            return .string(n <= 0 ? "" : String(repeating: s, count: n))
        case (.list(let x), .list(let y)) where op == .add: return .list(FinchList(x.items + y.items))
        case (.list(let l), .int(let n)) where op == .mul, (.int(let n), .list(let l)) where op == .mul:
            let (size, o) = l.items.count.multipliedReportingOverflow(by: max(n, 0))
            guard !o, size <= 10_000_000 else { throw FinchError("list repetition too large (more than 10,000,000 items)") }
            var out: [Value] = []
            if n > 0 { for _ in 0..<n { out += l.items } }
            return .list(FinchList(out))
        case (.dict(let x), .dict(let y)) where op == .add:
            let d = x.copy()
            for (k, v) in y.pairs { d[k] = v }
            return .dict(d)
        default:
            var msg = "unsupported operand types for \(op.rawValue): \(a.typeName) and \(b.typeName)"
            if op == .add, case .string = a { msg += "; convert with str(x) or use an f-string" }
            else if op == .add, case .string = b { msg += "; convert with str(x) or use an f-string" }
            throw FinchError(msg)
        }
    }

    func asInt(_ v: Value) -> Int {
        switch v { case .int(let i): return i; case .bool(let b): return b ? 1 : 0; default: return 0 }
    }
    func asDouble(_ v: Value) -> Double {
        switch v { case .int(let i): return Double(i); case .float(let d): return d; case .bool(let b): return b ? 1 : 0; default: return 0 }
    }

    func intOp(_ op: BinaryOp, _ x: Int, _ y: Int) throws -> Value {
        func check(_ r: (partialValue: Int, overflow: Bool)) throws -> Value {
            if r.overflow { throw FinchError("integer overflow: \(x) \(op.rawValue) \(y) does not fit in a 64-bit int; use floats (e.g. \(x).0)") }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try check(x.addingReportingOverflow(y))
        case .sub: return try check(x.subtractingReportingOverflow(y))
        case .mul: return try check(x.multipliedReportingOverflow(by: y))
        case .div:
            guard y != 0 else { throw FinchError("division by zero") }
            return .float(Double(x) / Double(y))
        case .floorDiv:
            guard y != 0 else { throw FinchError("integer division by zero") }
            if x == Int.min && y == -1 { throw FinchError("integer overflow in \(x) // \(y)") }
            let q = x / y
            return .int((x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q)
        case .mod:
            guard y != 0 else { throw FinchError("integer modulo by zero") }
            if y == -1 { return .int(0) }
            let r = x % y
            return .int((r != 0 && ((r < 0) != (y < 0))) ? r + y : r)
        case .pow:
            if y < 0 { return .float(Foundation.pow(Double(x), Double(y))) }
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 {
                    let r = result.multipliedReportingOverflow(by: base)
                    if r.overflow { throw FinchError("integer overflow: \(x) ** \(y) does not fit in a 64-bit int; use floats (e.g. \(x).0 ** \(y))") }
                    result = r.partialValue
                }
                e >>= 1
                if e > 0 {
                    let b = base.multipliedReportingOverflow(by: base)
                    if b.overflow { throw FinchError("integer overflow: \(x) ** \(y) does not fit in a 64-bit int; use floats (e.g. \(x).0 ** \(y))") }
                    base = b.partialValue
                }
            }
            return .int(result)
        }
    }

    func floatOp(_ op: BinaryOp, _ x: Double, _ y: Double) throws -> Value {
        switch op {
        case .add: return .float(x + y)
        case .sub: return .float(x - y)
        case .mul: return .float(x * y)
        case .div:
            guard y != 0 else { throw FinchError("division by zero") }
            return .float(x / y)
        case .floorDiv:
            guard y != 0 else { throw FinchError("division by zero") }
            return .float((x / y).rounded(.down))
        case .mod:
            guard y != 0 else { throw FinchError("modulo by zero") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .float((r != 0 && ((r < 0) != (y < 0))) ? r + y : r)
        case .pow: return .float(Foundation.pow(x, y))
        }
    }

    func compare(_ op: CompareOp, _ a: Value, _ b: Value) throws -> Bool {
        switch op {
        case .eq: return try valuesEqual(a, b)
        case .ne: return try !valuesEqual(a, b)
        case .lt: return try valueLess(a, b)
        case .gt: return try valueLess(b, a)
        case .le: return try !valueLess(b, a)
        case .ge: return try !valueLess(a, b)
        case .isIn: return try contains(b, a)
        case .notIn: return try !contains(b, a)
        case .isSame: return try identical(a, b)
        case .isNot: return try !identical(a, b)
        }
    }

    func identical(_ a: Value, _ b: Value) throws -> Bool {
        switch (a, b) {
        case (.list(let x), .list(let y)): return x === y
        case (.dict(let x), .dict(let y)): return x === y
        case (.none, .none): return true
        case (.none, _), (_, .none): return false
        default: return try valuesEqual(a, b)
        }
    }

    func contains(_ container: Value, _ item: Value) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else { throw FinchError("'in <string>' needs a string on the left, got \(item.typeName)") }
            return sub.isEmpty || s[...].range(of: sub) != nil
        case .list(let l):
            for x in l.items where try valuesEqual(x, item) { return true }
            return false
        case .dict(let d):
            guard let k = DictKey(item) else { return false }
            return d[k] != nil
        case .object:
            for x in try iterate(container) where try valuesEqual(x, item) { return true }
            return false
        default:
            throw FinchError("'in' needs a string, list or dict on the right, got \(container.typeName)")
        }
    }
}
