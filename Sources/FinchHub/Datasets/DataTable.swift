// A table of rows with named columns, as `load_dataset` returns it. Values are JSON values; every row
// has every column (checked at load time, so a bad row is reported once, with its index and field).
#if canImport(FinchSupport)
import FinchSupport
#endif
import Foundation

public struct DataTable: Sendable, CustomStringConvertible {
    public var columns: [String]
    /// Row-major values aligned with `columns`.
    public var values: [[JSON]]

    public init(columns: [String], values: [[JSON]]) { self.columns = columns; self.values = values }

    public var count: Int { values.count }

    public func row(_ i: Int) -> [(String, JSON)] { Array(zip(columns, values[i])) }
    /// The rows as ordered (name, value) pairs: what the language binding turns into dicts.
    public var rows: [[(String, JSON)]] { values.indices.map(row) }

    public func column(_ name: String) -> [JSON]? {
        guard let c = columns.firstIndex(of: name) else { return nil }
        return values.map { $0[c] }
    }

    public func select(_ indices: [Int]) -> DataTable {
        DataTable(columns: columns, values: indices.filter { values.indices.contains($0) }.map { values[$0] })
    }

    public func slice(_ r: Range<Int>) -> DataTable {
        let lo = max(0, min(r.lowerBound, count)), hi = max(lo, min(r.upperBound, count))
        return DataTable(columns: columns, values: Array(values[lo..<hi]))
    }

    /// A seeded Fisher–Yates shuffle (SplitMix64): the same seed gives the same order on every machine.
    public func shuffled(seed: UInt64) -> DataTable {
        var rng = SplitMix64(seed: seed)
        var idx = Array(values.indices)
        if idx.count > 1 {
            for i in stride(from: idx.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                idx.swapAt(i, j)
            }
        }
        return select(idx)
    }

    /// Shuffles with `seed`, then the first `testSize` fraction (rounded up, as `datasets` does) is test.
    public func trainTestSplit(testSize: Double, seed: UInt64) -> (train: DataTable, test: DataTable) {
        let n = count
        let nTest = Int((testSize * Double(n)).rounded(.up))
        let s = shuffled(seed: seed)
        return (s.slice(nTest..<n), s.slice(0..<nTest))
    }

    public func appending(_ other: DataTable) throws -> DataTable {
        guard other.columns == columns || count == 0 else {
            throw DatasetError.schemaMismatch(expected: columns, found: other.columns, source: "combined splits")
        }
        return DataTable(columns: count == 0 ? other.columns : columns, values: values + other.values)
    }

    /// A small table preview: first rows, long cells cut.
    public func preview(maxRows: Int = 5, maxWidth requested: Int = 24) -> String {
        let maxWidth = max(2, requested)
        let maxRows = max(0, maxRows)
        func cell(_ v: JSON) -> String {
            var s = v.stringValue ?? v.description
            s = s.replacingOccurrences(of: "\n", with: "⏎")
            return s.count > maxWidth ? String(s.prefix(maxWidth - 1)) + "…" : s
        }
        let shown = values.prefix(maxRows).map { $0.map(cell) }
        var widths = columns.map { min($0.count, maxWidth) }
        for r in shown { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " │ ")
        }
        var out = "DataTable(\(count) rows × \(columns.count) columns)\n"
        out += line(columns.map { $0.count > maxWidth ? String($0.prefix(maxWidth - 1)) + "…" : $0 }) + "\n"
        out += widths.map { String(repeating: "─", count: $0) }.joined(separator: "─┼─") + "\n"
        for r in shown { out += line(r) + "\n" }
        if count > maxRows { out += "… \(count - maxRows) more rows\n" }
        return out
    }

    public var description: String { preview() }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case fileNotFound(path: String, directory: String)
    case unsupportedFormat(path: String)
    case parse(source: String, detail: String)
    case badRow(source: String, row: Int, field: String, detail: String)
    case schemaMismatch(expected: [String], found: [String], source: String)
    case invalidSplit(String)
    case splitNotFound(split: String, available: [String])
    case configNotFound(name: String, available: [String])
    case configRequired(available: [String])
    case noDataFiles(source: String)

    public var description: String {
        switch self {
        case .notFound(let s): return "dataset \(s) not found: not a local file or folder, and not a Hub dataset id"
        case let .fileNotFound(p, dir): return "\(p): file not found (relative paths start in \(dir)); check the name, or give a Hub dataset id as \"org/name\""
        case .unsupportedFormat(let p): return "\(p): unsupported data file format (use .json, .jsonl or .csv)"
        case let .parse(s, d): return "\(s): \(d)"
        case let .badRow(s, row, field, d): return "\(s): row \(row), field \"\(field)\": \(d)"
        case let .schemaMismatch(e, f, s): return "\(s): columns \(f) do not match \(e)"
        case .invalidSplit(let s): return "invalid split \"\(s)\": use e.g. \"train\", \"train[:500]\", \"train[10%:]\", \"train[-100:]\""
        case let .splitNotFound(s, a): return "split \"\(s)\" not found; available: \(a.joined(separator: ", "))"
        case let .configNotFound(n, a): return "config \"\(n)\" not found; available: \(a.joined(separator: ", "))"
        case .configRequired(let a): return "this dataset has several configs; pick one: \(a.joined(separator: ", "))"
        case .noDataFiles(let s): return "\(s) has no .json, .jsonl or .csv data files"
        }
    }
}
