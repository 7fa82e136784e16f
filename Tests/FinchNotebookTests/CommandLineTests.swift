import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

/// Runs the finch binary with arguments and optional standard input.
func finch(_ args: [String], stdin: String = "", cwd: String? = nil) throws -> (code: Int32, out: String, err: String) {
    try runFinch(finchBinary, args, stdin: stdin, cwd: cwd, env: ["FINCH_STDLIB": repoRoot + "/stdlib"])
}

/// The one way tests run a finch binary: `env` entries replace the inherited environment's (nil removes
/// one), NO_COLOR is set, `stdin` is written and closed; returns the exit status and both streams.
func runFinch(_ binary: String, _ args: [String], stdin: String = "", cwd: String? = nil,
              env changes: [String: String?] = [:]) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["NO_COLOR"] = "1"
    for (k, v) in changes { env[k] = v }
    p.environment = env
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let input = Pipe(), output = Pipe(), errors = Pipe()
    p.standardInput = input; p.standardOutput = output; p.standardError = errors
    try p.run()
    input.fileHandleForWriting.write(stdin.data(using: .utf8)!)
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

extension REPLProcessTests {
    @Test func runExitCodesAndStreams() throws {
        let dir = try tempDirectory()
        try "%% a\nprint(1)\n".write(toFile: dir + "/ok.cell", atomically: true, encoding: .utf8)
        let ok = try finch(["run", dir + "/ok.cell"])
        #expect(ok.code == 0 && ok.out == "1\n" && ok.err.contains("%% a"))
        #expect(FileManager.default.fileExists(atPath: dir + "/ok.out.md"))

        try "%% a\nx = 1\n%% b\ny = 2\n%% a\nz = 3\n".write(toFile: dir + "/dup.cell", atomically: true, encoding: .utf8)
        let dup = try finch(["run", dir + "/dup.cell"])
        #expect(dup.code == 1 && dup.err.contains("dup.cell:5: duplicate cell name 'a' (first used on line 1)"))

        let badParam = try finch(["run", repoRoot + "/notebooks/hello.cell", "-p", "colour=red", "--no-transcript"])
        #expect(badParam.code == 1 && badParam.out.isEmpty && badParam.err.contains("-p colour: not a parameter"))

        try "%% a\nprint(1 +)\nprint(\"unterminated)\n".write(toFile: dir + "/syntax.cell", atomically: true, encoding: .utf8)
        let syntax = try finch(["run", dir + "/syntax.cell"])
        #expect(syntax.code == 1 && syntax.err.contains("syntax.cell:2:10: syntax error") && syntax.err.contains("syntax.cell:3:7: syntax error: unterminated string"))

        let missing = try finch(["run", dir + "/nope.cell"])
        #expect(missing.code == 1 && missing.err.contains("nope.cell: no such file"))

        let version = try finch(["--version"])
        #expect(version.code == 0 && version.out == FinchVersion.string + "\n")
        let help = try finch(["run", "--help"])
        #expect(help.code == 0 && help.out.contains("--keep-going") && help.out.contains("-p <name=value>"))
    }

    @Test func checkCommandReportsWithoutRunning() throws {
        let dir = try tempDirectory()
        try "%% a\nwrite_text(\"\(dir)/touched\", \"x\")\nprint(undefined_thing)\n".write(toFile: dir + "/c.cell", atomically: true, encoding: .utf8)
        let r = try finch(["check", dir + "/c.cell"])
        #expect(r.code == 1 && r.err.contains("c.cell:3:7: error: name 'undefined_thing' is not defined"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/touched"))
        let ok = try finch(["check", repoRoot + "/notebooks/hello.cell"])
        #expect(ok.code == 0)
    }

    @Test func replMetaCommandsThroughAPipe() throws {
        let dir = try tempDirectory()
        try "%% first\nfrom_nb = 5\n%% second\nprint(from_nb * 2)\n".write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        let script = """
        :load nb.cell
        :cells
        from_nb = 7
        :run second
        :help len
        :vars
        :save session.cell
        :bogus
        :quit
        print("never")
        """
        let r = try finch([], stdin: script, cwd: dir)
        #expect(r.code == 0)
        #expect(r.out.contains("10\n"))
        #expect(r.out.contains("first") && r.out.contains("second"))
        #expect(r.out.contains("14\n"))
        #expect(r.out.contains("len(value)\n    Number of items"))
        #expect(r.out.contains("from_nb        int       7"))
        #expect(!r.out.contains("never"))
        #expect(r.err.contains("unknown command :bogus"))
        let saved = try String(contentsOfFile: dir + "/session.cell", encoding: .utf8)
        #expect(saved == "%% session\nfrom_nb = 7\n")
    }
}

