import FinchHub
import Foundation
import FinchSupport
import FinchLang

public enum LineResult: Equatable {
    case line(String)
    /// Ctrl-C at the prompt: the line is dropped.
    case interrupted
    /// Ctrl-D or end of input.
    case end
}

public protocol LineReader: AnyObject {
    func readLine(prompt: String) -> LineResult
    /// Remember an entered line (persistent history for the terminal reader).
    func remember(_ line: String)
}

/// Reads plain lines from standard input, printing no prompts and no escape codes (piped scripts).
public final class PlainLineReader: LineReader {
    public init() {}
    public func readLine(prompt: String) -> LineResult {
        guard let line = Swift.readLine(strippingNewline: true) else { return .end }
        return .line(line)
    }
    public func remember(_ line: String) {}
}

/// The interactive session: `finch` with no arguments.
public final class REPL {
    public let interpreter: Interpreter
    let reader: LineReader
    let interactive: Bool
    let color: Bool
    /// Inputs that ran, for `:save`.
    public private(set) var inputs: [String] = []
    var notebook: Notebook?
    var write: (String) -> Void
    var writeError: (String) -> Void

    /// `interactive` (default: a terminal on both ends with no `reader` given) means prompts, the banner,
    /// and Ctrl-D at a continuation prompt cancelling the block instead of ending input.
    public init(registry: BuiltinRegistry, reader: LineReader? = nil, interactive: Bool? = nil,
                write: @escaping (String) -> Void = OutputSink.writeStandardOutput,
                writeError: @escaping (String) -> Void = OutputSink.writeStandardError) {
        let sink = OutputSink(destination: write, errorDestination: writeError)
        // Everything the REPL writes (echoes, :vars, errors quoting the line) passes the sink's redaction,
        // the one path every output of Finch takes.
        self.write = { [sink] in write(sink.redact($0)) }
        self.writeError = { [sink] in writeError(sink.redact($0)) }
        interpreter = Interpreter(registry: registry, output: sink)
        let tty = isatty(0) != 0 && isatty(1) != 0
        self.interactive = interactive ?? (reader == nil ? tty : false)
        color = self.interactive && useColor(fd: 1)
        if let reader {
            self.reader = reader
        } else if tty {
            self.reader = EditLineReader(completer: Completer(interpreter: interpreter), redact: { [interpreter] in interpreter.output.redact($0) })
        } else {
            self.reader = PlainLineReader()
        }
        NotebookContext(memo: MemoCache(directory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/.finch-cache/memo"))).install(in: interpreter)
    }

    // libedit counts every byte of the prompt as a column, so prompts stay plain text.
    let prompt = "finch> "
    let continuation = "  ...> "

    /// Runs until Ctrl-D or `:quit`; returns the exit code.
    public func run() -> Int32 {
        if interactive {
            write("Finch \(FinchVersion.string). help() lists the built-ins, :help the commands, Ctrl-D exits.\n")
        }
        var buffer: [String] = []
        var hadError = false
        // Lines read so far and the line the buffered block starts on: a piped script's errors name
        // its real lines.
        var lineNumber = 0, blockStart = 1
        while true {
            switch reader.readLine(prompt: buffer.isEmpty ? prompt : continuation) {
            case .end where interactive && !buffer.isEmpty:
                // Ctrl-D at `...>` abandons the unfinished block only; the session and its variables stay.
                buffer = []
                write("\n")
                writeError("cancelled the unfinished block (Ctrl-D at finch> exits)\n")
            case .end:
                if interactive { write("\n") }
                if !buffer.isEmpty { hadError = !execute(buffer.joined(separator: "\n"), firstLine: blockStart) || hadError }
                return interactive || !hadError ? 0 : 1
            case .interrupted:
                Interrupt.clear()
                buffer = []
                if interactive { write("^C\n") }
            case .line(let line):
                lineNumber += 1
                if buffer.isEmpty {
                    blockStart = lineNumber
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.isEmpty { continue }
                    reader.remember(line)
                    if trimmed.hasPrefix(":") {
                        if !meta(trimmed) { return 0 }
                        continue
                    }
                } else {
                    reader.remember(line)
                }
                buffer.append(line)
                if REPL.needsMoreInput(buffer) { continue }
                let source = buffer.joined(separator: "\n")
                buffer = []
                if !execute(source, firstLine: blockStart) { hadError = true }
            }
        }
    }

    /// Whether the lines so far are an incomplete statement: an open bracket or triple-quoted string,
    /// a trailing backslash, or a block (a line ending in ':') not yet closed by an empty line.
    public static func needsMoreInput(_ lines: [String]) -> Bool {
        let text = lines.joined(separator: "\n")
        if text.hasSuffix("\\") { return true }
        var lexer = Lexer(text + "\n")
        _ = lexer.tokenize()
        // Like Python's prompt, keep reading while a bracket or a triple-quoted string is open
        // (Ctrl-C abandons the input).
        if lexer.errors.contains(where: { $0.1.contains("was never closed") || $0.1.contains("unterminated triple-quoted") }) {
            return true
        }
        let opensBlock = lines.contains { stripComment($0).trimmingCharacters(in: .whitespaces).hasSuffix(":") }
        if opensBlock { return !(lines.last!.trimmingCharacters(in: .whitespaces).isEmpty) }
        return false
    }

    static func stripComment(_ line: String) -> String {
        var quote: Character? = nil
        for (i, c) in line.enumerated() {
            if let q = quote { if c == q { quote = nil } }
            else if c == "\"" || c == "'" { quote = c }
            else if c == "#" { return String(line.prefix(i)) }
        }
        return line
    }

    /// Runs one input; echoes a non-none value of a final expression. Returns false on an error.
    /// `firstLine` is where the input starts in a piped script (named `<stdin>`); at the prompt each
    /// input is `<input>` from line 1.
    @discardableResult
    public func execute(_ source: String, firstLine: Int = 1) -> Bool {
        // A Ctrl-C that arrived between statements must not stop the next one.
        interpreter.interruptFlag.clear()
        interpreter.shownResult = nil
        defer { interpreter.shownResult = nil }
        do {
            let file = interactive ? SourceFile(name: "<input>", text: source + "\n")
                : SourceFile(name: "<stdin>", text: source + "\n", firstLine: firstLine)
            let value = try interpreter.runReturningValue(file)
            inputs.append(source)
            // A built-in that already showed its result (chat's streamed reply, save's path) is not echoed again.
            if let v = value, !v.isNone, !interpreter.resultWasShown(v) {
                write(str(v) == repr(v) || v.typeName == "str" ? repr(v) + "\n" : str(v) + "\n")
            }
            return true
        } catch let e as SyntaxErrors {
            writeError(e.diagnostics.map { $0.render(color: color) }.joined())
        } catch let e as Diagnostic {
            writeError(interpreter.output.redact(e.render(color: color)))
        } catch is Interrupted {
            inputs.append(source)
            writeError("interrupted\n")
        } catch {
            writeError("error: \(error)\n")
        }
        return false
    }

    /// Meta-commands; returns false for :quit.
    func meta(_ line: String) -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0] {
        case ":quit", ":q", ":exit":
            return false
        case ":help", ":h":
            if arg.isEmpty {
                write("""
                Commands:
                  :help [name]   this list, or a built-in's signature and doc
                  :load nb.cell  run a notebook into this session
                  :cells         the cells of the loaded notebook
                  :run CELL      run one cell of the loaded notebook
                  :save nb.cell  write this session's inputs as a notebook
                  :vars          the variables and their values
                  :secret NAME   store a secret (read without echo); use it with secret("NAME")
                  :quit          leave (or Ctrl-D)
                help() lists the built-ins.

                """)
            } else {
                write(interpreter.helpText(for: .string(arg)) + "\n")
            }
        case ":secret":
            guard !arg.isEmpty else { writeError(":secret needs a name, e.g. :secret HF_TOKEN\n"); break }
            do { write(try SecretsCLI.set(name: arg) + "\n") } catch { writeError("\(error)\n") }
        case ":vars":
            for name in interpreter.globals.vars.keys.sorted() {
                let v = interpreter.globals.vars[name]!
                // mask before shortening: a cut-off secret would no longer match its mask
                var shown = interpreter.output.redact(repr(v))
                if shown.count > 50 { shown = String(shown.prefix(49)) + "…" }
                write("  \(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(v.typeName.padding(toLength: 9, withPad: " ", startingAt: 0)) \(shown)\n")
            }
        case ":load":
            guard !arg.isEmpty else { writeError(":load needs a notebook path\n"); break }
            do {
                let nb = try Notebook.load(path: arg)
                notebook = nb
                runCells(of: nb)
            } catch {
                writeError("\(error)\n")
            }
        case ":cells":
            guard let nb = notebook else { writeError("no notebook loaded; use :load nb.cell\n"); break }
            for c in nb.cells {
                let first = c.source.split(separator: "\n").first.map(String.init) ?? ""
                write("  \(c.label.padding(toLength: 12, withPad: " ", startingAt: 0)) \(c.kind == .markdown ? "[md]" : "    ") line \(max(c.markerLine, 1))  \(first.prefix(50))\n")
            }
        case ":run":
            guard let nb = notebook else { writeError("no notebook loaded; use :load nb.cell\n"); break }
            do {
                _ = try nb.cell(named: arg)
                runCells(of: nb, only: [arg])
            } catch {
                writeError("\(error)\n")
            }
        case ":save":
            guard !arg.isEmpty else { writeError(":save needs a path, e.g. :save session.cell\n"); break }
            let text = Notebook.render([(name: "session", kind: .code, source: inputs.map { interpreter.output.redact($0) }.joined(separator: "\n") + "\n")])
            do {
                try AtomicFile.write(Data(text.utf8), to: arg)
                write("saved \(inputs.count) input\(inputs.count == 1 ? "" : "s") to \(arg)\n")
            } catch {
                writeError("\(error)\n")
            }
        default:
            let hint = FinchLang.suggestion(for: parts[0], among: Completer.metaCommands)
            writeError("unknown command \(parts[0])\(hint.map { "; did you mean \($0)?" } ?? ""); :help lists them\n")
        }
        return true
    }

    /// Runs the cells of `nb` (those named in `only`, else all) in this session, without a transcript.
    func runCells(of nb: Notebook, only: [String] = []) {
        var opts = RunOptions(); opts.writeTranscript = false; opts.only = only
        let r = NotebookRunner(notebook: nb, options: opts, interpreter: interpreter)
        r.standardOutput = write
        r.standardError = writeError
        _ = r.run()
    }
}
