import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

@Test func parsesUnnamedFirstCellMarkdownAndNamedCells() throws {
    let nb = try Notebook.parse(text: "x = 1\n%% [md]\n# Title\n%% setup\ny = 2\n%%\nz = 3\n", path: "nb.cell")
    #expect(nb.cells.count == 4)
    #expect(nb.cells[0].name == nil && nb.cells[0].kind == .code && nb.cells[0].source == "x = 1\n" && nb.cells[0].firstLine == 1)
    #expect(nb.cells[1].kind == .markdown && nb.cells[1].source == "# Title\n")
    #expect(nb.cells[2].name == "setup" && nb.cells[2].markerLine == 4 && nb.cells[2].firstLine == 5)
    #expect(nb.cells[3].name == nil && nb.cells[3].label == "#4")
}

@Test func duplicateCellNamesNameBothLines() {
    #expect(throws: NotebookError.self) { try Notebook.parse(text: "%% a\nx = 1\n%% a\n", path: "nb.cell") }
    do { _ = try Notebook.parse(text: "%% a\nx = 1\n%% b\n%% a\n", path: "nb.cell") } catch {
        #expect("\(error)" == "nb.cell:4: duplicate cell name 'a' (first used on line 1); cell names must be unique")
    }
}

@Test func invalidUTF8NotebookIsAClearError() {
    let data = Data([0x78, 0x20, 0x3D, 0x0A, 0x79, 0xFF, 0xFE, 0x0A])
    do {
        _ = try Notebook.parse(data: data, path: "bin.cell")
        Issue.record("no error")
    } catch {
        #expect("\(error)" == "bin.cell:2:2: the notebook is not valid UTF-8 text (a binary file?)")
    }
}

@Test func binaryGarbageNotebookFailsCleanly() throws {
    var rng = SplitMix64(seed: 7)
    var bytes = [UInt8]()
    for _ in 0..<2000 { bytes.append(UInt8(truncatingIfNeeded: rng.next() % 128)) }
    let text = String(decoding: bytes, as: UTF8.self)
    let r = try runNotebook(text: text)
    #expect(r.code == 1)
    #expect(r.stderr.contains("syntax error") || r.stderr.contains("error"))
}

@Test func errorPositionsAreNotebookLines() throws {
    let r = try runNotebook(text: "%% one\nx = 1\n%% two\ny = 2\nprint(zz)\n")
    #expect(r.code == 1)
    #expect(r.stderr.contains("error in cell two:\n"))
    #expect(r.stderr.contains("nb.cell:5:7: error: name 'zz' is not defined"))
    #expect(r.stderr.contains("  5 | print(zz)"))
}

@Test func renderRoundTrips() throws {
    let text = Notebook.render([(name: "a", kind: .code, source: "x = 1\n"), (name: nil, kind: .markdown, source: "# hi\n")])
    #expect(text == "%% a\nx = 1\n%% [md]\n# hi\n")
    let nb = try Notebook.parse(text: text, path: "n.cell")
    #expect(nb.cells.map(\.name) == ["a", nil])
}

@Test func cellTagsParseAndSkip() throws {
    let nb = try Notebook.parse(text: "%% setup\nx = 1\n%% train [model, slow]\nprint(x)\n%% [md]\ntext\n", path: "t.cell")
    #expect(nb.cells[1].name == "train" && nb.cells[1].tags == ["model", "slow"])
    #expect(nb.cells[2].kind == .markdown && nb.cells[2].tags.isEmpty)
    var o = RunOptions()
    o.skipTags = ["model"]
    let r = try runNotebook(text: "%% a\nprint(1)\n%% b [model]\nprint(2)\n%% c\nprint(3)\n", options: o)
    #expect(r.code == 0 && r.stdout == "1\n3\n")
    #expect(expectedOutput(try Notebook.parse(text: "%% a\n#> 1\n%% b [model]\n#> 2\n", path: "x"), skipTags: ["model"]) == "1\n")
}

@Test func diagnosticsCarryTheCell() throws {
    let nb = try Notebook.parse(text: "%% one\nx = 1\n%% two\nprint(zz)\n", path: "nb.cell")
    let interp = Interpreter(output: OutputSink(destination: { _ in }))
    do {
        try interp.run(nb.sourceFile(nb.cells[0]))
        try interp.run(nb.sourceFile(nb.cells[1]))
        Issue.record("no error")
    } catch let d as Diagnostic {
        #expect(d.cell == "two" && d.line == 4 && d.column == 7)
        #expect(d.render().hasPrefix("in cell two:\nnb.cell:4:7: error: name 'zz' is not defined"))
    }
}
