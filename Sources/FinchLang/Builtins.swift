import Foundation
#if canImport(FinchSupport)
import FinchSupport
#endif

// The model-free built-ins of the language. Each is one `register` call: name, parameters, one-line doc.

func registerCoreBuiltins(_ r: BuiltinRegistry) {
    r.register("print", params: [.variadic("values"), .keyword("sep", default: .string(" ")), .keyword("end", default: .string("\n"))],
               doc: "Write the values, separated by sep and followed by end, to the output.") { a, ctx in
        ctx.output.write(a.rest.map(str).joined(separator: try a.string("sep")) + (try a.string("end")))
        return .none
    }
    r.register("json", params: [.positional("value"), .keyword("indent", default: .none)],
               doc: "The value as JSON text (compact unless indent is given).") { a, _ in
        .string(try toJSON(a["value"], indent: try a.optionalInt("indent")))
    }
    r.register("parse_json", params: [.positional("text")], doc: "The value a JSON text describes.") { a, _ in
        try parseJSON(try a.string("text"))
    }
    r.register("len", params: [.positional("value")], doc: "Number of items in a list, dict, string or dataset.") { a, _ in
        switch a["value"] {
        case .string(let s): return .int(s.unicodeScalars.count)
        case .list(let l): return .int(l.items.count)
        case .dict(let d): return .int(d.count)
        case .object(let o): if let n = o.length { return .int(n) }
        default: break
        }
        throw a.typeError("value", "a string, list, dict or dataset")
    }
    r.register("range", params: [.positional("start"), .positional("stop", default: .none), .positional("step", default: .int(1))],
               doc: "The list [start, start+step, …] up to but excluding stop; range(n) counts 0..n-1.") { a, _ in
        var start = try a.int("start"), stop = 0
        let step = try a.int("step")
        if a.isNone("stop") { stop = start; start = 0 } else { stop = try a.int("stop") }
        guard step != 0 else { throw FinchError("range(): step must not be zero") }
        // Counted in Double so extreme bounds cannot overflow.
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        let count = span <= 0 ? 0 : (span / abs(Double(step))).rounded(.up)
        guard count <= 50_000_000 else { throw FinchError("range(): \(Int(min(count, 9e18))) elements is too many (the limit is 50,000,000); use a while loop") }
        return .list(stride(from: start, to: stop, by: step).map { .int($0) })
    }
    r.register("str", params: [.positional("value", default: .string(""))], doc: "The value as text, as print shows it.") { a, _ in .string(str(a["value"])) }
    r.register("repr", params: [.positional("value")], doc: "The value as Finch source (strings quoted).") { a, _ in .string(repr(a["value"])) }
    r.register("int", params: [.positional("value", default: .int(0)), .keyword("base", default: .int(10))],
               doc: "An int from a number (truncating) or from text.") { a, _ in
        switch a["value"] {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .float(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { throw FinchError("int(): \(formatFloat(d)) does not fit in an int") }
            return .int(Int(d))
        case .string(let s):
            let t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
            let base = try a.int("base")
            guard (2...36).contains(base) else { throw FinchError("int(): base must be between 2 and 36, got \(base)") }
            if let i = Int(t, radix: base) { return .int(i) }
            throw FinchError("int(): invalid literal \(repr(a["value"])) for base \(try a.int("base"))")
        default: throw a.typeError("value", "a number or a string")
        }
    }
    r.register("float", params: [.positional("value", default: .float(0))], doc: "A float from a number or text (\"inf\", \"nan\" allowed).") { a, _ in
        switch a["value"] {
        case .int(let i): return .float(Double(i))
        case .float(let d): return .float(d)
        case .bool(let b): return .float(b ? 1 : 0)
        case .string(let s):
            if let d = Double(s.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "infinity", with: "inf")) { return .float(d) }
            throw FinchError("float(): invalid literal \(repr(a["value"]))")
        default: throw a.typeError("value", "a number or a string")
        }
    }
    r.register("bool", params: [.positional("value", default: .bool(false))], doc: "Whether the value is truthy.") { a, _ in .bool(a["value"].isTruthy) }
    r.register("list", params: [.positional("items", default: .list([]))], doc: "A new list of the items (a copy of a list, a dict's keys, a string's characters).") { a, ctx in
        .list(try ctx.iterate(a["items"]))
    }
    r.register("dict", params: [.positional("pairs", default: .none), .keywords("items")], doc: "A new dict from a dict, [key, value] pairs, or keyword arguments.") { a, ctx in
        let d = FinchDict()
        switch a["pairs"] {
        case .none: break
        case .dict(let other): for (k, v) in other.pairs { d[k] = v }
        default:
            for p in try ctx.iterate(a["pairs"]) {
                let kv = try ctx.iterate(p)
                guard kv.count == 2, let k = DictKey(kv[0]) else { throw FinchError("dict(): each pair must be [key, value]") }
                d[k] = kv[1]
            }
        }
        for (k, v) in a.extraKeywords { d[k] = v }
        return .dict(d)
    }
    r.register("type", params: [.positional("value")], doc: "The name of the value's type: \"int\", \"str\", \"Model\", …") { a, _ in .string(a["value"].typeName) }
    r.register("sorted", params: [.positional("items"), .keyword("key", default: .none), .keyword("reverse", default: .bool(false))],
               doc: "A new sorted list (stable), optionally by key(item).") { a, ctx in
        .list(try sortValues(try ctx.iterate(a["items"]), key: a["key"], reverse: try a.bool("reverse"), ctx))
    }
    r.register("reversed", params: [.positional("items")], doc: "A new list with the items in reverse order.") { a, ctx in
        .list(try ctx.iterate(a["items"]).reversed())
    }
    r.register("enumerate", params: [.positional("items"), .positional("start", default: .int(0))], doc: "[index, item] pairs.") { a, ctx in
        let start = try a.int("start")
        return .list(try ctx.iterate(a["items"]).enumerated().map { i, x in
            let (n, overflow) = start.addingReportingOverflow(i)
            if overflow { throw FinchError("enumerate(): start \(start) overflows") }
            return .list([.int(n), x])
        })
    }
    r.register("zip", params: [.variadic("lists")], doc: "[a0, b0], [a1, b1], … up to the shortest list.") { a, ctx in
        let lists = try a.rest.map { try ctx.iterate($0) }
        let n = lists.map(\.count).min() ?? 0
        return .list((0..<n).map { i in .list(lists.map { $0[i] }) })
    }
    for (name, wantMax) in [("min", false), ("max", true)] {
        r.register(name, params: [.variadic("values"), .keyword("key", default: .none), .keyword("default", default: .none)],
                   doc: "The \(wantMax ? "largest" : "smallest") of the values, or of one list (optionally by key(item)).") { a, ctx in
            let items = a.rest.count == 1 ? try ctx.iterate(a.rest[0]) : a.rest
            guard !items.isEmpty else {
                if !a.isNone("default") { return a["default"] }
                throw FinchError("\(name)() of an empty list (pass default= to allow it)")
            }
            let key = a["key"]
            var best = items[0], bestKey = key.isNone ? best : try ctx.call(key, [best])
            for x in items.dropFirst() {
                let k = key.isNone ? x : try ctx.call(key, [x])
                if wantMax ? try valueLess(bestKey, k) : try valueLess(k, bestKey) { best = x; bestKey = k }
            }
            return best
        }
    }
    r.register("sum", params: [.positional("items"), .positional("start", default: .int(0))], doc: "The sum of the numbers.") { a, ctx in
        var total = a["start"]
        for x in try ctx.iterate(a["items"]) { total = try ctx.binary(.add, total, x) }
        return total
    }
    r.register("abs", params: [.positional("x")], doc: "The absolute value.") { a, _ in
        switch a["x"] {
        case .int(let i): guard i != Int.min else { throw FinchError("integer overflow in abs") }; return .int(abs(i))
        case .float(let d): return .float(abs(d))
        default: throw a.typeError("x", "a number")
        }
    }
    r.register("round", params: [.positional("x"), .positional("ndigits", default: .none)],
               doc: "x rounded to ndigits decimals (half to even, like Python); an int when ndigits is none.") { a, _ in
        let x = try a.double("x")
        if let n = try a.optionalInt("ndigits") {
            if case .int = a["x"], n >= 0 { return a["x"] }
            let p = Foundation.pow(10.0, Double(n))
            return .float((x * p).rounded(.toNearestOrEven) / p)
        }
        if case .int = a["x"] { return a["x"] }
        let r = x.rounded(.toNearestOrEven)
        guard r.isFinite, abs(r) < 9.2e18 else { throw FinchError("round(): \(formatFloat(x)) does not fit in an int") }
        return .int(Int(r))
    }
    r.register("any", params: [.positional("items")], doc: "Whether any item is truthy.") { a, ctx in .bool(try ctx.iterate(a["items"]).contains { $0.isTruthy }) }
    r.register("all", params: [.positional("items")], doc: "Whether every item is truthy.") { a, ctx in .bool(try ctx.iterate(a["items"]).allSatisfy { $0.isTruthy }) }
    r.register("format", params: [.positional("value"), .positional("spec", default: .string(""))], doc: "The value formatted with a spec, as in f\"{value:spec}\".") { a, _ in
        .string(try formatValue(a["value"], spec: try a.string("spec")))
    }
    r.register("clock", params: [], doc: "Seconds on a monotonic clock (for timing).") { _, _ in
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .float(Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
    }
    r.register("env", params: [.positional("name"), .positional("default", default: .none)], doc: "An environment variable, or default when unset.") { a, _ in
        if let v = ProcessInfo.processInfo.environment[try a.string("name")] { return .string(v) }
        return a["default"]
    }
    r.register("read_text", params: [.positional("path")], doc: "The contents of a UTF-8 text file.") { a, ctx in
        let path = ctx.resolvePath(try a.string("path"))
        guard let data = FileManager.default.contents(atPath: path) else { throw FinchError("read_text(): cannot read '\(ctx.displayPath(path))' (no such file or no permission)") }
        guard let s = String(data: data, encoding: .utf8) else { throw FinchError("read_text(): '\(ctx.displayPath(path))' is not valid UTF-8 text") }
        return .string(s)
    }
    r.register("write_text", params: [.positional("path"), .positional("text")], doc: "Write text to a file (atomically: a temp file, then rename).") { a, ctx in
        let path = ctx.resolvePath(try a.string("path")), text = try a.string("text")
        do {
            try AtomicFolder.makeFolders(URL(fileURLWithPath: path).deletingLastPathComponent().path)
            try AtomicFile.write(Data(text.utf8), to: path)
        }
        catch var e as WriteError { e.path = ctx.displayPath(e.path); throw FinchError("write_text(): \(e)") }
        catch { throw FinchError("write_text(): cannot write '\(ctx.displayPath(path))': \(error)") }
        return .none
    }
    r.register("dataset", params: [.positional("rows")], doc: "An in-memory dataset from a list of dicts (one dict per row).") { a, _ in
        .object(try Dataset(rowsValue: a["rows"], argument: "rows", function: "dataset"))
    }
    r.register("help", params: [.positional("topic", default: .none)], doc: "Show a built-in's signature and doc, a function's, or list every built-in.") { a, ctx in
        ctx.output.write(ctx.helpText(for: a["topic"]) + "\n")
        return .none
    }
}

extension Interpreter {
    /// The text `help(topic)` and `:help topic` show.
    public func helpText(for topic: Value) -> String {
        switch topic {
        case .none:
            var out = "Built-ins (help(name) for one):\n"
            let byCategory = Dictionary(grouping: registry.functions.values, by: \.category)
            for cat in byCategory.keys.sorted() {
                out += "\n\(cat):\n"
                for b in byCategory[cat]!.sorted(by: { $0.name < $1.name }) {
                    out += "  \(b.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(b.doc)\n"
                }
            }
            out += "\nMethods: str: \(methodNames(forType: "str").joined(separator: " "))\n"
            out += "         list: \(methodNames(forType: "list").joined(separator: " "))\n"
            out += "         dict: \(methodNames(forType: "dict").joined(separator: " "))"
            return out
        case .builtin(let b):
            return b.doc.isEmpty ? b.signature.render(b.name) : b.help
        case .function(let f):
            let params = f.decl.params.enumerated().map { i, p in f.defaults[i].map { "\(p.name)=\(repr($0))" } ?? p.name }
            return "\(f.name)(\(params.joined(separator: ", ")))" + (f.decl.doc.map { "\n    \($0)" } ?? "")
        case .string(let name):
            if let b = registry.lookup(name) { return b.help }
            if let v = globals.lookup(name), !(v.typeName == "str") { return helpText(for: v) }
            let parts = name.split(separator: ".")
            if parts.count == 2 {
                let table: [String: Method]? = parts[0] == "str" ? stringMethods : parts[0] == "list" ? listMethods : parts[0] == "dict" ? dictMethods : nil
                if let mth = table?[String(parts[1])] { return "\(Signature(mth.params).render(name))\n    \(mth.doc)" }
            }
            let hint = suggestion(for: name, among: registry.names + globals.allNames)
            return "no built-in or variable named '\(name)'" + (hint.map { "; did you mean \($0)?" } ?? "")
        case .object(let o):
            var out = "\(o.typeName): \(o.description)"
            if !o.attributeNames.isEmpty { out += "\n  attributes: \(o.attributeNames.joined(separator: " "))" }
            if !o.methodNames.isEmpty { out += "\n  methods: \(o.methodNames.joined(separator: " "))" }
            return out
        default:
            let methods = methodNames(forType: topic.typeName)
            return "\(withArticle(topic.typeName))" + (methods.isEmpty ? "" : "; methods: \(methods.joined(separator: " "))")
        }
    }
}
