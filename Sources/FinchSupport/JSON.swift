// The one JSON value of Finch (RFC 8259): datasets, secrets, Hub requests, tokenizer files, safetensors
// headers, configs and the language's json()/parse_json all use it. Object members keep document order
// (dataset columns are shown in file order, written configs are stable). Read with `JSON.parse` (JSONParser.swift),
// written with `serialized` (JSONWriter.swift).

public indirect enum JSON: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in Int.
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Members in document order. A lenient parse keeps duplicate keys (lookups take the last).
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0.utf8.elementsEqual($1.0.utf8) && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member with exactly this key, compared byte for byte (Swift's String equality merges "é" and
    /// "e\u{301}", which are different tokens in a vocabulary); the last one where a lenient parse kept duplicates.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        for (k, v) in members.reversed() where k.utf8.elementsEqual(key.utf8) { return v }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o }; return nil }
    /// A whole number: an int, or a double with no fraction that Int holds exactly (2.0 from Python).
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    /// A non-negative integer as written (no fraction or exponent): byte offsets, sizes.
    public var uint64Value: UInt64? { if case .int(let i) = self, i >= 0 { return UInt64(i) }; return nil }
    public var doubleValue: Double? {
        switch self { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
    }

    /// A short name of the value's type, used in error messages ("expected string, found number").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var description: String { serialized() }

    /// Convenience for building objects in code.
    public static func obj(_ pairs: KeyValuePairs<String, JSON>) -> JSON {
        .object(pairs.map { ($0.key, $0.value) })
    }
}

// Literals, so files Finch writes (adapter_config.json, config.json) read as the JSON they become.
// No nil literal: `json["k"] == nil` must keep meaning "absent".
extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
                ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }

    /// A Float as the shortest decimal that reads back as the same Float (0.05, not 0.05000000074505806).
    public static func float(_ f: Float) -> JSON { .double(Double("\(f)") ?? Double(f)) }
    /// An optional value, null when absent.
    public static func optional(_ v: JSON?) -> JSON { v ?? .null }
}
