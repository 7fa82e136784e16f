import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

/// Every fixture notebook and every notebook in notebooks/ runs, printing what its `#>` comments say.
@Test(arguments: try! FileManager.default.contentsOfDirectory(atPath: fixtures).filter { $0.hasSuffix(".cell") }.sorted())
func fixtureNotebookPrintsExpectedOutput(_ name: String) throws {
    let path = fixtures + "/" + name
    var o = RunOptions()
    o.writeTranscript = false
    let r = try runNotebook(path: path, options: o)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout == expectedOutput(try String(contentsOfFile: path, encoding: .utf8)))
}

/// Notebooks that need no model run here (debug); those that load one run in RealModelNotebookTests (release).
let modelFreeNotebooks = try! FileManager.default.contentsOfDirectory(atPath: repoRoot + "/notebooks").filter {
    $0.hasSuffix(".cell") && !((try? String(contentsOfFile: repoRoot + "/notebooks/" + $0, encoding: .utf8))?.contains("load_model(") ?? true)
}.sorted()

@Test(arguments: modelFreeNotebooks)
func shippedNotebookRuns(_ name: String) throws {
    let path = repoRoot + "/notebooks/" + name
    var o = RunOptions()
    o.writeTranscript = false
    // Cells tagged [model] need the embedded model: they run in the release RealModel pass only.
    if ProcessInfo.processInfo.environment["FINCH_REAL_MODEL"] != "1" { o.skipTags = ["model"] }
    let r = try runNotebook(path: path, options: o)
    #expect(r.code == 0, "\(r.stderr)")
    let expected = expectedOutput(try Notebook.load(path: path), skipTags: o.skipTags)
    #expect(!expected.isEmpty, "\(name) should state its expected output in #> comments")
    #expect(r.stdout == expected)
}

/// Every stdlib module loads (parses and runs its definitions) and passes `finch check`.
@Test(arguments: try! FileManager.default.contentsOfDirectory(atPath: repoRoot + "/stdlib").filter { $0.hasSuffix(".fin") }.sorted())
func stdlibModuleLoadsAndChecks(_ file: String) throws {
    let name = String(file.dropLast(4))
    let interp = Interpreter(output: OutputSink(destination: { _ in }), modules: ModuleLoader(searchPaths: [repoRoot + "/stdlib"]))
    try interp.run(SourceFile(name: "t", text: "use \"\(name)\""))
    let checker = Checker(registry: makeRegistry(), modules: ModuleLoader(searchPaths: [repoRoot + "/stdlib"]))
    checker.check(try ModuleLoader(searchPaths: [repoRoot + "/stdlib"]).load(name))
    #expect(checker.finish().isEmpty)
}
