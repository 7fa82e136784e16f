// Readers for local data files: JSON (an array of objects, or an object of equal-length columns, or
// JSON Lines saved as .json), JSON Lines, CSV (RFC 4180 quoting; numbers inferred per column).
#if canImport(FinchSupport)
import FinchSupport
#endif
import Foundation

enum DataFiles {
    static let extensions = ["json", "jsonl", "csv"]

    static func load(path: String) throws -> DataTable {
        let ext = (path as NSString).pathExtension.lowercased()
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError.notFound(path) }
        switch ext {
        case "json":
            do {
                return try fromJSON(try JSON.parse(data, options: .lenient), source: name)
            } catch let e as JSONError {
                // `datasets` also reads JSON Lines saved as .json
                if let rows = try? JSON.parseLines(data, options: .lenient), rows.count > 1 { return try fromRecords(rows, source: name) }
                throw DatasetError.parse(source: name, detail: "invalid JSON: \(e)")
            }
        case "jsonl":
            do { return try fromRecords(try JSON.parseLines(data, options: .lenient), source: name) }
            catch let e as JSONError { throw DatasetError.parse(source: name, detail: e.description) }
        case "csv": return try fromCSV(data, source: name)
        default: throw DatasetError.unsupportedFormat(path: name)
        }
    }

    static func fromJSON(_ v: JSON, source: String) throws -> DataTable {
        switch v {
        case .array(let items): return try fromRecords(items, source: source)
        case .object(let pairs):
            // an object of columns: {"a": [..], "b": [..]}
            if !pairs.isEmpty, pairs.allSatisfy({ $0.1.arrayValue != nil }) {
                let n = pairs[0].1.arrayValue!.count
                for (k, col) in pairs where col.arrayValue!.count != n {
                    throw DatasetError.badRow(source: source, row: min(n, col.arrayValue!.count), field: k,
                                              detail: "column has \(col.arrayValue!.count) values, expected \(n)")
                }
                let cols = pairs.map(\.0)
                let values = (0..<n).map { i in pairs.map { $0.1.arrayValue![i] } }
                return try validated(DataTable(columns: cols, values: values), source: source)
            }
            // {"data": [...]} style wrappers
            if let (_, inner) = pairs.first(where: { $0.1.arrayValue?.first?.objectValue != nil }) { return try fromJSON(inner, source: source) }
            throw DatasetError.parse(source: source, detail: "expected an array of objects or an object of columns")
        default: throw DatasetError.parse(source: source, detail: "expected an array of objects or an object of columns, found \(v.typeName)")
        }
    }

    static func fromRecords(_ items: [JSON], source: String) throws -> DataTable {
        guard let first = items.first else { return DataTable(columns: [], values: []) }
        guard let firstObj = first.objectValue else {
            throw DatasetError.badRow(source: source, row: 0, field: "", detail: "expected an object, found \(first.typeName)")
        }
        let columns = firstObj.map(\.0)
        var values: [[JSON]] = []
        values.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let obj = item.objectValue else { throw DatasetError.badRow(source: source, row: i, field: "", detail: "expected an object, found \(item.typeName)") }
            var row: [JSON] = []
            row.reserveCapacity(columns.count)
            for c in columns {
                guard let v = obj.first(where: { $0.0 == c })?.1 else { throw DatasetError.badRow(source: source, row: i, field: c, detail: "missing field") }
                row.append(v)
            }
            if obj.count != columns.count, let extra = obj.first(where: { !columns.contains($0.0) }) {
                throw DatasetError.badRow(source: source, row: i, field: extra.0, detail: "unexpected field (not in row 0)")
            }
            values.append(row)
        }
        return try validated(DataTable(columns: columns, values: values), source: source)
    }

    /// Every column holds one type (numbers may mix ints and floats; null is allowed anywhere).
    static func validated(_ d: DataTable, source: String) throws -> DataTable {
        for (c, name) in d.columns.enumerated() {
            var type: String? = nil
            for (i, row) in d.values.enumerated() {
                let v = row[c]
                if case .null = v { continue }
                let t = v.typeName
                if let type, type != t { throw DatasetError.badRow(source: source, row: i, field: name, detail: "expected \(type), found \(t)") }
                type = t
            }
        }
        return d
    }

    /// RFC 4180: fields separated by commas, optionally quoted with "", quotes doubled inside, CRLF or LF.
    static func parseCSV(_ data: Data, source: String) throws -> [[String]] {
        var records: [[String]] = []
        var field = [UInt8](), record: [String] = []
        var inQuotes = false, wasQuoted = false
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var i = 0
        var line = 1
        func endField() { record.append(String(decoding: field, as: UTF8.self)); field.removeAll(keepingCapacity: true); wasQuoted = false }
        while i < bytes.count {
            let c = bytes[i]
            if inQuotes {
                if c == 34 {
                    if i + 1 < bytes.count && bytes[i + 1] == 34 { field.append(34); i += 2; continue }
                    inQuotes = false; i += 1; continue
                }
                if c == 10 { line += 1 }
                field.append(c); i += 1; continue
            }
            switch c {
            case 34:
                guard field.isEmpty && !wasQuoted else { throw DatasetError.parse(source: source, detail: "line \(line): quote inside an unquoted field") }
                inQuotes = true; wasQuoted = true
            case 44: endField()
            case 13 where i + 1 < bytes.count && bytes[i + 1] == 10: break
            case 10:
                endField(); records.append(record); record = []; line += 1
            default:
                if wasQuoted { throw DatasetError.parse(source: source, detail: "line \(line): text after a closing quote") }
                field.append(c)
            }
            i += 1
        }
        if inQuotes { throw DatasetError.parse(source: source, detail: "unterminated quoted field starting before line \(line)") }
        if !field.isEmpty || !record.isEmpty || wasQuoted { endField(); records.append(record) }
        return records
    }

    static func fromCSV(_ data: Data, source: String) throws -> DataTable {
        let records = try parseCSV(data, source: source)
        guard let header = records.first else { return DataTable(columns: [], values: []) }
        var rows: [[String]] = []
        for (i, r) in records.dropFirst().enumerated() {
            if r == [""] { continue }  // blank line
            guard r.count == header.count else {
                let field = r.count < header.count ? header[r.count] : "(extra)"
                throw DatasetError.badRow(source: source, row: i, field: field, detail: "\(r.count) fields, header has \(header.count)")
            }
            rows.append(r)
        }
        // infer per column: all ints → int, all numbers → double, else string; empty → null
        var columns: [[JSON]] = Array(repeating: [], count: header.count)
        for c in header.indices {
            let cells = rows.map { $0[c] }
            let nonEmpty = cells.filter { !$0.isEmpty }
            if !nonEmpty.isEmpty, nonEmpty.allSatisfy({ Int($0) != nil }) {
                columns[c] = cells.map { $0.isEmpty ? .null : .int(Int($0)!) }
            } else if !nonEmpty.isEmpty, nonEmpty.allSatisfy({ Double($0) != nil && !$0.lowercased().contains("n") }) {
                columns[c] = cells.map { $0.isEmpty ? .null : .double(Double($0)!) }
            } else {
                columns[c] = cells.map { .string($0) }
            }
        }
        let values = rows.indices.map { r in header.indices.map { columns[$0][r] } }
        return DataTable(columns: header, values: values)
    }
}
