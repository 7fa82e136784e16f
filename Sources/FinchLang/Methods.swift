// Methods of strings, lists and dicts, with Python's meaning. Declared with the registry's Param
// type so arity and keyword errors read the same as for built-ins.

public struct Method {
    public let params: [Param]
    public let doc: String
    let impl: (Value, Arguments, Interpreter) throws -> Value
}

func methodTable(for v: Value) -> [String: Method]? {
    switch v {
    case .string: return stringMethods
    case .list: return listMethods
    case .dict: return dictMethods
    default: return nil
    }
}

/// Method names per type name, for completion and help.
public func methodNames(forType type: String) -> [String] {
    switch type {
    case "str": return stringMethods.keys.sorted()
    case "list": return listMethods.keys.sorted()
    case "dict": return dictMethods.keys.sorted()
    default: return []
    }
}

private func m(_ params: [Param], _ doc: String, _ impl: @escaping (Value, Arguments, Interpreter) throws -> Value) -> Method {
    Method(params: params, doc: doc, impl: impl)
}

private func recvString(_ v: Value) -> String { if case .string(let s) = v { return s }; return "" }
private func recvList(_ v: Value) -> FinchList { if case .list(let l) = v { return l }; return FinchList() }
private func recvDict(_ v: Value) -> FinchDict { if case .dict(let d) = v { return d }; return FinchDict() }

private func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

private func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    let match: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? isSpace(c) }
    var scalars = Array(s.unicodeScalars)[...]
    if leading { while let f = scalars.first, match(f) { scalars.removeFirst() } }
    if trailing { while let l = scalars.last, match(l) { scalars.removeLast() } }
    var out = String.UnicodeScalarView()
    out.append(contentsOf: scalars)
    return String(out)
}

/// Splits on an exact separator (Python's `s.split(sep)`), at most `limit` times (-1: no limit).
func splitExact(_ s: String, _ sep: String, _ limit: Int) -> [String] {
    var out: [String] = []
    var rest = s[...]
    while limit < 0 || out.count < limit, let r = rest.range(of: sep) {
        out.append(String(rest[..<r.lowerBound]))
        rest = rest[r.upperBound...]
    }
    out.append(String(rest))
    return out
}

/// Python's `s.split()`: runs of whitespace, no empty strings.
func splitWhitespace(_ s: String, _ limit: Int) -> [String] {
    var out: [String] = []
    var current = String.UnicodeScalarView()
    var scalars = Array(s.unicodeScalars)[...]
    while let c = scalars.first {
        if isSpace(c) {
            if !current.isEmpty {
                out.append(String(current)); current = String.UnicodeScalarView()
                if limit >= 0 && out.count == limit {
                    while let f = scalars.first, isSpace(f) { scalars.removeFirst() }
                    if !scalars.isEmpty { var v = String.UnicodeScalarView(); v.append(contentsOf: scalars); out.append(String(v)) }
                    return out
                }
            }
        } else {
            current.append(c)
        }
        scalars.removeFirst()
    }
    if !current.isEmpty { out.append(String(current)) }
    return out
}

func scalarIndex(_ s: String, of sub: String, from: Int = 0, reverse: Bool = false) -> Int? {
    let hay = Array(s.unicodeScalars), needle = Array(sub.unicodeScalars)
    let first = max(0, from), last = hay.count - needle.count
    guard needle.count <= hay.count, first <= last else { return nil }
    let positions = Array(first...last)
    for i in (reverse ? positions.reversed() : positions) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
    return nil
}

private func prefixes(_ a: Arguments, _ name: String) throws -> [String] {
    switch a[name] {
    case .string(let s): return [s]
    case .list: return try a.stringList(name)
    default: throw a.typeError(name, "a string or a list of strings")
    }
}

