import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

// The path rule: a notebook's relative paths resolve against the notebook's folder, whatever the working
// directory (as Jupyter); the prompt's against the working directory.

/// Runs the debug finch with `args` in `cwd`, with no FINCH_STDLIB (the embedded stdlib, or one beside the notebook).
func finchWithoutStdlib(_ args: [String], cwd: String) throws -> (code: Int32, out: String, err: String) {
    try runFinch(finchBinary, args, cwd: cwd, env: ["FINCH_STDLIB": nil])
}

@Test func notebookPathsResolveBesideTheNotebookInProcess() throws {
    let dir = try tempDirectory()
    try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
    try "beside".write(toFile: dir + "/data/in.txt", atomically: true, encoding: .utf8)
    let r = try runNotebook(text: """
    %% io
    print(read_text("data/in.txt"))
    write_text("data/out.txt", "written")
    """, dir: dir)
    #expect(r.code == 0, "\(r.stderr)")
    #expect(r.stdout == "beside\n")
    #expect(r.runner.interpreter.baseDirectory == URL(fileURLWithPath: dir).standardized.path)
    #expect(FileManager.default.fileExists(atPath: dir + "/data/out.txt"))
    #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/data/out.txt"))
}

@Test func transcriptOptionWritesElsewhere() throws {
    let dir = try tempDirectory()
    var o = RunOptions()
    o.transcriptPath = dir + "/out/deeper/nb.out.md"
    let r = try runNotebook(text: "%% a\nprint(1)\n", options: o, dir: dir)
    #expect(r.code == 0)
    #expect(r.runner.transcriptPath == dir + "/out/deeper/nb.out.md")
    #expect(try String(contentsOfFile: dir + "/out/deeper/nb.out.md", encoding: .utf8).contains("print(1)"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/nb.out.md"))
    #expect(r.runner.context.imageDirectory?.path == dir + "/out/deeper/nb.out")
}

@Test func checkFindsTheStdlibBesideTheNotebook() throws {
    let dir = try tempDirectory()
    try FileManager.default.createDirectory(atPath: dir + "/stdlib", withIntermediateDirectories: true)
    try "def shout(s):\n    return s.upper()\n".write(toFile: dir + "/stdlib/mine.fin", atomically: true, encoding: .utf8)
    try "%% a\nuse \"mine\"\nprint(shout(\"x\"))\n".write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
    let problems = checkNotebook(try Notebook.load(path: dir + "/nb.cell"), modules: ModuleLoader(searchPaths: ModuleLoader.defaultSearchPaths(environment: [:])))
    #expect(problems.isEmpty, "\(problems.map(\.1.message))")
}

