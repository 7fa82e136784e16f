// The built-in registry: every built-in's name, parameters, one-line doc and implementation in one
// place. Arity and keyword checks, `help(name)`, `:help name`, `finch check` and completion all read it.

/// One declared parameter of a built-in or method.
public struct Param: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Positional or keyword (`f(x)` or `f(source=x)`).
        case positional
        /// Keyword only (`quantize="q4_0"`).
        case keyword
        /// `*values`: collects remaining positional arguments.
        case variadic
        /// `**options`: collects unknown keyword arguments.
        case keywords
    }
    public var name: String
    public var kind: Kind
    /// nil means required.
    public var defaultValue: Value?

    public static func positional(_ name: String) -> Param { Param(name: name, kind: .positional, defaultValue: nil) }
    public static func positional(_ name: String, default value: Value) -> Param { Param(name: name, kind: .positional, defaultValue: value) }
    public static func keyword(_ name: String) -> Param { Param(name: name, kind: .keyword, defaultValue: nil) }
    public static func keyword(_ name: String, default value: Value) -> Param { Param(name: name, kind: .keyword, defaultValue: value) }
    public static func variadic(_ name: String) -> Param { Param(name: name, kind: .variadic, defaultValue: nil) }
    public static func keywords(_ name: String) -> Param { Param(name: name, kind: .keywords, defaultValue: nil) }

    var rendered: String {
        switch kind {
        case .variadic: return "*" + name
        case .keywords: return "**" + name
        default: return defaultValue.map { "\(name)=\(repr($0))" } ?? name
        }
    }
}

/// Arguments as written at a call site, before binding to parameters.
public struct CallArgs: Sendable {
    public var positional: [Value]
    public var keywords: [(String, Value)]
    public init(_ positional: [Value] = [], keywords: [(String, Value)] = []) {
        self.positional = positional; self.keywords = keywords
    }
}

/// A parameter list that binds call arguments, with Python's rules and Finch's error messages.
public struct Signature: Sendable {
    public var params: [Param]
    public init(_ params: [Param]) { self.params = params }

    /// "load_model(source=none, *, quantize=none)".
    public func render(_ name: String) -> String {
        var parts: [String] = []
        var starred = false
        for p in params {
            if p.kind == .variadic { starred = true }
            if p.kind == .keyword && !starred { parts.append("*"); starred = true }
            parts.append(p.rendered)
        }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    public var keywordNames: [String] { params.filter { $0.kind == .positional || $0.kind == .keyword }.map(\.name) }

    public func bind(function: String, _ call: CallArgs) throws -> Arguments {
        var values: [String: Value] = [:]
        var rest: [Value] = []
        var extra: [(String, Value)] = []
        let positionalParams = params.filter { $0.kind == .positional }
        let hasVariadic = params.contains { $0.kind == .variadic }
        let hasKeywords = params.contains { $0.kind == .keywords }
        for (i, v) in call.positional.enumerated() {
            if i < positionalParams.count { values[positionalParams[i].name] = v }
            else if hasVariadic { rest.append(v) }
            else {
                let n = positionalParams.count
                throw FinchError("\(function)() takes \(n == 0 ? "no" : "at most \(n)") positional argument\(n == 1 ? "" : "s") but \(call.positional.count) were given; signature: \(render(function))")
            }
        }
        for (k, v) in call.keywords {
            if let p = params.first(where: { $0.name == k && ($0.kind == .positional || $0.kind == .keyword) }) {
                if values[p.name] != nil { throw FinchError("\(function)() got argument '\(k)' twice (by position and by keyword)") }
                values[k] = v
            } else if hasKeywords {
                extra.append((k, v))
            } else {
                let hint = suggestion(for: k, among: keywordNames)
                throw FinchError("\(function)() has no parameter '\(k)'\(hint.map { "; did you mean \($0)?" } ?? ""); signature: \(render(function))")
            }
        }
        for p in params where p.kind == .positional || p.kind == .keyword {
            if values[p.name] == nil {
                guard let d = p.defaultValue else {
                    throw FinchError("\(function)() is missing the required argument '\(p.name)'; signature: \(render(function))")
                }
                values[p.name] = d
            }
        }
        return Arguments(function: function, values: values, rest: rest, extraKeywords: extra)
    }
}

/// Bound arguments with typed accessors whose errors name the function, the argument and the expected type.
public struct Arguments {
    public let function: String
    public var values: [String: Value]
    /// Values collected by a `*name` parameter.
    public var rest: [Value]
    /// Keywords collected by a `**name` parameter, in call order.
    public var extraKeywords: [(String, Value)]

    public subscript(name: String) -> Value { values[name] ?? .none }
    public func value(_ name: String) -> Value { self[name] }
    public func isNone(_ name: String) -> Bool { self[name].isNone }

    public func typeError(_ name: String, _ expected: String) -> FinchError {
        let v = self[name]
        return FinchError("\(function)(): argument '\(name)' must be \(expected), got \(v.typeName) \(shortRepr(v))")
    }

    public func string(_ name: String) throws -> String {
        if case .string(let s) = self[name] { return s }
        throw typeError(name, "a string")
    }
    public func optionalString(_ name: String) throws -> String? { isNone(name) ? nil : try string(name) }
    /// A string naming one case of `T` (an option like optimizer="adamw"); anything else is an error
    /// listing the cases, with the nearest one suggested.
    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, as: T.Type = T.self) throws -> T where T.RawValue == String {
        let given = try string(name)
        if let v = T(rawValue: given) { return v }
        let cases = T.allCases.map(\.rawValue)
        let hint = suggestion(for: given, among: cases).map { "; did you mean \"\($0)\"?" } ?? ""
        throw FinchError("\(function)(): argument '\(name)' must be one of \(cases.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(given)\"\(hint)")
    }

