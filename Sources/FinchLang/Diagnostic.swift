// Errors the user sees: a position in a named source (a cell or a file), the source line, a caret,
// and for runtime errors inside functions the call stack.

/// A piece of Finch source with a name shown in messages ("cell train", "stdlib/text.fin", "<repl>").
public final class SourceFile: @unchecked Sendable {
    public let name: String
    public let text: String
    /// Line number of the first line of `text` within a larger file (a cell inside a notebook).
    public let firstLine: Int
    /// The notebook cell this source is, when it is one ("train", "#3").
    public let cell: String?
    private var cachedLines: [Substring]?

    public init(name: String, text: String, firstLine: Int = 1, cell: String? = nil) {
        self.name = name
        self.text = text
        self.firstLine = firstLine
        self.cell = cell
    }

    /// The text of a 1-based line relative to this source, or "" when out of range.
    public func line(_ number: Int) -> String {
        if cachedLines == nil {
            cachedLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        }
        let lines = cachedLines!
        guard number >= 1, number <= lines.count else { return "" }
        var l = String(lines[number - 1])
        if l.hasSuffix("\r") { l.removeLast() }
        return l
    }
}

/// A position inside a SourceFile: 1-based line and column (columns count Unicode scalars).
public struct Pos: Equatable, Sendable {
    public var line: Int32
    public var column: Int32
    public init(line: Int, column: Int) {
        self.line = Int32(truncatingIfNeeded: line)
        self.column = Int32(truncatingIfNeeded: column)
    }
    public static let unknown = Pos(line: 0, column: 0)
}

/// One entry in a runtime error's call stack: the call site that entered `function`.
public struct StackFrame: Sendable, Equatable {
    public var function: String
    public var source: String
    public var line: Int
    public var column: Int
}

public struct Diagnostic: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case syntax = "syntax error", runtime = "error", interrupted = "interrupted" }
    public var kind: Kind
    public var message: String
    /// The source's name: a notebook path, a stdlib file, "<input>" at the prompt.
    public var source: String
    /// The notebook cell, when the source is one; `render` names it.
    public var cell: String?
    /// Line and column in the file the user edits (notebook lines, not cell-relative); 0 when unknown.
    public var line: Int
    public var column: Int
    public var sourceLine: String
    /// Innermost call last, like Python's traceback.
    public var stack: [StackFrame]

    public init(kind: Kind, message: String, source: String, line: Int, column: Int, sourceLine: String, stack: [StackFrame] = []) {
        self.kind = kind; self.message = message; self.source = source
        self.line = line; self.column = column; self.sourceLine = sourceLine; self.stack = stack
    }

    public init(kind: Kind, message: String, file: SourceFile, pos: Pos, stack: [StackFrame] = []) {
        let rel = Int(pos.line)
        self.init(kind: kind, message: message, source: file.name,
                  line: rel > 0 ? rel + file.firstLine - 1 : 0, column: Int(pos.column),
                  sourceLine: rel > 0 ? file.line(rel) : "", stack: stack)
        cell = file.cell
    }

    /// "cell train:3:7: error: name 'lod' is not defined; did you mean load?" + source line + caret + stack.
    public func render(color: Bool = false, withCell: Bool = true) -> String {
        let red = color ? "\u{1B}[1;31m" : "", bold = color ? "\u{1B}[1m" : "", reset = color ? "\u{1B}[0m" : ""
        var out = ""
        if let cell, withCell { out += "in cell \(cell):\n" }
        if line > 0 {
            out += "\(bold)\(source):\(line):\(column):\(reset) \(red)\(kind.rawValue):\(reset) \(message)\n"
        } else {
            out += "\(bold)\(source):\(reset) \(red)\(kind.rawValue):\(reset) \(message)\n"
        }
        if line > 0 && !sourceLine.isEmpty {
            let gutter = String(line)
            out += "  \(gutter) | \(sourceLine)\n"
            // Tabs in the source keep the caret aligned.
            var pad = ""
            for (i, ch) in sourceLine.unicodeScalars.enumerated() where i < column - 1 { pad.append(ch == "\t" ? "\t" : " ") }
            out += "  \(String(repeating: " ", count: gutter.count)) | \(pad)\(red)^\(reset)\n"
        }
        if !stack.isEmpty {
            out += "call stack (innermost last):\n"
            // Like Python, a frame repeated more than 3 times in a row (deep recursion) is shown 3 times
            // and then counted.
            var i = 0
            while i < stack.count {
                var run = 1
                while i + run < stack.count && stack[i + run] == stack[i] { run += 1 }
                for _ in 0..<min(run, 3) { out += "  \(stack[i].source):\(stack[i].line):\(stack[i].column) in \(stack[i].function)\n" }
                if run > 3 { out += "  … repeated \(run - 3) more time\(run - 3 == 1 ? "" : "s")\n" }
                i += run
            }
        }
        return out
    }

    public var description: String { render() }
}

/// All syntax errors found in one source.
public struct SyntaxErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var description: String { diagnostics.map { $0.render() }.joined() }
}

/// A runtime error before it is tied to a source position; the interpreter adds the position.
public struct FinchError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Thrown when the user pressed Ctrl-C; notebooks exit 130, the REPL returns to its prompt.
public struct Interrupted: Error, Sendable {
    public init() {}
}