let stringMethods: [String: Method] = [
    "strip": m([.positional("chars", default: .none)], "Copy without leading and trailing whitespace (or the given characters).") { r, a, _ in
        .string(strip(recvString(r), try a.optionalString("chars"), leading: true, trailing: true)) },
    "lstrip": m([.positional("chars", default: .none)], "Copy without leading whitespace (or characters).") { r, a, _ in
        .string(strip(recvString(r), try a.optionalString("chars"), leading: true, trailing: false)) },
    "rstrip": m([.positional("chars", default: .none)], "Copy without trailing whitespace (or characters).") { r, a, _ in
        .string(strip(recvString(r), try a.optionalString("chars"), leading: false, trailing: true)) },
    "split": m([.positional("sep", default: .none), .positional("maxsplit", default: .int(-1))], "Split on sep, or on runs of whitespace when sep is none.") { r, a, _ in
        let limit = try a.int("maxsplit")
        if let sep = try a.optionalString("sep") {
            guard !sep.isEmpty else { throw FinchError("str.split(): empty separator") }
            return .list(splitExact(recvString(r), sep, limit).map { .string($0) })
        }
        return .list(splitWhitespace(recvString(r), limit).map { .string($0) }) },
    "splitlines": m([.positional("keepends", default: .bool(false))], "The lines, without line breaks unless keepends.") { r, a, _ in
        let keep = try a.bool("keepends")
        var lines: [Value] = []
        var cur = ""
        for c in recvString(r) {
            if c == "\n" || c == "\r\n" || c == "\r" { lines.append(.string(keep ? cur + String(c) : cur)); cur = "" } else { cur.append(c) }
        }
        if !cur.isEmpty { lines.append(.string(cur)) }
        return .list(lines) },
    "join": m([.positional("items")], "The items (strings) joined with this string between them.") { r, a, ctx in
        let items = try ctx.iterate(a["items"])
        let parts = try items.enumerated().map { (i, v) -> String in
            guard case .string(let s) = v else { throw FinchError("str.join(): item \(i) is \(withArticle(v.typeName)), not a string; convert with str()") }
            return s
        }
        return .string(parts.joined(separator: recvString(r))) },
    "replace": m([.positional("old"), .positional("new"), .positional("count", default: .int(-1))], "Copy with occurrences of old replaced by new.") { r, a, _ in
        let old = try a.string("old"), new = try a.string("new"), count = try a.int("count")
        if old.isEmpty { return .string(recvString(r)) }
        return .string(splitExact(recvString(r), old, count).joined(separator: new)) },
    "startswith": m([.positional("prefix")], "Whether the string starts with prefix (or any of a list).") { r, a, _ in
        let s = recvString(r)
        return .bool(try prefixes(a, "prefix").contains { s.unicodeScalars.starts(with: $0.unicodeScalars) }) },
    "endswith": m([.positional("suffix")], "Whether the string ends with suffix (or any of a list).") { r, a, _ in
        let s = recvString(r)
        return .bool(try prefixes(a, "suffix").contains { s.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) }) },
    "lower": m([], "Lower-case copy.") { r, _, _ in .string(recvString(r).lowercased()) },
    "upper": m([], "Upper-case copy.") { r, _, _ in .string(recvString(r).uppercased()) },
    "title": m([], "Copy with each word capitalised.") { r, _, _ in
        var out = "", prevLetter = false
        for c in recvString(r) { out += prevLetter ? c.lowercased() : c.uppercased(); prevLetter = c.isLetter }
        return .string(out) },
    "capitalize": m([], "Copy with the first character upper-case and the rest lower-case.") { r, _, _ in
        let s = recvString(r)
        return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased()) },
    "find": m([.positional("sub"), .positional("start", default: .int(0))], "Index of the first occurrence of sub, or -1.") { r, a, _ in
        .int(scalarIndex(recvString(r), of: try a.string("sub"), from: try a.int("start")) ?? -1) },
    "rfind": m([.positional("sub")], "Index of the last occurrence of sub, or -1.") { r, a, _ in
        .int(scalarIndex(recvString(r), of: try a.string("sub"), reverse: true) ?? -1) },
    "index": m([.positional("sub")], "Index of the first occurrence of sub; an error when absent.") { r, a, _ in
        guard let i = scalarIndex(recvString(r), of: try a.string("sub")) else { throw FinchError("str.index(): substring \(repr(a["sub"])) not found") }
        return .int(i) },
    "count": m([.positional("sub")], "Number of non-overlapping occurrences of sub.") { r, a, _ in
        let sub = try a.string("sub")
        guard !sub.isEmpty else { return .int(recvString(r).unicodeScalars.count + 1) }
        return .int(splitExact(recvString(r), sub, -1).count - 1) },
    "format": m([.variadic("args"), .keywords("kwargs")], "Fill {} / {0} / {name} fields, with format specs, like Python's str.format.") { r, a, _ in
        .string(try formatTemplate(recvString(r), a.rest, a.extraKeywords)) },
    "isdigit": m([], "Whether every character is a digit (and there is at least one).") { r, _, _ in
        let s = recvString(r); return .bool(!s.isEmpty && s.allSatisfy { $0.isNumber }) },
    "isalpha": m([], "Whether every character is a letter (and there is at least one).") { r, _, _ in
        let s = recvString(r); return .bool(!s.isEmpty && s.allSatisfy { $0.isLetter }) },
    "isspace": m([], "Whether every character is whitespace (and there is at least one).") { r, _, _ in
        let s = recvString(r); return .bool(!s.isEmpty && s.allSatisfy { $0.isWhitespace }) },
    "zfill": m([.positional("width")], "Pad with zeros on the left to width.") { r, a, _ in
        let s = recvString(r), w = try a.int("width")
        guard w <= 10_000_000 else { throw FinchError("str.zfill(): width \(w) is too large") }
        let n = s.unicodeScalars.count
        guard w > n else { return .string(s) }
        if s.hasPrefix("-") || s.hasPrefix("+") { return .string(String(s.prefix(1)) + String(repeating: "0", count: w - n) + s.dropFirst()) }
        return .string(String(repeating: "0", count: w - n) + s) },
    "ljust": m([.positional("width"), .positional("fillchar", default: .string(" "))], "Left-justify in width.") { r, a, _ in
        .string(try formatValue(r, spec: "\(try a.string("fillchar"))<\(try a.int("width"))")) },
    "rjust": m([.positional("width"), .positional("fillchar", default: .string(" "))], "Right-justify in width.") { r, a, _ in
        .string(try formatValue(r, spec: "\(try a.string("fillchar"))>\(try a.int("width"))")) },
    "center": m([.positional("width"), .positional("fillchar", default: .string(" "))], "Center in width.") { r, a, _ in
        .string(try formatValue(r, spec: "\(try a.string("fillchar"))^\(try a.int("width"))")) },
]