@Test func helpShowsSignatureAndDoc() throws {
    let (sink, captured) = OutputSink.capturing()
    let interp = Interpreter(registry: makeRegistry(), output: sink)
    try interp.run(SourceFile(name: "t", text: "help(sorted)\nhelp(\"str.split\")\ndef f(a, b=2):\n    \"\"\"Adds.\"\"\"\n    return a + b\nhelp(f)\nhelp()"))
    let out = captured()
    #expect(out.hasPrefix("sorted(items, *, key=none, reverse=false)\n    A new sorted list (stable), optionally by key(item).\n"))
    #expect(out.contains("str.split(sep=none, maxsplit=-1)\n    Split on sep"))
    #expect(out.contains("f(a, b=2)\n    Adds.\n"))
    #expect(out.contains("Built-ins (help(name) for one):"))
    #expect(out.contains("  dataset        An in-memory dataset"))
}

/// The built-ins plus `fake_plot()`, which writes one SVG image where the notebook keeps its images.
func registryWithFakePlot() -> BuiltinRegistry {
    let registry = makeRegistry()
    registry.register("fake_plot", params: [], doc: "test: writes an image") { _, ctx in
        guard let nb = NotebookContext.of(ctx) else { throw FinchError("no notebook") }
        let url = try nb.newImagePath(extension: "svg")
        try Data("<svg/>".utf8).write(to: url)
        return .none
    }
    return registry
}

@Test func imagesGoBesideTheNotebookAndIntoTheTranscript() throws {
    let registry = registryWithFakePlot()
    let dir = try tempDirectory()
    let r = try runNotebook(text: "%% chart\nfake_plot()\n", registry: registry, dir: dir)
    #expect(r.code == 0)
    #expect(FileManager.default.fileExists(atPath: dir + "/nb.out/chart-1.svg"))
    let transcript = try String(contentsOfFile: dir + "/nb.out.md", encoding: .utf8)
    #expect(transcript.contains("![nb.out/chart-1.svg](nb.out/chart-1.svg)"))
}

extension REPLProcessTests {
    @Test func sigintDuringRunExits130AndWritesTranscript() throws {
        let dir = try tempDirectory()
        try "%% before\nprint(\"started\")\n%% spin\nn = 0\nwhile true:\n    n += 1\n%% after\nprint(\"never\")\n"
            .write(toFile: dir + "/spin.cell", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = ["run", dir + "/spin.cell"]
        let output = Pipe(), errors = Pipe()
        p.standardOutput = output; p.standardError = errors
        try p.run()
        // Wait until the loop cell has started, then press Ctrl-C.
        let deadline = Date().addingTimeInterval(10)
        var err = Data()
        while Date() < deadline, !String(decoding: err, as: UTF8.self).contains("%% spin") {
            err += errors.fileHandleForReading.availableData
        }
        Thread.sleep(forTimeInterval: 0.2)
        p.interrupt()
        let stopBy = Date().addingTimeInterval(10)
        while p.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            Issue.record("finch run ignored SIGINT")
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        err += errors.fileHandleForReading.readDataToEndOfFile()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 130)
        #expect(out == "started\n")
        #expect(String(decoding: err, as: UTF8.self).contains("interrupted (Ctrl-C) in cell spin"))
        let transcript = try String(contentsOfFile: dir + "/spin.out.md", encoding: .utf8)
        #expect(transcript.contains("_interrupted in "))
    }
}

@Test func withoutATranscriptImagesLeaveTheNotebookFolderAlone() throws {
    let registry = registryWithFakePlot()
    let dir = try tempDirectory()
    var options = RunOptions()
    options.writeTranscript = false
    let r = try runNotebook(text: "%% chart\nfake_plot()\n", options: options, registry: registry, dir: dir)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/nb.out"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/nb.out.md"))
}
