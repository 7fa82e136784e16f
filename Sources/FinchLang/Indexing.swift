// Indexing, slicing, item assignment and iteration with Python's rules.

extension Interpreter {

    func getItem(_ obj: Value, _ idx: Value) throws -> Value {
        switch obj {
        case .list(let l):
            return l.items[try normalizeIndex(idx, l.items.count, "list")]
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            return .string(String(scalars[try normalizeIndex(idx, scalars.count, "string")]))
        case .dict(let d):
            guard let k = DictKey(idx) else { throw FinchError("\(withArticle(idx.typeName)) cannot be a dict key") }
            if let v = d[k] { return v }
            var msg = "key \(repr(idx)) is not in the dict"
            let names = d.keys.compactMap { if case .string(let s) = $0 { return s }; return nil }
            if case .string(let s) = idx, let hint = suggestion(for: s, among: names) { msg += "; did you mean \"\(hint)\"?" }
            else if d.count <= 10 { msg += " (keys: \(d.keys.map { repr($0.value) }.joined(separator: ", ")))" }
            throw FinchError(msg)
        case .object(let o):
            if let v = try o.getItem(idx, self) { return v }
            throw FinchError("\(withArticle(o.typeName)) cannot be indexed")
        default:
            throw FinchError("\(withArticle(obj.typeName)) cannot be indexed")
        }
    }

    func normalizeIndex(_ idx: Value, _ count: Int, _ what: String) throws -> Int {
        let i: Int
        switch idx {
        case .int(let v): i = v
        case .bool(let b): i = b ? 1 : 0
        default: throw FinchError("\(what) index must be an int, got \(idx.typeName) \(shortRepr(idx))")
        }
        let j = i < 0 ? i + count : i
        guard j >= 0 && j < count else { throw FinchError("\(what) index \(i) out of range (length \(count))") }
        return j
    }

    func setItem(_ obj: Value, _ idx: Value, _ value: Value) throws {
        switch obj {
        case .list(let l):
            l.items[try normalizeIndex(idx, l.items.count, "list")] = value
        case .dict(let d):
            guard let k = DictKey(idx) else { throw FinchError("\(withArticle(idx.typeName)) cannot be a dict key") }
            d[k] = value
        case .string:
            throw FinchError("strings cannot be changed in place; build a new one, e.g. s[:i] + c + s[i+1:]")
        default:
            throw FinchError("\(withArticle(obj.typeName)) does not support item assignment")
        }
    }

    func slice(_ obj: Value, _ lo: Value, _ hi: Value, _ step: Value) throws -> Value {
        func intOrNil(_ v: Value, _ what: String) throws -> Int? {
            switch v {
            case .none: return nil
            case .int(let i): return i
            default: throw FinchError("slice \(what) must be an int or none, got \(v.typeName)")
            }
        }
        let st = try intOrNil(step, "step") ?? 1
        guard st != 0 else { throw FinchError("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ v: Int?, _ def: Int) -> Int {
                guard var x = v else { return def }
                if x < 0 { x += count }
                if st > 0 { return min(max(x, 0), count) }
                return min(max(x, -1), count - 1)
            }
            let start = clamp(try intOrNil(lo, "start"), st > 0 ? 0 : count - 1)
            let stop = clamp(try intOrNil(hi, "stop"), st > 0 ? count : -1)
            return Array(stride(from: start, to: stop, by: st))
        }
        switch obj {
        case .list(let l): return .list(FinchList(try indices(l.items.count).map { l.items[$0] }))
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .object(let o):
            guard let n = o.length else { break }
            let picked = try indices(n).map { Value.int($0) }
            if let v = try o.callMethod("select", CallArgs([.list(FinchList(picked))]), self) { return v }
        default: break
        }
        throw FinchError("\(withArticle(obj.typeName)) cannot be sliced")
    }

    /// The elements `for x in v` visits.
    public func iterate(_ v: Value) throws -> [Value] {
        switch v {
        case .list(let l): return l.items
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .dict(let d): return d.keys.map(\.value)
        case .object(let o):
            if let items = try o.iterate(self) { return items }
            if let n = o.length { return try (0..<n).map { try getItem(v, .int($0)) } }
            throw FinchError("cannot iterate over \(withArticle(o.typeName))")
        default:
            throw FinchError("cannot iterate over \(withArticle(v.typeName)) \(shortRepr(v))")
        }
    }
}
