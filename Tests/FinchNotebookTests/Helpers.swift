import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

let repoRoot: String = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
let fixtures = repoRoot + "/Tests/FinchNotebookTests/Fixtures"

/// A fresh temporary directory for one test.
func tempDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "finch-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

struct RunCapture {
    var code: Int32
    var stdout: String
    var stderr: String
    var runner: NotebookRunner
}

/// Runs a notebook text written to a temp dir (or an existing path) and captures both streams.
func runNotebook(text: String? = nil, path: String? = nil, options: RunOptions = RunOptions(),
                 registry: BuiltinRegistry = makeRegistry(), dir: String? = nil) throws -> RunCapture {
    let nbPath: String
    if let text {
        let d = try dir ?? tempDirectory()
        nbPath = d + "/nb.cell"
        try text.write(toFile: nbPath, atomically: true, encoding: .utf8)
    } else {
        nbPath = path!
    }
    let nb = try Notebook.load(path: nbPath)
    var out = "", err = ""
    let interp = Interpreter(registry: registry, output: OutputSink(destination: { _ in }),
                             modules: ModuleLoader(searchPaths: [repoRoot + "/stdlib"]))
    interp.interruptFlag = InterruptFlag()
    let runner = NotebookRunner(notebook: nb, options: options, interpreter: interp)
    runner.standardOutput = { out += $0 }
    runner.standardError = { err += $0 }
    let code = runner.run()
    return RunCapture(code: code, stdout: out, stderr: err, runner: runner)
}

/// Expected output of the cells that run: `#>` lines of cells without any of `skipTags`.
func expectedOutput(_ notebook: Notebook, skipTags: [String]) -> String {
    notebook.cells.filter { $0.kind == .code && !$0.tags.contains(where: skipTags.contains) }
        .map { expectedOutput($0.source) }.joined()
}

/// Expected standard output written in a notebook's comments: each `#> text` line is one output line.
func expectedOutput(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { $0.hasPrefix("#>") }
        .map { l -> String in let s = l.dropFirst(2); return (s.hasPrefix(" ") ? String(s.dropFirst()) : String(s)) + "\n" }
        .joined()
}
