// An in-memory dataset: rows of insertion-ordered dicts. `dataset(list_of_dicts)` makes one; the Hub
// code builds the same type from files, so everything downstream sees one Dataset.

/// An object that `dataset.map(obj)` asks for the columns to add to each row (a prompt style adds
/// the rendered `text` and where its response starts).
public protocol DatasetRowMapper: FinchObject {
    func mapRow(_ row: FinchDict, index: Int, _ ctx: CallContext) throws -> FinchDict
}

public final class Dataset: FinchObject {
    public var rows: [FinchDict]
    /// Where it came from, shown when printed ("medical-o1 (train)"); nil for in-memory data.
    public var name: String?

    public init(rows: [FinchDict], name: String? = nil) {
        self.rows = rows
        self.name = name
    }

    /// From a Finch list of dicts, with an error naming the argument and the bad row.
    public convenience init(rowsValue: Value, argument: String, function: String) throws {
        guard case .list(let l) = rowsValue else {
            throw FinchError("\(function)(): argument '\(argument)' must be a list of dicts, got \(rowsValue.typeName)")
        }
        let rows = try l.items.enumerated().map { (i, v) -> FinchDict in
            guard case .dict(let d) = v else { throw FinchError("\(function)(): row \(i) is \(withArticle(v.typeName)), not a dict") }
            return d.copy()
        }
        self.init(rows: rows)
    }

    /// Column names in first-seen order.
    public var columns: [String] {
        var seen = Set<String>(), out: [String] = []
        for r in rows { for k in r.keys { if case .string(let s) = k, seen.insert(s).inserted { out.append(s) } } }
        return out
    }

    public var typeName: String { "Dataset" }
    public var description: String {
        let cols = columns
        return "Dataset(\(rows.count) row\(rows.count == 1 ? "" : "s"); columns: \(cols.isEmpty ? "none" : cols.joined(separator: ", "))\(name.map { "; from \($0)" } ?? ""))"
    }

    /// A small table of the first rows.
    public var display: String {
        let cols = columns, shown = rows.prefix(5)
        var table: [[String]] = [["#"] + cols]
        for (i, r) in shown.enumerated() {
            table.append([String(i)] + cols.map { c in
                let v = r[c] ?? .none
                var s = (v.typeName == "str" ? str(v) : repr(v)).replacingAll("\n", with: "⏎")
                if s.count > 28 { s = String(s.prefix(27)) + "…" }
                return s
            })
        }
        let widths = (0..<table[0].count).map { c in table.map { $0[c].count }.max() ?? 0 }
        var out = description + "\n"
        for row in table {
            out += row.enumerated().map { c, cell in cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingTrailingSpaces() + "\n"
        }
        if rows.count > shown.count { out += "… \(rows.count - shown.count) more rows\n" }
        out.removeLast()
        return out
    }

    public var attributeNames: [String] { ["columns", "num_rows", "name"] }
    public var methodNames: [String] { ["select", "shuffle", "filter", "map", "to_list", "take", "column"] }
    public var length: Int? { rows.count }
    public var jsonValue: Value? { .list(rows.map { .dict($0.copy()) }) }
    public var fingerprint: String? { (try? toJSON(jsonValue!)).map { "Dataset:" + $0 } }

    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        switch name {
        case "columns": return .list(columns.map { .string($0) })
        case "num_rows": return .int(rows.count)
        case "name": return self.name.map { Value.string($0) } ?? Value.none
        default: return nil
        }
    }

    public func getItem(_ index: Value, _ ctx: CallContext) throws -> Value? {
        switch index {
        case .int(let i):
            let j = i < 0 ? i + rows.count : i
            guard j >= 0 && j < rows.count else { throw FinchError("dataset index \(i) out of range (\(rows.count) rows)") }
            return .dict(rows[j].copy())
        case .string(let c):
            guard columns.contains(c) else {
                throw FinchError("dataset has no column '\(c)'\(suggestion(for: c, among: columns).map { "; did you mean \($0)?" } ?? ""); columns: \(columns.joined(separator: ", "))")
            }
            return .list(rows.map { $0[c] ?? .none })
        default:
            throw FinchError("dataset index must be an int (a row) or a string (a column), got \(index.typeName)")
        }
    }

    public func iterate(_ ctx: CallContext) throws -> [Value]? { rows.map { .dict($0.copy()) } }

    public func callMethod(_ method: String, _ args: CallArgs, _ ctx: CallContext) throws -> Value? {
        let fn = "Dataset.\(method)"
        switch method {
        case "select":
            let a = try Signature([.positional("indices")]).bind(function: fn, args)
            let picked = try ctx.iterate(a["indices"]).map { v -> FinchDict in
                guard case .int(let i) = v else { throw a.typeError("indices", "a list of ints") }
                let j = i < 0 ? i + rows.count : i
                guard j >= 0 && j < rows.count else { throw FinchError("\(fn)(): index \(i) out of range (\(rows.count) rows)") }
                return rows[j]
            }
            return .object(Dataset(rows: picked, name: name))
        case "take":
            let a = try Signature([.positional("n")]).bind(function: fn, args)
            return .object(Dataset(rows: Array(rows.prefix(max(0, try a.int("n")))), name: name))
        case "shuffle":
            let a = try Signature([.keyword("seed", default: .int(0))]).bind(function: fn, args)
            var rng = SplitMix64(seed: UInt64(bitPattern: Int64(try a.int("seed"))))
            var out = rows
            if out.count > 1 {
                for i in stride(from: out.count - 1, to: 0, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    out.swapAt(i, j)
                }
            }
            return .object(Dataset(rows: out, name: name))
        case "filter":
            let a = try Signature([.positional("fn")]).bind(function: fn, args)
            let f = try a.callable("fn")
            return .object(Dataset(rows: try rows.filter { try ctx.call(f, [.dict($0.copy())]).isTruthy }, name: name))
        case "map":
            let a = try Signature([.positional("fn")]).bind(function: fn, args)
            let f = try a.callable("fn")
            let mapper: DatasetRowMapper? = { if case .object(let o) = f { return o as? DatasetRowMapper }; return nil }()
            let mapped = try rows.enumerated().map { (i, r) -> FinchDict in
                let out = try mapper.map { try .dict($0.mapRow(r, index: i, ctx)) } ?? ctx.call(f, [.dict(r.copy())])
                guard case .dict(let d) = out else {
                    throw FinchError("\(fn)(): the function must return a dict of columns, but for row \(i) it returned \(out.typeName)")
                }
                let merged = r.copy()
                for (k, v) in d.pairs { merged[k] = v }
                return merged
            }
            return .object(Dataset(rows: mapped, name: name))
        case "to_list":
            _ = try Signature([]).bind(function: fn, args)
            return .list(rows.map { .dict($0.copy()) })
        case "column":
            let a = try Signature([.positional("name")]).bind(function: fn, args)
            return try getItem(.string(try a.string("name")), ctx)
        default:
            return nil
        }
    }
}

/// A small deterministic generator so `shuffle(seed=…)` gives the same order on every machine.
public struct SplitMix64 {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

extension String {
    func replacingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
