import Foundation
import FinchSupport
import FinchLang

public struct RunOptions: Sendable {
    public var only: [String] = []
    public var from: String? = nil
    /// `-p name=value` in order.
    public var params: [(String, String)] = []
    public var keepGoing = false
    public var fresh = false
    public var writeTranscript = true
    /// Where the transcript goes (images in its `.out/` sibling); nil: `nb.out.md` beside the notebook.
    public var transcriptPath: String? = nil
    /// Cells carrying any of these tags are skipped (e.g. `model` cells in debug test runs).
    public var skipTags: [String] = []
    public var color = false
    public init() {}
}

/// What happened to one cell, for the transcript.
public struct CellOutcome: Sendable {
    public enum Status: Sendable, Equatable { case ok, failed, interrupted, skipped, markdown }
    public var cell: Notebook.Cell
    public var status: Status
    public var output: String
    public var error: String?
    public var seconds: Double
    public var images: [String]
}

/// Runs a notebook's cells in one session: stdout gets exactly what cells print; headers, timing and
/// errors go to stderr; the transcript goes beside the notebook.
public final class NotebookRunner {
    public let notebook: Notebook
    public let options: RunOptions
    public let interpreter: Interpreter
    public let context: NotebookContext
    public var standardOutput: (String) -> Void = OutputSink.writeStandardOutput
    public var standardError: (String) -> Void = OutputSink.writeStandardError
    public private(set) var outcomes: [CellOutcome] = []