let listMethods: [String: Method] = [
    "append": m([.positional("item")], "Add item at the end.") { r, a, _ in recvList(r).items.append(a["item"]); return .none },
    "extend": m([.positional("items")], "Add every element of items at the end.") { r, a, ctx in
        recvList(r).items += try ctx.iterate(a["items"]); return .none },
    "insert": m([.positional("index"), .positional("item")], "Insert item before index.") { r, a, _ in
        let l = recvList(r)
        var i = try a.int("index")
        if i < 0 { i += l.items.count }
        l.items.insert(a["item"], at: min(max(i, 0), l.items.count))
        return .none },
    "pop": m([.positional("index", default: .int(-1))], "Remove and return the item at index (default last).") { r, a, _ in
        let l = recvList(r)
        guard !l.items.isEmpty else { throw FinchError("pop from an empty list") }
        var i = try a.int("index")
        if i < 0 { i += l.items.count }
        guard i >= 0 && i < l.items.count else { throw FinchError("list.pop(): index \(try a.int("index")) out of range (length \(l.items.count))") }
        return l.items.remove(at: i) },
    "remove": m([.positional("item")], "Remove the first item equal to item.") { r, a, _ in
        let l = recvList(r)
        guard let i = try l.items.firstIndex(where: { try valuesEqual($0, a["item"]) }) else { throw FinchError("list.remove(): \(shortRepr(a["item"])) is not in the list") }
        l.items.remove(at: i); return .none },
    "index": m([.positional("item")], "Index of the first item equal to item.") { r, a, _ in
        guard let i = try recvList(r).items.firstIndex(where: { try valuesEqual($0, a["item"]) }) else { throw FinchError("list.index(): \(shortRepr(a["item"])) is not in the list") }
        return .int(i) },
    "count": m([.positional("item")], "Number of items equal to item.") { r, a, _ in
        .int(try recvList(r).items.filter { try valuesEqual($0, a["item"]) }.count) },
    "sort": m([.keyword("key", default: .none), .keyword("reverse", default: .bool(false))], "Sort in place (stable), optionally by key(item).") { r, a, ctx in
        let l = recvList(r)
        l.items = try sortValues(l.items, key: a["key"], reverse: try a.bool("reverse"), ctx)
        return .none },
    "reverse": m([], "Reverse in place.") { r, _, _ in recvList(r).items.reverse(); return .none },
    "copy": m([], "A shallow copy.") { r, _, _ in .list(FinchList(recvList(r).items)) },
    "clear": m([], "Remove every item.") { r, _, _ in recvList(r).items.removeAll(); return .none },
]

