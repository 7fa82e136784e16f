import Foundation
import Testing
@testable import FinchLang

/// A fresh temporary folder for one test.
private func tempFolder() throws -> String {
    let dir = NSTemporaryDirectory() + "finch-lang-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return URL(fileURLWithPath: dir).standardized.path
}

// The path rule: a notebook's relative paths resolve against its folder, the prompt's against the working directory.

@Test func relativePathsResolveAgainstTheBaseFolder() {
    #expect(resolvePath("outputs/lora", base: "/nb") == "/nb/outputs/lora")
    #expect(resolvePath("../data/x.json", base: "/nb/sub") == "/nb/data/x.json")
    #expect(resolvePath("./a/./b", base: "/nb") == "/nb/a/b")
    #expect(resolvePath("/abs/file", base: "/nb") == "/abs/file")
    #expect(resolvePath("", base: "/nb") == "/nb")
    #expect(resolvePath(".", base: "/nb/") == "/nb")
}

@Test func displayPathsAreRelativeToTheWorkingDirectoryWhenInside() {
    #expect(displayPath("/w/notebooks/outputs/lora", workingDirectory: "/w") == "notebooks/outputs/lora")
    #expect(displayPath("/w/outputs", workingDirectory: "/w/") == "outputs")
    #expect(displayPath("/w", workingDirectory: "/w") == ".")
    #expect(displayPath("/wx/outputs", workingDirectory: "/w") == "/wx/outputs")   // a sibling, not inside
    #expect(displayPath("/elsewhere/nb/outputs", workingDirectory: "/w") == "/elsewhere/nb/outputs")
    #expect(displayPath("outputs", workingDirectory: "/w") == "outputs")             // already relative (the prompt)
}

@Test func theInterpreterResolvesOnlyWithABaseFolder() {
    let interp = Interpreter()
    #expect(interp.resolvePath("outputs/x") == "outputs/x")   // the prompt: the working directory, paths as typed
    interp.baseDirectory = "/nb"
    #expect(interp.resolvePath("outputs/x") == "/nb/outputs/x")
    #expect(interp.resolvePath("/tmp/x") == "/tmp/x")
}

@Test func readTextAndWriteTextGoThroughTheBaseFolder() throws {
    let dir = try tempFolder()
    let (sink, captured) = OutputSink.capturing()
    let interp = Interpreter(output: sink)
    interp.baseDirectory = dir
    try interp.run(SourceFile(name: "t", text: "write_text(\"note.txt\", \"hi\")\nprint(read_text(\"note.txt\"))"))
    #expect(captured() == "hi\n")
    #expect(try String(contentsOfFile: dir + "/note.txt", encoding: .utf8) == "hi")
    #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/note.txt"))
    // The error names where it looked, not the bare relative path.
    do {
        try interp.run(SourceFile(name: "t", text: "read_text(\"missing.txt\")"))
        Issue.record("read_text of a missing file ran")
    } catch let e as Diagnostic {
        #expect(e.render().contains(displayPath(dir + "/missing.txt")))
    }
}

// Module search: $FINCH_STDLIB, then stdlib/ in the base folder, then the stdlib built into the binary.

@Test func embeddedStdlibHoldsEveryFileOfStdlibByteForByte() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: stdlibPath).filter { $0.hasSuffix(".fin") }
    #expect(!files.isEmpty)
    #expect(Set(EmbeddedStdlib.modules.keys) == Set(files.map { String($0.dropLast(4)) }),
            "a stdlib/*.fin file is missing from EmbeddedStdlib.modules (Sources/FinchLang/Modules.swift)")
    for f in files {
        let onDisk = try String(contentsOfFile: stdlibPath + "/" + f, encoding: .utf8)
        #expect(EmbeddedStdlib.modules[String(f.dropLast(4))] == onDisk, "\(f) differs from the embedded copy")
    }
}

@Test func modulesAreFoundWithNoFilesAtAll() throws {
    let empty = try tempFolder()
    let loader = ModuleLoader(searchPaths: ModuleLoader.defaultSearchPaths(environment: [:]))
    #expect(loader.searchPaths == ["stdlib"])
    let styles = try loader.load("styles", base: empty)
    #expect(styles.text == EmbeddedStdlib.modules["styles"])
    #expect(loader.available(base: empty).contains("text"))
}

@Test func stdlibBesideTheNotebookOverridesTheEmbeddedOne() throws {
    let nb = try tempFolder()
    try FileManager.default.createDirectory(atPath: nb + "/stdlib", withIntermediateDirectories: true)
    try "styles_here = 1\n".write(toFile: nb + "/stdlib/styles.fin", atomically: true, encoding: .utf8)
    try "mine = 2\n".write(toFile: nb + "/stdlib/mine.fin", atomically: true, encoding: .utf8)
    let loader = ModuleLoader(searchPaths: ModuleLoader.defaultSearchPaths(environment: [:]))
    #expect(try loader.load("styles", base: nb).text == "styles_here = 1\n")
    #expect(try loader.load("mine", base: nb).text == "mine = 2\n")
    #expect(try loader.load("text", base: nb).text == EmbeddedStdlib.modules["text"])   // the rest still embedded
    // The interpreter looks beside its base folder.
    let (sink, captured) = OutputSink.capturing()
    let interp = Interpreter(output: sink, modules: loader)
    interp.baseDirectory = nb
    try interp.run(SourceFile(name: "t", text: "use \"mine\"\nprint(mine)"))
    #expect(captured() == "2\n")
}

@Test func finchStdlibComesFirst() throws {
    let nb = try tempFolder(), env = try tempFolder()
    try FileManager.default.createDirectory(atPath: nb + "/stdlib", withIntermediateDirectories: true)
    try "where = \"beside\"\n".write(toFile: nb + "/stdlib/styles.fin", atomically: true, encoding: .utf8)
    try "where = \"env\"\n".write(toFile: env + "/styles.fin", atomically: true, encoding: .utf8)
    let paths = ModuleLoader.defaultSearchPaths(environment: ["FINCH_STDLIB": "/nowhere:" + env])
    #expect(paths == ["/nowhere", env, "stdlib"])
    #expect(try ModuleLoader(searchPaths: paths).load("styles", base: nb).text == "where = \"env\"\n")
}

@Test func unknownModuleNamesEveryPlaceSearched() throws {
    let nb = try tempFolder()
    let loader = ModuleLoader(searchPaths: ModuleLoader.defaultSearchPaths(environment: ["FINCH_STDLIB": "/nowhere"]))
    do {
        _ = try loader.load("stylez", base: nb)
        Issue.record("an unknown module loaded")
    } catch let e as FinchError {
        #expect(e.message.contains("did you mean \"styles\"?"))
        #expect(e.message.contains("searched: /nowhere, \(nb)/stdlib, the stdlib built into finch"))
    }
}