    public func int(_ name: String) throws -> Int {
        switch self[name] {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .float(let d) where d == d.rounded() && abs(d) < 9e18: return Int(d)
        default: throw typeError(name, "an int")
        }
    }
    public func optionalInt(_ name: String) throws -> Int? { isNone(name) ? nil : try int(name) }

    public func double(_ name: String) throws -> Double {
        switch self[name] {
        case .int(let i): return Double(i)
        case .float(let d): return d
        default: throw typeError(name, "a number")
        }
    }
    public func optionalDouble(_ name: String) throws -> Double? { isNone(name) ? nil : try double(name) }

    public func bool(_ name: String) throws -> Bool {
        if case .bool(let b) = self[name] { return b }
        throw typeError(name, "true or false")
    }

    public func list(_ name: String) throws -> [Value] {
        if case .list(let l) = self[name] { return l.items }
        throw typeError(name, "a list")
    }
    public func stringList(_ name: String) throws -> [String] {
        if case .string(let s) = self[name] { return [s] }
        return try list(name).map { v in
            guard case .string(let s) = v else { throw typeError(name, "a list of strings") }
            return s
        }
    }

    public func dict(_ name: String) throws -> FinchDict {
        if case .dict(let d) = self[name] { return d }
        throw typeError(name, "a dict")
    }

    /// A handle of a given Swift type, e.g. `args.object("model", as: ModelValue.self)`.
    public func object<T>(_ name: String, as type: T.Type) throws -> T {
        if case .object(let o) = self[name], let t = o as? T { return t }
        throw typeError(name, "a \(String(describing: type).replacingOccurrences(of: "Handle", with: ""))")
    }
    public func optionalObject<T>(_ name: String, as type: T.Type) throws -> T? { isNone(name) ? nil : try object(name, as: type) }

    /// A function, lambda, builtin or callable handle.
    public func callable(_ name: String) throws -> Value {
        switch self[name] {
        case .function, .builtin: return self[name]
        case .object(let o) where o.isCallable: return self[name]
        default: throw typeError(name, "a function")
        }
    }
}

public typealias CallContext = Interpreter
public typealias BuiltinImpl = (Arguments, CallContext) throws -> Value

public final class BuiltinFunction: @unchecked Sendable {
    public let name: String
    public let signature: Signature
    public let doc: String
    /// The heading in `help()` listings.
    public let category: String
    let impl: BuiltinImpl
    /// One line per parameter for `help(name)`, keyed by parameter name (`BuiltinRegistry.document`).
    public internal(set) var parameterDocs: [String: String] = [:]

    public init(name: String, params: [Param], doc: String, category: String = "core", impl: @escaping BuiltinImpl) {
        self.name = name; self.signature = Signature(params); self.doc = doc; self.category = category; self.impl = impl
    }

    public var params: [Param] { signature.params }

    public func call(_ args: CallArgs, _ ctx: CallContext) throws -> Value {
        try impl(try signature.bind(function: name, args), ctx)
    }

    /// The signature, the doc, and a line for each documented parameter with its default.
    public var help: String {
        var out = "\(signature.render(name))\n    \(doc)"
        let documented = params.filter { parameterDocs[$0.name] != nil }
        guard !documented.isEmpty else { return out }
        let width = min(24, documented.map { $0.name.count }.max()! + 2)
        out += "\n  parameters:"
        for p in documented {
            let label = (p.kind == .variadic ? "*" : p.kind == .keywords ? "**" : "") + p.name
            out += "\n    \(label.padding(toLength: max(width, label.count + 1), withPad: " ", startingAt: 0))\(parameterDocs[p.name]!)"
            // the default, unless none (the text says what none means) or the text gives it already
            if let d = p.defaultValue, !d.isNone, !parameterDocs[p.name]!.contains("(default") { out += " (default \(repr(d)))" }
        }
        return out
    }
}

/// The one registry of built-in functions.
public final class BuiltinRegistry: @unchecked Sendable {
    public private(set) var functions: [String: BuiltinFunction] = [:]

    public init() {}

    /// Registers (or replaces) a built-in. Binding files in FinchNotebook call this for model, hub and training built-ins.
    public func register(_ name: String, params: [Param], doc: String, category: String = "core", _ impl: @escaping BuiltinImpl) {
        functions[name] = BuiltinFunction(name: name, params: params, doc: doc, category: category, impl: impl)
    }

    public func lookup(_ name: String) -> BuiltinFunction? { functions[name] }

    /// Explains a built-in's parameters for `help(name)`. Names that are not parameters are reported
    /// (a renamed parameter must not keep a stale explanation).
    @discardableResult
    public func document(_ name: String, _ docs: KeyValuePairs<String, String>) -> [String] {
        guard let f = functions[name] else { return docs.map { "\(name).\($0.key)" } }
        var unknown: [String] = []
        for (param, text) in docs {
            if f.params.contains(where: { $0.name == param }) { f.parameterDocs[param] = text } else { unknown.append("\(name).\(param)") }
        }
        return unknown
    }
    public var names: [String] { functions.keys.sorted() }

    /// A registry holding the model-free built-ins of the language.
    public static func standard() -> BuiltinRegistry {
        let r = BuiltinRegistry()
        registerCoreBuiltins(r)
        documentCoreParameters(r)
        return r
    }
}