    public init(notebook: Notebook, options: RunOptions, interpreter: Interpreter? = nil) {
        self.notebook = notebook
        self.options = options
        let interpreter = interpreter ?? Interpreter(registry: makeRegistry())
        // The path rule: the notebook's relative paths resolve against its folder, whatever the working directory.
        interpreter.baseDirectory = URL(fileURLWithPath: notebook.path).deletingLastPathComponent().standardized.path
        self.interpreter = interpreter
        let transcript = options.transcriptPath.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: URL(fileURLWithPath: notebook.path).deletingPathExtension().path + ".out.md")
        let out = transcript.deletingPathExtension()
        // Images belong to the transcript: without one they go to a temporary folder, never over the
        // `nb.out/` files of a transcript kept beside the notebook.
        let images = options.writeTranscript ? URL(fileURLWithPath: out.path)
            : FileManager.default.temporaryDirectory.appendingPathComponent("finch-\(getpid())/\(out.lastPathComponent)")
        transcriptPath = transcript.path
        context = NotebookContext(memo: nil, imageDirectory: images)
        context.install(in: interpreter)
    }

    public let transcriptPath: String

    /// Runs and returns the exit code: 0 success, 1 an error, 130 interrupted.
    public func run() -> Int32 {
        let stderrWrite = standardError
        context.memo = MemoCache.beside(notebook: notebook.path, fresh: options.fresh, log: { stderrWrite($0) })
        let plan: [Bool]
        let overrides: [(String, Value)]
        do {
            plan = try selectCells()
            overrides = try resolveParams()
        } catch {
            standardError("finch: \(error)\n")
            return 1
        }
        var exitCode: Int32 = 0
        var paramsApplied = overrides.isEmpty
        // Overrides go in right after the params cell runs; when it does not run (--from past it,
        // --only), before the first cell that does. Text before the first `%%` is a cell too.
        let paramsRuns = notebook.cells.indices.contains { i in
            notebook.cells[i].name == "params" && plan[i] && !notebook.cells[i].tags.contains(where: options.skipTags.contains)
        }
        var stop = false
        for (i, cell) in notebook.cells.enumerated() {
            if cell.kind == .markdown {
                outcomes.append(CellOutcome(cell: cell, status: .markdown, output: "", error: nil, seconds: 0, images: []))
                continue
            }
            if stop || !plan[i] || cell.tags.contains(where: options.skipTags.contains) {
                outcomes.append(CellOutcome(cell: cell, status: .skipped, output: "", error: nil, seconds: 0, images: []))
                continue
            }
            if !paramsApplied && !paramsRuns { apply(overrides); paramsApplied = true }
            let outcome = runCell(cell)
            outcomes.append(outcome)
            if cell.name == "params" && !paramsApplied { apply(overrides); paramsApplied = true }
            switch outcome.status {
            case .failed:
                exitCode = 1
                if !options.keepGoing { stop = true }
            case .interrupted:
                exitCode = 130
                stop = true
            default: break
            }
        }
        if options.writeTranscript {
            do {
                try AtomicFolder.makeFolders(URL(fileURLWithPath: transcriptPath).deletingLastPathComponent().path)
                try AtomicFile.write(Data(Transcript.render(notebook: notebook, outcomes: outcomes, redact: interpreter.output.redact).utf8), to: transcriptPath)
            } catch { standardError("finch: could not write the transcript \(transcriptPath): \(error)\n") }
        }
        return exitCode
    }

    func apply(_ overrides: [(String, Value)]) {
        for (k, v) in overrides { interpreter.globals.vars[k] = v }
    }

    /// Which cells run, from --only and --from.
    func selectCells() throws -> [Bool] {
        var plan = [Bool](repeating: true, count: notebook.cells.count)
        if let from = options.from {
            let start = try notebook.cell(named: from).index - 1
            for i in 0..<start { plan[i] = false }
        }
        if !options.only.isEmpty {
            let wanted = Set(try options.only.map { try notebook.cell(named: $0).index - 1 })
            for i in plan.indices where !wanted.contains(i) { plan[i] = false }
        }
        return plan
    }

    /// `-p name=value`: names must be assigned in the `%% params` cell; values are Finch literals
    /// (`-p steps=60`, `-p lr=2e-4`, `-p tags='["a"]'`), and anything else is taken as a string.
    func resolveParams() throws -> [(String, Value)] {
        guard !options.params.isEmpty else { return [] }
        guard let cell = notebook.cells.first(where: { $0.name == "params" }) else {
            throw NotebookError("\(notebook.path): -p needs a '%% params' cell whose assignments it overrides; this notebook has none")
        }
        let names = try parameterNames(cell)
        return try options.params.map { name, text in
            guard names.contains(name) else {
                let hint = FinchLang.suggestion(for: name, among: names)
                throw NotebookError("\(notebook.path): -p \(name): not a parameter\(hint.map { "; did you mean \($0)?" } ?? ""); the params cell (line \(cell.markerLine)) defines: \(names.isEmpty ? "nothing" : names.joined(separator: ", "))")
            }
            return (name, parseLiteral(text))
        }
    }

    func parameterNames(_ cell: Notebook.Cell) throws -> [String] {
        let program: [Stmt]
        do { program = try Parser.parse(notebook.sourceFile(cell)) }
        catch let e as SyntaxErrors { throw NotebookError(e.description) }
        var names: [String] = []
        for s in program {
            if case .assign(let targets, _) = s.kind {
                for case .name(let n, _) in targets where !names.contains(n) { names.append(n) }
            }
        }
        return names
    }

    func runCell(_ cell: Notebook.Cell) -> CellOutcome {
        let color = options.color
        let dim = color ? "\u{1B}[2m" : "", bold = color ? "\u{1B}[1m" : "", reset = color ? "\u{1B}[0m" : ""
        standardError("\(bold)%% \(cell.label)\(reset)\n")
        context.currentCell = cell.name ?? "cell\(cell.index)"
        context.cellImages = []
        var captured = ""
        let sink = interpreter.output
        let savedDestination = sink.destination, savedErrorDestination = sink.errorDestination
        let stdoutWrite = standardOutput, stderrWrite = standardError
        sink.destination = { text in captured += text; stdoutWrite(text) }
        // Built-ins' notes ("loaded … in 0.1s", device fallbacks) go where the runner's own messages go.
        sink.errorDestination = { text in stderrWrite(text) }
        defer { sink.destination = savedDestination; sink.errorDestination = savedErrorDestination }
        let start = DispatchTime.now().uptimeNanoseconds
        var status = CellOutcome.Status.ok
        var errorText: String? = nil
        do {
            try interpreter.run(notebook.sourceFile(cell))
        } catch let e as SyntaxErrors {
            status = .failed
            errorText = "error in cell \(cell.label):\n" + e.diagnostics.map { $0.render(withCell: false) }.joined()
        } catch let e as Diagnostic {
            status = .failed
            errorText = "error in cell \(cell.label):\n" + e.render(withCell: false)
        } catch is Interrupted {
            status = .interrupted
            errorText = "interrupted (Ctrl-C) in cell \(cell.label)\n"
        } catch {
            status = .failed
            errorText = "error in cell \(cell.label): \(error)\n"
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let e = errorText {
            // Colour only the message on a terminal; the transcript keeps plain text.
            standardError(sink.redact(color ? colorize(e) : e))
        }
        standardError("\(dim)   \(formatDuration(seconds))\(reset)\n")
        return CellOutcome(cell: cell, status: status, output: captured, error: errorText.map(sink.redact), seconds: seconds, images: context.cellImages)
    }

    func colorize(_ e: String) -> String {
        e.replacingOccurrences(of: "syntax error:", with: "\u{1B}[1;31msyntax error:\u{1B}[0m")
            .replacingOccurrences(of: " error:", with: " \u{1B}[1;31merror:\u{1B}[0m")
    }
}

/// A `-p` value: a Finch literal (number, string, bool, none, list or dict of literals) or else the text.
public func parseLiteral(_ text: String) -> Value {
    var parser = Parser(text, fragment: true)
    guard let e = try? parser.expression(), parser.peekIsEnd, parser.errors.isEmpty, let v = literalValue(e) else {
        return .string(text)
    }
    return v
}

func literalValue(_ e: Expr) -> Value? {
    switch e.kind {
    case .literal(let v): return v
    case .unary(.neg, let x):
        if case .literal(.float(let d)) = x.kind { return .float(-d) }
        return nil
    case .list(let items):
        var out: [Value] = []
        for i in items { guard let v = literalValue(i) else { return nil }; out.append(v) }
        return .list(out)
    case .dict(let pairs):
        let d = FinchDict()
        for (k, v) in pairs {
            guard let kv = literalValue(k), let key = DictKey(kv), let vv = literalValue(v) else { return nil }
            d[key] = vv
        }
        return .dict(d)
    default: return nil
    }
}