let dictMethods: [String: Method] = [
    "get": m([.positional("key"), .positional("default", default: .none)], "The value for key, or default.") { r, a, _ in
        guard let k = DictKey(a["key"]) else { return a["default"] }
        return recvDict(r)[k] ?? a["default"] },
    "keys": m([], "The keys, as a list.") { r, _, _ in .list(recvDict(r).keys.map(\.value)) },
    "values": m([], "The values, as a list.") { r, _, _ in .list(recvDict(r).values) },
    "items": m([], "[key, value] pairs, as a list.") { r, _, _ in .list(recvDict(r).pairs.map { Value.list([$0.value, $1]) }) },
    "update": m([.positional("other", default: .none), .keywords("kwargs")], "Set every key of other (and keyword arguments).") { r, a, _ in
        let d = recvDict(r)
        if !a.isNone("other") { for (k, v) in try a.dict("other").pairs { d[k] = v } }
        for (k, v) in a.extraKeywords { d[k] = v }
        return .none },
    "pop": m([.positional("key"), .positional("default", default: .none)], "Remove key and return its value (or default).") { r, a, _ in
        let d = recvDict(r)
        if let k = DictKey(a["key"]), let v = d.remove(k) { return v }
        if a.values["default"].map({ !$0.isNone }) == true { return a["default"] }
        throw FinchError("dict.pop(): key \(shortRepr(a["key"])) is not in the dict")
    },
    "setdefault": m([.positional("key"), .positional("default", default: .none)], "The value for key, inserting default first when absent.") { r, a, _ in
        let d = recvDict(r)
        guard let k = DictKey(a["key"]) else { throw FinchError("\(withArticle(a["key"].typeName)) cannot be a dict key") }
        if let v = d[k] { return v }
        d[k] = a["default"]
        return a["default"] },
    "copy": m([], "A shallow copy.") { r, _, _ in .dict(recvDict(r).copy()) },
    "clear": m([], "Remove every key.") { r, _, _ in let d = recvDict(r); for k in d.keys { d.remove(k) }; return .none },
]

/// Stable sort with an optional key function, as Python's `sorted`.
func sortValues(_ items: [Value], key: Value, reverse: Bool, _ ctx: Interpreter) throws -> [Value] {
    let keys: [Value] = key.isNone ? items : try items.map { try ctx.call(key, [$0]) }
    var order = Array(items.indices)
    var failure: Error? = nil
    // Merge sort is stable; Swift's sort is stable too (introsort was replaced), but we need throwing compares.
    order = try mergeSort(order) { i, j in
        if failure != nil { return false }
        do { return reverse ? try valueLess(keys[j], keys[i]) : try valueLess(keys[i], keys[j]) }
        catch { failure = error; return false }
    }
    if let f = failure { throw f }
    return order.map { items[$0] }
}

func mergeSort(_ a: [Int], _ less: (Int, Int) throws -> Bool) throws -> [Int] {
    if a.count <= 1 { return a }
    var src = a, dst = a
    var width = 1
    while width < src.count {
        var i = 0
        while i < src.count {
            let mid = min(i + width, src.count), hi = min(i + 2 * width, src.count)
            var l = i, r = mid, k = i
            while l < mid && r < hi {
                if try less(src[r], src[l]) { dst[k] = src[r]; r += 1 } else { dst[k] = src[l]; l += 1 }
                k += 1
            }
            while l < mid { dst[k] = src[l]; l += 1; k += 1 }
            while r < hi { dst[k] = src[r]; r += 1; k += 1 }
            i += 2 * width
        }
        swap(&src, &dst)
        width *= 2
    }
    return src
}

/// Python's str.format: `{}`, `{0}`, `{name}`, each with `!r`/`!s` and a format spec.
func formatTemplate(_ template: String, _ positional: [Value], _ keywords: [(String, Value)]) throws -> String {
    var out = ""
    var auto = 0
    let chars = Array(template)
    var i = 0
    while i < chars.count {
        let c = chars[i]
        if c == "{" {
            if i + 1 < chars.count && chars[i + 1] == "{" { out.append("{"); i += 2; continue }
            guard let close = chars[i...].firstIndex(of: "}") else { throw FinchError("str.format(): '{' without a closing '}'") }
            var field = String(chars[(i + 1)..<close])
            var spec = "", conv: Character? = nil
            if let colon = field.firstIndex(of: ":") { spec = String(field[field.index(after: colon)...]); field = String(field[..<colon]) }
            if let bang = field.firstIndex(of: "!") { conv = field[field.index(after: bang)...].first; field = String(field[..<bang]) }
            var v: Value
            if field.isEmpty {
                guard auto < positional.count else { throw FinchError("str.format(): not enough arguments for the template (needs more than \(positional.count))") }
                v = positional[auto]; auto += 1
            } else if let n = Int(field) {
                guard n >= 0 && n < positional.count else { throw FinchError("str.format(): no positional argument \(n)") }
                v = positional[n]
            } else {
                guard let kv = keywords.first(where: { $0.0 == field }) else {
                    let hint = suggestion(for: field, among: keywords.map(\.0))
                    throw FinchError("str.format(): no argument named '\(field)'\(hint.map { "; did you mean \($0)?" } ?? "")")
                }
                v = kv.1
            }
            if conv == "r" { v = .string(repr(v)) }
            out += try formatValue(v, spec: spec)
            i = close + 1
        } else if c == "}" {
            if i + 1 < chars.count && chars[i + 1] == "}" { out.append("}"); i += 2; continue }
            throw FinchError("str.format(): single '}' in the template; write '}}'")
        } else {
            out.append(c); i += 1
        }
    }
    return out
}
