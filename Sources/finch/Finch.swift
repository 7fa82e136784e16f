import ArgumentParser
import Foundation
import FinchLang
import FinchNotebook

@main
struct Finch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finch",
        abstract: "A notebook-style scripting REPL for adapting language models.",
        discussion: "With no command, starts the interactive prompt.",
        version: FinchVersion.string,
        subcommands: [Repl.self, Run.self, Check.self, Bench.self, SelfTest.self, Secrets.self, Login.self, Version.self],
        defaultSubcommand: Repl.self
    )

    /// `finch -V` is `finch --version` (as python -V, node -v); everything else goes to the parser.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["-V"] { arguments = ["--version"] }
        Self.main(arguments)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Finch's version (also --version or -V).")

    func run() { print(FinchVersion.string) }
}

struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "repl", abstract: "The interactive prompt (the default).")

    func run() throws {
        Interrupt.install()
        let code = REPL(registry: makeRegistry()).run()
        if code != 0 { throw ExitCode(code) }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every cell of a .cell notebook in one session.",
        discussion: """
        Standard output carries exactly what the cells print; cell headers, timing and errors go to standard \
        error. Writes a transcript NOTEBOOK.out.md beside the notebook (or where --transcript says). The \
        notebook's relative paths resolve against its own folder, whatever the working directory. Exit \
        code 0 on success, 1 on an error, 130 on Ctrl-C.
        """
    )

    @Argument(help: "The notebook (.cell file).") var notebook: String
    @Option(name: .long, help: "Run only this cell (repeatable).") var only: [String] = []
    @Option(name: .long, help: "Start at this cell.") var from: String?
    @Option(name: .customShort("p"), help: ArgumentHelp("Override a parameter of the %% params cell: -p name=value (value as a Finch literal).", valueName: "name=value"))
    var params: [String] = []
    @Flag(name: .long, help: "Run the remaining cells after an error.") var keepGoing = false
    @Flag(name: .long, help: "Ignore cached results of expensive built-ins.") var fresh = false
    @Flag(name: .long, help: "Do not write the transcript.") var noTranscript = false
    @Option(name: .long, help: ArgumentHelp("Write the transcript here instead of beside the notebook (images in its .out/ sibling).", valueName: "file.md"))
    var transcript: String?
    @Option(name: .long, help: "Skip cells tagged TAG, as in '%% train [model]' (repeatable).") var skipTag: [String] = []

    func run() throws {
        Interrupt.install()
        let nb: Notebook
        do { nb = try Notebook.load(path: notebook) }
        catch { FileHandle.standardError.write("finch: \(error)\n".data(using: .utf8)!); throw ExitCode(1) }
        var options = RunOptions()
        options.only = only
        options.from = from
        options.keepGoing = keepGoing
        options.fresh = fresh
        options.writeTranscript = !noTranscript
        options.transcriptPath = transcript
        options.skipTags = skipTag
        options.color = useColor(fd: 2)
        for p in params {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                FileHandle.standardError.write("finch: -p expects name=value, got '\(p)'\n".data(using: .utf8)!)
                throw ExitCode(1)
            }
            options.params.append((String(p[..<eq]), String(p[p.index(after: eq)...])))
        }
        let code = NotebookRunner(notebook: nb, options: options).run()
        if code != 0 { throw ExitCode(code) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse a notebook and resolve names and built-in keywords without running it."
    )

    @Argument(help: "The notebook (.cell file).") var notebook: String

    func run() throws {
        let nb: Notebook
        do { nb = try Notebook.load(path: notebook) }
        catch { FileHandle.standardError.write("finch: \(error)\n".data(using: .utf8)!); throw ExitCode(1) }
        let problems = checkNotebook(nb)
        let color = useColor(fd: 2)
        for (_, d) in problems {
            FileHandle.standardError.write(d.render(color: color).data(using: .utf8)!)
        }
        if !problems.isEmpty {
            FileHandle.standardError.write("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(notebook)\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
        FileHandle.standardError.write("\(notebook): ok (\(nb.cells.filter { $0.kind == .code }.count) code cells)\n".data(using: .utf8)!)
    }
}
