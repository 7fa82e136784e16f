// The one converter between Finch values and FinchSupport's JSON: parse_json and json(), -p values,
// datasets, tracking configs. JSON has no tuples, functions or handles; a dict's non-string keys are
// written as their repr, as json() always has.
#if canImport(FinchSupport)
import FinchSupport
#endif

/// parse_json: lenient (NaN/Infinity as Python writes them, duplicate keys: the last wins).
public func parseJSON(_ text: String) throws -> Value {
    do { return Value(json: try JSON.parse(text, options: .lenient)) } catch let e as JSONError { throw FinchError("JSON: \(e)") }
}

/// Compact JSON (`{"a":1,"b":[1,2]}`), or indented with `indent` spaces.
public func toJSON(_ v: Value, indent: Int? = nil) throws -> String {
    var active: [ObjectIdentifier] = []
    return try jsonFromValue(v, level: 0, active: &active).serialized(indent: indent)
}

extension Value {
    public init(json: JSON) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .float(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(FinchList(a.map(Value.init(json:))))
        case .object(let o): self = .dict(FinchDict(o.map { ($0.0, Value(json: $0.1)) }))
        }
    }

    /// The value as JSON; an error names what has no JSON form (a function, NaN, a value that contains itself).
    public func json() throws -> JSON {
        var active: [ObjectIdentifier] = []
        return try jsonFromValue(self, level: 0, active: &active)
    }
}

private func jsonFromValue(_ v: Value, level: Int, active: inout [ObjectIdentifier]) throws -> JSON {
    if level > maxPrintDepth { throw FinchError("json: value nested more than \(maxPrintDepth) levels deep") }
    var container: ObjectIdentifier? = nil
    if case .list(let l) = v { container = ObjectIdentifier(l) }
    if case .dict(let d) = v { container = ObjectIdentifier(d) }
    if let id = container {
        if active.contains(id) { throw FinchError("json: the value contains itself") }
        active.append(id)
    }
    defer { if container != nil { active.removeLast() } }
    switch v {
    case .none: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .float(let d):
        guard d.isFinite else { throw FinchError("json: \(formatFloat(d)) has no JSON form") }
        return .double(d)
    case .string(let s): return .string(s)
    case .list(let l): return .array(try l.items.map { try jsonFromValue($0, level: level + 1, active: &active) })
    case .dict(let d):
        return .object(try d.pairs.map { k, x in
            let key: String
            switch k { case .string(let s): key = s; default: key = repr(k.value) }
            return (key, try jsonFromValue(x, level: level + 1, active: &active))
        })
    case .object(let o):
        guard let j = o.jsonValue else { throw FinchError("json: \(withArticle(o.typeName)) has no JSON form") }
        return try jsonFromValue(j, level: level + 1, active: &active)
    case .function, .builtin:
        throw FinchError("json: \(withArticle(v.typeName)) has no JSON form")
    }
}
