import Foundation
#if canImport(FinchSupport)
import FinchSupport
#endif

/// Filters, tests, string/dict methods and global functions available to templates.
enum TemplateBuiltins {
    static func fail(_ m: String) -> BuiltinFailure { .message(m) }

    private static func kw(_ kwargs: [(String, TemplateValue)], _ name: String) -> TemplateValue? {
        kwargs.first { $0.0 == name }?.1
    }

    private static func string(_ v: TemplateValue, _ what: String) throws -> String {
        guard case .string(let s) = v else { throw fail("\(what) expects a string, got \(v.typeName)") }
        return s
    }

    private static func list(_ v: TemplateValue, _ what: String) throws -> [TemplateValue] {
        switch v {
        case .array(let a): return a
        case .string(let s): return s.map { .string(String($0)) }
        case .object(let o): return o.keys.map { .string($0) }
        case .undefined, .none: return []
        default: throw fail("\(what) expects a sequence, got \(v.typeName)")
        }
    }

    // MARK: Filters

    static func filter(_ name: String, _ v: TemplateValue, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)],
                       _ ev: TemplateEvaluator) throws -> TemplateValue {
        switch name {
        case "trim":
            return .string(try ev.str(v).trimmingCharacters(in: .whitespacesAndNewlines))
        case "upper": return .string(try ev.str(v).uppercased())
        case "lower": return .string(try ev.str(v).lowercased())
        case "capitalize":
            let s = try ev.str(v)
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "title": return .string(try ev.str(v).capitalized)
        case "string": return .string(try ev.str(v))
        case "safe": return v
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .object(let o): return .int(o.count)
            case .undefined: return .int(0)
            default: throw fail("object of type \(v.typeName) has no length")
            }
        case "first": return try list(v, "first").first ?? .undefined
        case "last": return try list(v, "last").last ?? .undefined
        case "list": return .array(try list(v, "list"))
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try list(v, "reverse").reversed())
        case "join":
            let sep = args.first.map { (try? ev.str($0)) ?? "" } ?? (kw(kwargs, "d").map { (try? ev.str($0)) ?? "" } ?? "")
            var items = try list(v, "join")
            if let attr = kw(kwargs, "attribute") { items = try items.map { try ev.attribute($0, try ev.str(attr)) } }
            return .string(try items.map { try ev.str($0) }.joined(separator: sep))
        case "default", "d":
            let dflt = args.first ?? kw(kwargs, "default_value") ?? .string("")
            let boolean = (args.count > 1 ? args[1] : kw(kwargs, "boolean") ?? .bool(false)).isTruthy
            if case .undefined = v { return dflt }
            if boolean && !v.isTruthy { return dflt }
            return v
        case "items":
            switch v {
            case .object(let o): return .array(o.pairs.map { .array([.string($0.0), $0.1]) })
            case .namespace(let ns): return .array(ns.values.pairs.map { .array([.string($0.0), $0.1]) })
            case .undefined: return .array([])
            default: throw fail("items expects a mapping, got \(v.typeName)")
            }
        case "replace":
            guard args.count >= 2 else { throw fail("replace expects two arguments") }
            let s = try ev.str(v), old = try ev.str(args[0]), new = try ev.str(args[1])
            if old.isEmpty { return .string(s) }
            return .string(s.replacingOccurrences(of: old, with: new))
        case "tojson":
            var indent: Int? = nil
            if let i = args.first ?? kw(kwargs, "indent"), case .int(let n) = i { indent = max(0, min(n, 16)) }
            return .string(try json(v, indent: indent, level: 0))
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return d.isFinite && abs(d) < 9e18 ? .int(Int(d)) : .int(0)
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces)
                if let n = Int(t) { return .int(n) }
                if let d = Double(t), d.isFinite, abs(d) < 9e18 { return .int(Int(d)) }
                return .int(0)
            default: return .int(0)
            }
        case "float":
            switch v {
            case .int(let n): return .double(Double(n))
            case .double: return v
            case .string(let s): return .double(Double(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            default: return .double(0)
            }
        case "abs":
            switch v {
            case .int(let n): return .int(n == Int.min ? n : abs(n))
            case .double(let d): return .double(abs(d))
            default: throw fail("abs expects a number")
            }
        case "map":
            let items = try list(v, "map")
            if let attr = kw(kwargs, "attribute") {
                let a = try ev.str(attr)
                return .array(try items.map { try ev.attribute($0, a) })
            }
            guard let fname = args.first else { throw fail("map expects a filter name or attribute=") }
            let f = try ev.str(fname)
            return .array(try items.map { try filter(f, $0, Array(args.dropFirst()), [], ev) })
        case "selectattr", "rejectattr":
            guard let attr = args.first else { throw fail("\(name) expects an attribute name") }
            let a = try ev.str(attr)
            let keep = name == "selectattr"
            return .array(try list(v, name).filter { item in
                let x = try ev.attribute(item, a)
                let r = args.count > 1 ? try test(try ev.str(args[1]), x, Array(args.dropFirst(2))) : x.isTruthy
                return r == keep
            })
        case "select", "reject":
            let keep = name == "select"
            return .array(try list(v, name).filter { item in
                let r = args.isEmpty ? item.isTruthy : try test(try ev.str(args[0]), item, Array(args.dropFirst()))
                return r == keep
            })
        case "unique":
            var out: [TemplateValue] = []
            for x in try list(v, "unique") where !out.contains(x) { out.append(x) }
            return .array(out)
        case "indent":
            let width = args.first.flatMap { if case .int(let n) = $0 { return n } else { return nil } } ?? 4
            let pad = String(repeating: " ", count: max(0, min(width, 64)))
            let first = (args.count > 1 ? args[1] : kw(kwargs, "first") ?? .bool(false)).isTruthy
            let lines = try ev.str(v).components(separatedBy: "\n")
            return .string(lines.enumerated().map { (k, l) in
                (k == 0 && !first) || l.isEmpty ? l : pad + l
            }.joined(separator: "\n"))
        case "round":
            guard let d = v.asDouble else { throw fail("round expects a number") }
            var places = 0
            if let p = args.first, case .int(let n) = p { places = max(0, min(n, 15)) }
            let f = pow(10.0, Double(places))
            return .double((d * f).rounded(.toNearestOrEven) / f)
        case "sort":
            let items = try list(v, "sort")
            let reverse = kw(kwargs, "reverse")?.isTruthy ?? false
            let attr = try kw(kwargs, "attribute").map { try ev.str($0) }
            let keyed = try items.map { (attr != nil ? try ev.attribute($0, attr!) : $0, $0) }
            let sorted = keyed.sorted { a, b in
                if let x = a.0.asDouble, let y = b.0.asDouble { return x < y }
                if case .string(let x) = a.0, case .string(let y) = b.0 { return x < y }
                return false
            }.map { $0.1 }
            return .array(reverse ? sorted.reversed() : sorted)
        case "wordcount":
            return .int(try ev.str(v).split(whereSeparator: { $0.isWhitespace }).count)
        default:
            throw fail("unknown filter \"\(name)\"")
        }
    }

    // MARK: Tests

    static func test(_ name: String, _ v: TemplateValue, _ args: [TemplateValue]) throws -> Bool {
        switch name {
        case "defined": if case .undefined = v { return false }; return true
        case "undefined": if case .undefined = v { return true }; return false
        case "none": return v == .none && !(v == .undefined)
        case "string": if case .string = v { return true }; return false
        case "mapping": if case .object = v { return true }; return false
        case "iterable", "sequence":
            switch v {
            case .string, .array, .object: return true
            default: return false
            }
        case "number": switch v { case .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": return v == .bool(true) && { if case .bool = v { return true }; return false }()
        case "false": return v == .bool(false) && { if case .bool = v { return true }; return false }()
        case "callable": if case .function = v { return true }; return false
        case "equalto", "eq", "==", "sameas":
            guard let x = args.first else { throw fail("\(name) expects an argument") }
            return v == x
        case "ne", "!=": guard let x = args.first else { throw fail("ne expects an argument") }; return v != x
        case "odd", "even":
            guard case .int(let n) = v else { throw fail("\(name) expects an integer") }
            return (n % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let n) = v, case .int(let d)? = args.first, d != 0 else { throw fail("divisibleby expects integers") }
            return n % d == 0
        case "lower": if case .string(let s) = v { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = v { return s == s.uppercased() }; return false
        case "in":
            guard let c = args.first else { throw fail("in expects an argument") }
            switch c {
            case .array(let a): return a.contains(v)
            case .string(let s): if case .string(let x) = v { return s.contains(x) }; return false
            case .object(let o): if case .string(let k) = v { return o[k] != nil }; return false
            default: return false
            }
        default:
            throw fail("unknown test \"\(name)\"")
        }
    }

    // MARK: Methods (`'x'.strip()`, `d.items()`, …)

    static func method(_ base: TemplateValue, _ name: String) -> TemplateValue? {
        func fn(_ body: @escaping @Sendable ([TemplateValue]) throws -> TemplateValue) -> TemplateValue {
            .function(TemplateFunction(name: name) { args, _ in try body(args) })
        }
        switch base {
        case .string(let s):
            @Sendable func chars(_ args: [TemplateValue]) -> CharacterSet {
                if case .string(let c)? = args.first { return CharacterSet(charactersIn: c) }
                return .whitespacesAndNewlines
            }
            switch name {
            case "strip": return fn { .string(s.trimmingCharacters(in: chars($0))) }
            case "lstrip": return fn { a in
                let set = chars(a)
                return .string(String(String.UnicodeScalarView(s.unicodeScalars.drop { set.contains($0) }))) }
            case "rstrip": return fn { a in
                let set = chars(a)
                var u = Substring(s).unicodeScalars[...]
                while let l = u.last, set.contains(l) { u.removeLast() }
                return .string(String(String.UnicodeScalarView(u))) }
            case "upper": return fn { _ in .string(s.uppercased()) }
            case "lower": return fn { _ in .string(s.lowercased()) }
            case "title": return fn { _ in .string(s.capitalized) }
            case "capitalize": return fn { _ in .string(s.prefix(1).uppercased() + s.dropFirst().lowercased()) }
            case "startswith": return fn { a in
                guard case .string(let p)? = a.first else { throw fail("startswith expects a string") }
                return .bool(s.unicodeScalars.starts(with: p.unicodeScalars)) }
            case "endswith": return fn { a in
                guard case .string(let p)? = a.first else { throw fail("endswith expects a string") }
                return .bool(s.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed())) }
            case "split": return fn { a in
                var maxSplit = -1
                if a.count > 1, case .int(let m) = a[1] { maxSplit = m }
                if case .string(let sep)? = a.first {
                    guard !sep.isEmpty else { throw fail("empty separator") }
                    var parts = s.components(separatedBy: sep)
                    if maxSplit >= 0 && parts.count > maxSplit + 1 {
                        parts = Array(parts[..<maxSplit]) + [parts[maxSplit...].joined(separator: sep)]
                    }
                    return .array(parts.map { .string($0) })
                }
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) }) }
            case "replace": return fn { a in
                guard a.count >= 2, case .string(let o) = a[0], case .string(let n) = a[1] else { throw fail("replace expects two strings") }
                return .string(o.isEmpty ? s : s.replacingOccurrences(of: o, with: n)) }
            case "find": return fn { a in
                guard case .string(let p)? = a.first else { throw fail("find expects a string") }
                guard let r = s.range(of: p) else { return .int(-1) }
                return .int(s.distance(from: s.startIndex, to: r.lowerBound)) }
            case "count": return fn { a in
                guard case .string(let p)? = a.first, !p.isEmpty else { throw fail("count expects a string") }
                return .int(s.components(separatedBy: p).count - 1) }
            case "join": return fn { a in
                guard case .array(let items)? = a.first else { throw fail("join expects a list") }
                return .string(items.map { if case .string(let x) = $0 { return x }; return repr($0, top: true) }.joined(separator: s)) }
            case "isdigit": return fn { _ in .bool(!s.isEmpty && s.allSatisfy { $0.isNumber }) }
            case "isspace": return fn { _ in .bool(!s.isEmpty && s.allSatisfy { $0.isWhitespace }) }
            default: return nil
            }
        case .object(let o):
            switch name {
            case "items": return fn { _ in .array(o.pairs.map { .array([.string($0.0), $0.1]) }) }
            case "keys": return fn { _ in .array(o.keys.map { .string($0) }) }
            case "values": return fn { _ in .array(o.pairs.map { $0.1 }) }
            case "get": return fn { a in
                guard case .string(let k)? = a.first else { return a.count > 1 ? a[1] : .none }
                return o[k] ?? (a.count > 1 ? a[1] : .none) }
            default: return nil
            }
        default:
            return nil
        }
    }

    // MARK: Globals

    static func globals(strftimeNow: Date?) -> [String: TemplateValue] {
        var g: [String: TemplateValue] = [:]
        g["raise_exception"] = .function(TemplateFunction(name: "raise_exception") { args, _ in
            let m: String
            if case .string(let s)? = args.first { m = s } else { m = args.first.map { repr($0, top: true) } ?? "" }
            throw TemplateError.raised(message: m)
        })
        g["namespace"] = .function(TemplateFunction(name: "namespace") { args, kwargs in
            var o = TemplateObject()
            if case .object(let init0)? = args.first { o = init0 }
            for (k, v) in kwargs { o[k] = v }
            return .namespace(TemplateNamespace(o))
        })
        g["range"] = .function(TemplateFunction(name: "range") { args, _ in
            let ints = try args.map { v -> Int in
                guard case .int(let n) = v else { throw fail("range expects integers") }
                return n
            }
            let (a, b, s): (Int, Int, Int)
            switch ints.count {
            case 1: (a, b, s) = (0, ints[0], 1)
            case 2: (a, b, s) = (ints[0], ints[1], 1)
            case 3: (a, b, s) = (ints[0], ints[1], ints[2])
            default: throw fail("range expects 1 to 3 arguments")
            }
            guard s != 0 else { throw fail("range step cannot be zero") }
            // In Double so extreme bounds cannot overflow.
            let span = s > 0 ? (Double(b) - Double(a)) / Double(s) : (Double(a) - Double(b)) / -Double(s)
            let count = max(0, span.rounded(.up))
            guard count <= 100_000 else { throw TemplateError.limitExceeded("range of \(count) items") }
            let n = Int(count)
            return .array((0..<n).map { .int(a &+ $0 &* s) })  // wrapping: the true value fits, the product may not
        })
        if let now = strftimeNow {
            g["strftime_now"] = .function(TemplateFunction(name: "strftime_now") { args, _ in
                guard case .string(let fmt)? = args.first else { throw fail("strftime_now expects a format string") }
                return .string(strftime(fmt, now))
            })
        }
        return g
    }

    static func strftime(_ format: String, _ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buffer = [Int8](repeating: 0, count: 256)
        let n = Foundation.strftime(&buffer, buffer.count, format, &tmv)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Printing

    /// Python's repr/str of values (`top` is str() at the outermost level: strings unquoted).
    static func repr(_ v: TemplateValue, top: Bool = false) -> String {
        switch v {
        case .undefined: return top ? "" : "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let n): return String(n)
        case .double(let d): return pythonFloat(d)
        case .string(let s):
            if top { return s }
            let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = String(quote)
            for c in s.unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if Character(c) == quote { out += "\\\(quote)" } else { out.unicodeScalars.append(c) }
                }
            }
            out.append(quote)
            return out
        case .array(let a): return "[" + a.map { repr($0) }.joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.pairs.map { repr(.string($0.0)) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        case .namespace(let ns): return "<Namespace " + repr(.object(ns.values)) + ">"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded(), abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// Python's `json.dumps(v, ensure_ascii=False, indent=indent)` (transformers' `tojson`).
    static func json(_ v: TemplateValue, indent: Int?, level: Int) throws -> String {
        guard level < 200 else { throw TemplateError.limitExceeded("tojson nesting deeper than 200") }
        let nl = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) }
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let sep = indent == nil ? ", " : ","
        switch v {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let n): return String(n)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return pythonFloat(d)
        case .string(let s): return JSON.quoted(s)  // json.dumps(ensure_ascii=False)
        case .array(let a):
            if a.isEmpty { return "[]" }
            let items = try a.map { try json($0, indent: indent, level: level + 1) }
            return "[" + (nl ?? "") + items.joined(separator: sep + (nl ?? "")) + close + "]"
        case .object(let o):
            if o.isEmpty { return "{}" }
            let items = try o.pairs.map { try json(.string($0.0), indent: nil, level: 0) + ": " + json($0.1, indent: indent, level: level + 1) }
            return "{" + (nl ?? "") + items.joined(separator: sep + (nl ?? "")) + close + "}"
        case .namespace(let ns): return try json(.object(ns.values), indent: indent, level: level)
        case .function(let f): throw fail("Object of type function \(f.name) is not JSON serializable")
        }
    }
}

extension TemplateValue {
    var asDouble: Double? {
        switch self {
        case .int(let n): return Double(n)
        case .double(let d): return d
        default: return nil
        }
    }
}
