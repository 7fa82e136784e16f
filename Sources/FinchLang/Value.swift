// Finch values. Lists and dicts are reference types (like Python); handles from other modules
// (Model, Dataset, …) are FinchObjects.

public enum Value: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list(FinchList)
    case dict(FinchDict)
    case function(FinchFunction)
    case builtin(BuiltinFunction)
    case object(any FinchObject)

    public var typeName: String {
        switch self {
        case .none: return "none"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .function: return "function"
        case .builtin: return "builtin"
        case .object(let o): return o.typeName
        }
    }

    public var isTruthy: Bool {
        switch self {
        case .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.items.isEmpty
        case .dict(let d): return d.count > 0
        case .object(let o): return o.isTruthy
        case .function, .builtin: return true
        }
    }

    public static func list(_ items: [Value]) -> Value { .list(FinchList(items)) }

    public var isNone: Bool { if case .none = self { return true }; return false }
}

public final class FinchList: @unchecked Sendable {
    public var items: [Value]
    public init(_ items: [Value] = []) { self.items = items }
}

/// A dictionary key: Finch allows the immutable scalar values as keys.
public enum DictKey: Hashable, Sendable {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case none

    public init?(_ v: Value) {
        switch v {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .float(let d): self = d == d.rounded() && abs(d) < 9e18 ? .int(Int(d)) : .float(d)
        case .bool(let b): self = .bool(b)
        case .none: self = .none
        default: return nil
        }
    }

    public var value: Value {
        switch self {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .float(let d): return .float(d)
        case .bool(let b): return .bool(b)
        case .none: return .none
        }
    }
}

/// An insertion-ordered dictionary.
public final class FinchDict: @unchecked Sendable {
    public private(set) var keys: [DictKey] = []
    public private(set) var values: [Value] = []
    private var index: [DictKey: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[.string(k)] = v } }

    public var count: Int { keys.count }

    public subscript(key: DictKey) -> Value? {
        get { index[key].map { values[$0] } }
        set {
            if let v = newValue {
                if let at = index[key] { values[at] = v } else { index[key] = keys.count; keys.append(key); values.append(v) }
            } else {
                _ = remove(key)
            }
        }
    }

    public subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    @discardableResult
    public func remove(_ key: DictKey) -> Value? {
        guard let at = index[key] else { return nil }
        let v = values[at]
        keys.remove(at: at)
        values.remove(at: at)
        index.removeValue(forKey: key)
        for j in at..<keys.count { index[keys[j]] = j }
        return v
    }

    public var pairs: Zip2Sequence<[DictKey], [Value]> { zip(keys, values) }

    public func copy() -> FinchDict {
        let d = FinchDict()
        d.keys = keys; d.values = values; d.index = index
        return d
    }
}

/// A function written in Finch (`def` or `lambda`) with the scope it was defined in.
public final class FinchFunction: @unchecked Sendable {
    public let decl: FunctionDecl
    public let defaults: [Value?]
    public let closure: Environment
    public let source: SourceFile
    init(decl: FunctionDecl, defaults: [Value?], closure: Environment, source: SourceFile) {
        self.decl = decl; self.defaults = defaults; self.closure = closure; self.source = source
    }
    public var name: String { decl.name }
}

/// Variables of one scope; function scopes chain to the scope the function was defined in.
public final class Environment: @unchecked Sendable {
    public var vars: [String: Value] = [:]
    public let parent: Environment?
    public init(parent: Environment? = nil) { self.parent = parent }

    public func lookup(_ name: String) -> Value? {
        var env: Environment? = self
        while let e = env {
            if let v = e.vars[name] { return v }
            env = e.parent
        }
        return nil
    }

    /// Every visible name, innermost first (for "did you mean" and completion).
    public var allNames: [String] {
        var out: [String] = []
        var env: Environment? = self
        while let e = env { out += e.vars.keys; env = e.parent }
        return out
    }
}

// MARK: - Equality and ordering with Python's meaning

let maxCompareDepth = 500

public func valuesEqual(_ a: Value, _ b: Value, depth: Int = 0) throws -> Bool {
    if depth > maxCompareDepth { throw FinchError("comparison nested too deeply (more than \(maxCompareDepth) levels)") }
    switch (a, b) {
    case (.none, .none): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    case (.float(let x), .float(let y)): return x == y
    case (.int(let x), .float(let y)): return Double(x) == y
    case (.float(let x), .int(let y)): return x == Double(y)
    case (.bool(let x), .int(let y)), (.int(let y), .bool(let x)): return (x ? 1 : 0) == y
    case (.string(let x), .string(let y)): return x == y
    case (.list(let x), .list(let y)):
        if x === y { return true }
        guard x.items.count == y.items.count else { return false }
        for (p, q) in zip(x.items, y.items) where try !valuesEqual(p, q, depth: depth + 1) { return false }
        return true
    case (.dict(let x), .dict(let y)):
        if x === y { return true }
        guard x.count == y.count else { return false }
        for (k, v) in x.pairs {
            guard let w = y[k], try valuesEqual(v, w, depth: depth + 1) else { return false }
        }
        return true
    case (.function(let x), .function(let y)): return x === y
    case (.builtin(let x), .builtin(let y)): return x === y
    case (.object(let x), .object(let y)): return x === y
    default: return false
    }
}

/// `a < b` for sorting, min and max; only like types compare.
public func valueLess(_ a: Value, _ b: Value, depth: Int = 0) throws -> Bool {
    if depth > maxCompareDepth { throw FinchError("comparison nested too deeply") }
    switch (a, b) {
    case (.int(let x), .int(let y)): return x < y
    case (.float(let x), .float(let y)): return x < y
    case (.int(let x), .float(let y)): return Double(x) < y
    case (.float(let x), .int(let y)): return x < Double(y)
    case (.bool(let x), .bool(let y)): return !x && y
    case (.string(let x), .string(let y)):
        // Code-point order like Python, not Swift's Unicode-canonical order.
        return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
    case (.list(let x), .list(let y)):
        for (p, q) in zip(x.items, y.items) {
            if try valueLess(p, q, depth: depth + 1) { return true }
            if try valueLess(q, p, depth: depth + 1) { return false }
        }
        return x.items.count < y.items.count
    default:
        throw FinchError("cannot compare \(a.typeName) with \(b.typeName)")
    }
}