extension REPLProcessTests {
    /// `finch run` from another folder, and by an absolute path: the embedded stdlib, the notebook's own stdlib/,
    /// its files and run folders beside it, messages with paths the shell can use.
    @Test func runFromAnotherFolderResolvesBesideTheNotebook() throws {
        let root = try tempDirectory()
        let nb = root + "/project/notebooks"
        try FileManager.default.createDirectory(atPath: nb + "/stdlib", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/elsewhere", withIntermediateDirectories: true)
        try "local_value = 7\n".write(toFile: nb + "/stdlib/local.fin", atomically: true, encoding: .utf8)
        try "x,y\n1,2\n".write(toFile: nb + "/rows.csv", atomically: true, encoding: .utf8)
        try """
        %% a
        use "text"
        use "local"
        print(truncate("hello world", 6), local_value)
        data = load_dataset("rows.csv")
        print(len(data))
        write_text("note.txt", "ok")
        run = track("proj", run="r1")
        """.write(toFile: nb + "/nb.cell", atomically: true, encoding: .utf8)

        // Relative notebook path, working directory two levels up.
        let rel = try finchWithoutStdlib(["run", "project/notebooks/nb.cell"], cwd: root)
        #expect(rel.code == 0, "\(rel.err)")
        #expect(rel.out == "hello… 7\n1\n")
        #expect(rel.err.contains("loaded 1 rows from project/notebooks/rows.csv"), "\(rel.err)")
        #expect(FileManager.default.fileExists(atPath: nb + "/note.txt"))
        #expect(FileManager.default.fileExists(atPath: nb + "/runs/proj/r1/metrics.jsonl"))
        #expect(FileManager.default.fileExists(atPath: nb + "/nb.out.md"))
        #expect(rel.err.contains("tracking run proj/r1 in project/notebooks/runs/proj/r1"), "\(rel.err)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: root)) == ["project", "elsewhere"])

        // Absolute notebook path from an unrelated folder: absolute paths in messages; nothing written there.
        try FileManager.default.removeItem(atPath: nb + "/note.txt")
        let abs = try finchWithoutStdlib(["run", nb + "/nb.cell", "--no-transcript"], cwd: root + "/elsewhere")
        #expect(abs.code == 0, "\(abs.err)")
        #expect(abs.out == "hello… 7\n1\n")
        #expect(FileManager.default.fileExists(atPath: nb + "/note.txt"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/elsewhere").isEmpty)

        #expect(abs.err.contains("tracking run proj/r1 in \(nb)/runs/proj/r1"), "\(abs.err)")

        // Absolute notebook path from its own folder: messages relative to it.
        let own = try finchWithoutStdlib(["run", nb + "/nb.cell", "--no-transcript"], cwd: nb)
        #expect(own.code == 0, "\(own.err)")
        #expect(own.err.contains("tracking run proj/r1 in runs/proj/r1"), "\(own.err)")
    }

    /// A missing data file is named where it was looked for (beside the notebook), not as typed.
    @Test func missingNotebookFileNamesTheFolderItLookedIn() throws {
        let root = try tempDirectory()
        try FileManager.default.createDirectory(atPath: root + "/nb", withIntermediateDirectories: true)
        try "%% a\nprint(read_text(\"data/none.txt\"))\n".write(toFile: root + "/nb/nb.cell", atomically: true, encoding: .utf8)
        let r = try finchWithoutStdlib(["run", "nb/nb.cell", "--no-transcript"], cwd: root)
        #expect(r.code == 1)
        #expect(r.err.contains("cannot read 'nb/data/none.txt'"), "\(r.err)")
    }
}

extension REPLProcessTests {
    /// The model built-ins on a tiny model folder beside the notebook: load_model, train's checkpoints, save and
    /// load_adapter all resolve against the notebook's folder when finch runs from its parent.
    @Test func modelBuiltinsResolveBesideTheNotebook() throws {
        let root = try tempDirectory()
        let nb = root + "/nb", tiny = nb + "/tiny"
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        let fixtures = repoRoot + "/Tests/FinchModelsTests/Fixtures"
        for f in ["config.json", "model.safetensors", "generation_config.json"] {
            try FileManager.default.copyItem(atPath: fixtures + "/tiny/tiny-llama3/" + f, toPath: tiny + "/" + f)
        }
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: fixtures + "/tokenizers/smollm2/" + f, toPath: tiny + "/" + f)
        }
        try """
        %% a
        model = lora(load_model("tiny"), r=2, alpha=4, seed=1)
        result = train(model, dataset([{"text": "0123"}, {"text": "1+1=2"}]), steps=1, batch_size=1, checkpoint_every=1)
        print(save(model, "outputs/lora"))
        again = load_adapter(load_model("tiny"), "outputs/lora")
        print(again.has_adapter)
        """.write(toFile: nb + "/nb.cell", atomically: true, encoding: .utf8)
        let r = try finchWithoutStdlib(["run", "nb/nb.cell", "--no-transcript", "--fresh"], cwd: root)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out == "outputs/lora\ntrue\n")   // save returns the path as written
        #expect(r.err.contains("saved adapter to nb/outputs/lora"), "\(r.err)")
        #expect(r.err.contains("loaded adapter nb/outputs/lora"), "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: nb + "/outputs/lora/adapter_model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: nb + "/checkpoints/tiny"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["nb"])
    }
}
