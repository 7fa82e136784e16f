import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

let paramsNotebook = """
%% params
name = "world"
steps = 3
lr = 0.001
%% main
print(f"hello {name}", steps * 2, lr)
%% last
print("done")
"""

@Test func stdoutCarriesExactlyWhatCellsPrint() throws {
    let r = try runNotebook(text: paramsNotebook)
    #expect(r.code == 0)
    #expect(r.stdout == "hello world 6 0.001\ndone\n")
    #expect(r.stderr.contains("%% main"))
    #expect(!r.stdout.contains("%%"))
}

@Test func paramsOverrideAssignmentsAsLiterals() throws {
    var o = RunOptions()
    o.params = [("name", "Ada"), ("steps", "10"), ("lr", "2e-4")]
    let r = try runNotebook(text: paramsNotebook, options: o)
    #expect(r.stdout == "hello Ada 20 0.0002\ndone\n")
    o.params = [("name", "\"quoted\""), ("steps", "[1]")]
    let r2 = try runNotebook(text: paramsNotebook, options: o)
    #expect(r2.stdout == "hello quoted [1, 1] 0.001\ndone\n")
}

@Test func unknownParamIsAnErrorListingParameters() throws {
    var o = RunOptions()
    o.params = [("stepz", "1")]
    let r = try runNotebook(text: paramsNotebook, options: o)
    #expect(r.code == 1)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.contains("-p stepz: not a parameter; did you mean steps?; the params cell (line 1) defines: name, steps, lr"))
}

/// #17: text before the first `%%` (even a comment) is a cell of its own; overrides still apply after the
/// params cell, with or without --from params, and one that names no assignment is refused.
@Test func paramsOverrideWhenTextPrecedesTheFirstCell() throws {
    let text = "# a comment before any cell\nprint(\"preamble\")\n\n%% [md]\nTry -p name=Ada.\n" + paramsNotebook
    var o = RunOptions()
    o.params = [("name", "Ada")]
    let r = try runNotebook(text: text, options: o)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout == "preamble\nhello Ada 6 0.001\ndone\n")
    o.from = "params"
    #expect(try runNotebook(text: text, options: o).stdout == "hello Ada 6 0.001\ndone\n")
    o.params = [("nmae", "Ada")]
    let bad = try runNotebook(text: text, options: o)
    #expect(bad.code == 1 && bad.stdout.isEmpty)
    #expect(bad.stderr.contains("-p nmae: not a parameter; did you mean name?"))
}

@Test func onlyAndFromSelectCells() throws {
    var o = RunOptions()
    o.only = ["last"]
    #expect(try runNotebook(text: paramsNotebook, options: o).stdout == "done\n")
    o = RunOptions()
    o.from = "main"
    o.params = [("name", "x"), ("steps", "1"), ("lr", "1")]
    #expect(try runNotebook(text: paramsNotebook, options: o).stdout == "hello x 2 1\ndone\n")
    o = RunOptions()
    o.only = ["mian"]
    let r = try runNotebook(text: paramsNotebook, options: o)
    #expect(r.code == 1 && r.stderr.contains("no cell named 'mian'; did you mean main?"))
}

@Test func errorStopsUnlessKeepGoing() throws {
    let text = "%% a\nprint(1)\n%% b\nprint(undefined_name)\n%% c\nprint(3)\n"
    let stop = try runNotebook(text: text)
    #expect(stop.code == 1 && stop.stdout == "1\n")
    var o = RunOptions()
    o.keepGoing = true
    let go = try runNotebook(text: text, options: o)
    #expect(go.code == 1 && go.stdout == "1\n3\n")
}

@Test func interruptExits130() throws {
    let dir = try tempDirectory()
    try "%% loop\nwhile true:\n    pass\n%% after\nprint(1)\n".write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
    let nb = try Notebook.load(path: dir + "/nb.cell")
    let interp = Interpreter(output: OutputSink(destination: { _ in }))
    let flag = InterruptFlag()
    interp.interruptFlag = flag
    flag.request()
    let runner = NotebookRunner(notebook: nb, options: RunOptions(), interpreter: interp)
    var err = "", out = ""
    runner.standardError = { err += $0 }
    runner.standardOutput = { out += $0 }
    #expect(runner.run() == 130)
    #expect(out.isEmpty)
    #expect(err.contains("interrupted (Ctrl-C) in cell loop"))
}

/// Removes the timing lines, the only part of a transcript allowed to differ between runs.
func withoutTimings(_ s: String) -> String {
    s.split(separator: "\n", omittingEmptySubsequences: false).filter { !($0.hasPrefix("_") && $0.contains(" in ")) }.joined(separator: "\n")
}

@Test func transcriptHasSourcesOutputsAndIsDeterministic() throws {
    let dir = try tempDirectory()
    let text = "%% [md]\n# Notes\n%% a\nprint('out ' + 'put')\n%% b\nprint(nope)\n"
    _ = try runNotebook(text: text, dir: dir)
    let first = try String(contentsOfFile: dir + "/nb.out.md", encoding: .utf8)
    _ = try runNotebook(text: text, dir: dir)
    let second = try String(contentsOfFile: dir + "/nb.out.md", encoding: .utf8)
    #expect(withoutTimings(first) == withoutTimings(second))
    #expect(first.contains("\n# Notes\n"))
    #expect(first.contains("## `a` (line 3)\n\n```python\nprint('out ' + 'put')\n```\n\n```text\nout put\n```\n"))
    #expect(first.contains("name 'nope' is not defined"))
    #expect(first.contains("_failed in "))
}

@Test func transcriptAndStdoutAreRedacted() throws {
    let registry = makeRegistry()
    registry.register("fake_secret", params: [.positional("value")], doc: "test: registers a secret") { a, ctx in
        ctx.output.redactions.append(try a.string("value"))
        return .string(try a.string("value"))
    }
    let dir = try tempDirectory()
    let r = try runNotebook(text: "%% s\ntoken = fake_secret(\"hf_abc123\")\nprint(\"token:\", token)\n", registry: registry, dir: dir)
    #expect(r.stdout == "token: ••••••\n")
    let transcript = try String(contentsOfFile: dir + "/nb.out.md", encoding: .utf8)
    #expect(!transcript.contains("hf_abc123"))
    #expect(transcript.contains("••••••"))
}

@Test func checkResolvesNamesAndKeywordsWithoutRunning() throws {
    let nb = try Notebook.parse(text: """
    %% a
    x = 1
    sorted([x], revrse=true)
    write_text("/nonexistent/never", "not run")
    %% b
    def f(alpha=1):
        return alpha + y
    f(alpah=2)
    print(q)
    use "text"
    compare("a", "b", widht=3)
    """, path: "nb.cell")
    let problems = checkNotebook(nb, modules: ModuleLoader(searchPaths: [repoRoot + "/stdlib"])).map { "\($0.1.line):\($0.1.column) \($0.1.message)" }
    #expect(problems == [
        "3:13 sorted() has no parameter 'revrse'; did you mean reverse?; signature: sorted(items, *, key=none, reverse=false)",
        "7:20 name 'y' is not defined",
        "8:3 f() has no parameter 'alpah'; did you mean alpha?",
        "9:7 name 'q' is not defined",
        "11:19 compare() has no parameter 'widht'; did you mean width?",
    ])
    #expect(!FileManager.default.fileExists(atPath: "/nonexistent/never"))
}
