import Foundation
import FinchLang

/// A `.cell` notebook: plain text where a line starting with `%%` opens a cell.
///   `%% name`  a code cell named name      `%% [md]`  a markdown cell      `%%`  an unnamed code cell
/// Text before the first marker is an unnamed first cell.
public struct Notebook: Sendable {
    public enum Kind: Sendable, Equatable { case code, markdown }

    public struct Cell: Sendable {
        public var name: String?
        public var kind: Kind
        public var source: String
        /// 1-based line of the `%%` marker (0 for text before the first marker).
        public var markerLine: Int
        /// 1-based line of the first source line.
        public var firstLine: Int
        /// 1-based position among all cells.
        public var index: Int
        /// From `%% name [tag, …]`, e.g. `model` for cells that need the embedded model.
        public var tags: [String] = []
        /// What messages call the cell: its name, or "#3" for the third cell when unnamed.
        public var label: String { name ?? "#\(index)" }
    }

    public var path: String
    public var cells: [Cell]

    public init(path: String, cells: [Cell]) {
        self.path = path
        self.cells = cells
    }

    public static func load(path: String) throws -> Notebook {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw NotebookError("\(path): no such file")
        }
        if isDirectory.boolValue {
            throw NotebookError("\(path): is a directory, not a notebook; give the .cell file inside it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NotebookError("\(path): cannot read the notebook (no permission)")
        }
        return try parse(data: data, path: path)
    }

    public static func parse(data: Data, path: String) throws -> Notebook {
        guard let text = String(validatingUTF8Data: data) else {
            let (line, col) = firstInvalidUTF8(data)
            throw NotebookError("\(path):\(line):\(col): the notebook is not valid UTF-8 text (a binary file?)")
        }
        return try parse(text: text, path: path)
    }

    public static func parse(text: String, path: String) throws -> Notebook {
        var cells: [Cell] = []
        var current = Cell(name: nil, kind: .code, source: "", markerLine: 0, firstLine: 1, index: 1)
        var lines: [Substring] = []
        var seen: [String: Int] = [:]
        var errors: [String] = []
        func flush() {
            current.source = lines.joined(separator: "\n")
            if !lines.isEmpty && !(current.markerLine == 0 && lines.allSatisfy { $0.allSatisfy(\.isWhitespace) }) {
                if !current.source.hasSuffix("\n") { current.source += "\n" }
                current.index = cells.count + 1
                cells.append(current)
            } else if current.markerLine > 0 {
                current.index = cells.count + 1
                current.source = ""
                cells.append(current)
            }
            lines = []
        }
        let all = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, raw) in all.enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let n = i + 1
            guard line.hasPrefix("%%") else {
                if !(i == all.count - 1 && line.isEmpty) { lines.append(line) }
                continue
            }
            flush()
            let header = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            current = Cell(name: nil, kind: .code, source: "", markerLine: n, firstLine: n + 1, index: 0)
            var nameText = header
            if let open = header.firstIndex(of: "["), header.hasSuffix("]") {
                // `%% train [model, slow]`: tags in brackets after the name.
                nameText = header[..<open].trimmingCharacters(in: .whitespaces)
                current.tags = header[header.index(after: open)..<header.index(before: header.endIndex)]
                    .split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
            }
            if nameText.isEmpty && (current.tags == ["md"] || current.tags == ["markdown"]) {
                current.kind = .markdown
                current.tags = []
            } else if !nameText.isEmpty {
                let name = nameText
                if !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) {
                    errors.append("\(path):\(n): cell name '\(name)' must be one word (letters, digits, _ - .)")
                } else if let first = seen[name] {
                    errors.append("\(path):\(n): duplicate cell name '\(name)' (first used on line \(first)); cell names must be unique")
                } else {
                    seen[name] = n
                }
                current.name = name
            }
        }
        flush()
        if !errors.isEmpty { throw NotebookError(errors.joined(separator: "\n")) }
        return Notebook(path: path, cells: cells)
    }

    /// The cell's source as the interpreter sees it: positions are reported as notebook lines.
    public func sourceFile(_ cell: Cell) -> SourceFile {
        SourceFile(name: path, text: cell.source, firstLine: cell.firstLine, cell: cell.label)
    }

    public func cell(named name: String) throws -> Cell {
        if let c = cells.first(where: { $0.name == name }) { return c }
        if name.hasPrefix("#"), let i = Int(name.dropFirst()), i >= 1, i <= cells.count { return cells[i - 1] }
        let names = cells.compactMap(\.name)
        let hint = FinchLang.suggestion(for: name, among: names)
        throw NotebookError("\(path): no cell named '\(name)'\(hint.map { "; did you mean \($0)?" } ?? ""); cells: \(names.isEmpty ? "(none named)" : names.joined(separator: ", "))")
    }

    /// The notebook as `.cell` text (used by the REPL's `:save`).
    public static func render(_ cells: [(name: String?, kind: Kind, source: String)]) -> String {
        var out = ""
        for (i, c) in cells.enumerated() {
            if c.kind == .markdown { out += "%% [md]\n" }
            else if let n = c.name { out += "%% \(n)\n" }
            else if i > 0 || !out.isEmpty { out += "%%\n" }
            out += c.source
            if !c.source.hasSuffix("\n") { out += "\n" }
        }
        return out
    }
}

public struct NotebookError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    init?(validatingUTF8Data data: Data) {
        var it = data.makeIterator()
        var decoder = UTF8()
        var out = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): out.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(out)
    }
}

/// Line and column (1-based, in bytes) of the first byte that is not valid UTF-8.
func firstInvalidUTF8(_ data: Data) -> (Int, Int) {
    let bytes = [UInt8](data)
    var line = 1, col = 1, i = 0
    while i < bytes.count {
        let b = bytes[i]
        var len = 0
        if b < 0x80 { len = 1 } else if b & 0xE0 == 0xC0 { len = 2 } else if b & 0xF0 == 0xE0 { len = 3 } else if b & 0xF8 == 0xF0 { len = 4 }
        if len == 0 || i + len > bytes.count { return (line, col) }
        var decoder = UTF8()
        var it = bytes[i..<(i + len)].makeIterator()
        if case .error = decoder.decode(&it) { return (line, col) }
        if b == 0x0A { line += 1; col = 1 } else { col += 1 }
        i += len
    }
    return (line, col)
}
