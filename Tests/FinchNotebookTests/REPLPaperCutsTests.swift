import Foundation
import Testing
import FinchHub
@testable import FinchLang
@testable import FinchNotebook

// #17, "Notebooks and the REPL": the REPL driven through its LineReader, and the bindings in process.

/// Feeds the REPL a script of reader results (lines, Ctrl-C, Ctrl-D) and records the prompts asked.
final class ScriptedReader: LineReader {
    var script: [LineResult]
    var prompts: [String] = []
    init(_ script: [LineResult]) { self.script = script }
    func readLine(prompt: String) -> LineResult {
        prompts.append(prompt)
        return script.isEmpty ? .end : script.removeFirst()
    }
    func remember(_ line: String) {}
}

/// Runs a REPL over `script`; returns the exit code, standard output and standard error.
func runREPL(_ script: [LineResult], interactive: Bool = false, registry: BuiltinRegistry = makeRegistry(),
             setup: (Interpreter) -> Void = { _ in }) -> (code: Int32, out: String, err: String, reader: ScriptedReader) {
    var out = "", err = ""
    let reader = ScriptedReader(script)
    let repl = REPL(registry: registry, reader: reader, interactive: interactive, write: { out += $0 }, writeError: { err += $0 })
    repl.interpreter.interruptFlag = InterruptFlag()
    repl.interpreter.modules = ModuleLoader(searchPaths: [repoRoot + "/stdlib"])
    setup(repl.interpreter)
    let code = repl.run()
    return (code, out, err, reader)
}

@Test func ctrlDAtAContinuationPromptCancelsTheBlockOnly() {
    let r = runREPL([.line("x = 41"), .line("def f(n):"), .line("    return n +"), .end, .line("print(x + 1)"), .end], interactive: true)
    #expect(r.reader.prompts == ["finch> ", "finch> ", "  ...> ", "  ...> ", "finch> ", "finch> "])
    #expect(r.out.contains("42\n"), "\(r.out)")
    #expect(r.err.contains("cancelled the unfinished block"))
    #expect(!r.err.contains("syntax error"))
    #expect(r.code == 0)
    // Piped input is not a person at a keyboard: end of input runs what is buffered.
    let piped = runREPL([.line("for i in range(2):"), .line("    print(i)")])
    #expect(piped.out == "0\n1\n" && piped.code == 0)
}

@Test func replNeverPrintsASecretValue() {
    let value = "hf_ReplEchoSecret4242xyz"
    let registry = makeRegistry()    // installs the Hub's redaction of every known secret
    Redactor.shared.register(value)   // as login("hf_…") or secret() do
    let r = runREPL([.line("t = \"\(value)\""), .line("t"), .line("[t, 1]"), .line("{\"token\": t}"), .line(":vars"),
                     .line("print(t)"), .line("t + undefined_name")], registry: registry)
    #expect(!r.out.contains(value) && !r.err.contains(value), "\(r.out)\n\(r.err)")
    let lines = r.out.split(separator: "\n")
    #expect(lines.first == "\"••••••\"")
    #expect(lines.contains("[\"••••••\", 1]") && lines.contains("{\"token\": \"••••••\"}") && lines.contains("••••••"))
    #expect(lines.contains { $0.hasPrefix("  t ") && $0.contains("\"••••••\"") })   // :vars
    // :vars shortens long values: the mask goes on first, so no cut-off part of a secret shows
    let long = "hf_" + String(repeating: "LongSecretPart", count: 5)
    Redactor.shared.register(long)
    let vars = runREPL([.line("k = \"\(long)\""), .line(":vars")], registry: registry)
    #expect(!vars.out.contains("LongSecretPart") && vars.out.contains("\"••••••\""), "\(vars.out)")
}

@Test func oneMaskForSecretsEverywhere() {
    #expect(OutputSink.redactedText == Redactor.replacement)
    #expect(OutputSink.redactedText == Secret.mask)
    let sink = OutputSink(destination: { _ in })
    sink.redactions = ["sk-exactly-this"]
    #expect(sink.redact("key sk-exactly-this") == "key ••••••")
}

@Test func pipedScriptsReportTheirRealLineNumbers() {
    let r = runREPL([.line("x = 1"), .line(""), .line("def f():"), .line("    return 2"), .line(""), .line("print(undefined_name)")])
    #expect(r.code == 1)
    #expect(r.err.contains("<stdin>:6:7: error: name 'undefined_name' is not defined"), "\(r.err)")
    let syntax = runREPL([.line("print(1)"), .line("print(1 +)")])
    #expect(syntax.err.contains("<stdin>:2:"), "\(syntax.err)")
}

@Test func keywordCompletionDropsArgumentsAlreadyGiven() {
    let interp = Interpreter(registry: makeRegistry(), output: OutputSink(destination: { _ in }))
    let c = Completer(interpreter: interp)
    #expect(c.complete("sorted(x, rev").candidates.contains("reverse="))
    #expect(!c.complete("sorted(x, reverse=true, rev").candidates.contains("reverse="))
    #expect(!c.complete("sorted(x, key=len, reverse=f(a=1), ").candidates.contains("key="))
    let train = c.complete("train(m, data, steps=10, lr=2e-4, eval=[1, 2], ").candidates
    #expect(!train.contains("steps=") && !train.contains("lr=") && !train.contains("eval="))
    #expect(train.contains("epochs=") && train.contains("train_on="))
    // `==` is a comparison, not a keyword given
    #expect(c.complete("sorted(x == y, rev").candidates.contains("reverse="))
}

@Test func helpExplainsEveryParameterOfEveryBuiltin() {
    let registry = BuiltinRegistry.standard()
    registerModelBindings(registry); registerPromptStyleBinding(registry); registerTrainBindings(registry); registerHubBindings(registry)
    #expect(documentBindingParameters(registry).isEmpty)   // no stale names
    #expect(documentCoreParameters(registry).isEmpty)
    for f in registry.functions.values {
        let missing = f.params.map(\.name).filter { f.parameterDocs[$0] == nil }
        #expect(missing.isEmpty, "\(f.name)(): parameters without an explanation in ParameterDocs.swift (FinchLang for the core ones): \(missing)")
    }
    let interp = Interpreter(registry: registry, output: OutputSink(destination: { _ in }))
    let help = interp.helpText(for: .string("train"))
    #expect(help.contains("\n  parameters:\n"))
    #expect(help.contains("    train_on ") && help.contains("\"responses\" (only the response"))
    #expect(help.contains("    early_stop ") && help.contains("    eval ") && help.contains("(default \"auto\")"))
}

/// The tiny Llama-3 fixture as a model folder, loaded into an interpreter as `m`.
func interpreterWithTinyModel(_ dir: String, flag: InterruptFlag, out: @escaping (String) -> Void, err: @escaping (String) -> Void) throws -> Interpreter {
    let interp = Interpreter(registry: makeRegistry(), output: OutputSink(destination: out, errorDestination: err))
    interp.interruptFlag = flag
    let folder = try REPLProcessTests.tinyFolder(in: dir)
    try interp.run(SourceFile(name: "setup", text: "m = load_model(\"\(folder)\")\n"))
    return interp
}

@Test func ctrlCInGenerateKeepsThePartialText() throws {
    let dir = try tempDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let flag = InterruptFlag()
    var streamed = "", err = "", interruptNext = false
    let interp = try interpreterWithTinyModel(dir, flag: flag, out: { text in
        streamed += text
        if interruptNext { flag.request(); interruptNext = false }   // Ctrl-C after the first piece
    }, err: { err += $0 })
    let full = try interp.runReturningValue(SourceFile(name: "full", text: "generate(m, \"0123\", max_tokens=12, stream=false)\n"))
    guard case .string(let fullText)? = full else { Issue.record("generate returned \(String(describing: full))"); return }
    try #require(fullText.count > 2, "the tiny model ends too early for this test: \(fullText.debugDescription)")
    interruptNext = true
    streamed = ""
    try interp.run(SourceFile(name: "nb", text: "t = generate(m, \"0123\", max_tokens=12)\nprint(\"after\", len(t))\n"))
    guard case .string(let partial)? = interp.globals.vars["t"] else { Issue.record("t is not set"); return }
    #expect(!partial.isEmpty && partial.count < fullText.count && fullText.hasPrefix(partial), "\(partial.debugDescription) vs \(fullText.debugDescription)")
    #expect(streamed.contains("after "))
    #expect(err.contains("stop reason: interrupted"))
    #expect(!flag.isRequested)   // the Ctrl-C was spent on the generation
}

@Test func ctrlCInTrainIsAcknowledgedAtOnceAndMemoryIsNamedAsReported() throws {
    let dir = try tempDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    defer { close(fds[0]); close(fds[1]) }
    let flag = InterruptFlag()
    flag.acknowledgementFD = fds[1]
    var err = "", acknowledgedBeforeTheStepEnded = ""
    let interp = try interpreterWithTinyModel(dir, flag: flag, out: { _ in }, err: { text in
        err += text
        if text.contains("step 1/") {
            flag.request()   // what the SIGINT handler calls
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) > 0 {
                var buf = [UInt8](repeating: 0, count: 512)
                let n = read(fds[0], &buf, buf.count)
                acknowledgedBeforeTheStepEnded = String(decoding: buf[0..<max(n, 0)], as: UTF8.self)
            }
        }
    })
    let source = """
    lora(m, r=2, alpha=4)
    data = dataset([{"text": "0123456789"}, {"text": "9876543210"}])
    r = train(m, data, steps=500, batch_size=1, checkpoint_dir="\(dir)/ckpt")
    """
    #expect(throws: Interrupted.self) { try interp.run(SourceFile(name: "nb", text: source + "\n")) }
    #expect(acknowledgedBeforeTheStepEnded.contains("stopping after this step…"))
    #expect(err.contains("training interrupted at step 1"), "\(err)")
    // the estimate names the same quantity the result reports: the process's peak resident memory
    #expect(err.contains("so expect a peak resident of about "), "\(err)")
    #expect(err.contains(", peak resident "))
}

@Test func loadDatasetOfAMissingFileSaysFileNotFound() throws {
    let interp = Interpreter(registry: makeRegistry(), output: OutputSink(destination: { _ in }, errorDestination: { _ in }))
    for path in ["missing.json", "data/missing.csv", "./nothing-here"] {
        do {
            try interp.run(SourceFile(name: "nb", text: "load_dataset(\"\(path)\")\n"))
            Issue.record("load_dataset(\"\(path)\") did not fail")
        } catch let e as Diagnostic {
            #expect(e.message.contains("\(path): file not found"), "\(e.message)")
        }
    }
    // in a notebook, relative paths start in its folder: the message says where it looked
    interp.baseDirectory = "/nonexistent-notebook-folder"
    do {
        try interp.run(SourceFile(name: "nb", text: "load_dataset(\"missing.json\")\n"))
        Issue.record("load_dataset(\"missing.json\") did not fail")
    } catch let e as Diagnostic {
        #expect(e.message.contains("missing.json: file not found (looked for /nonexistent-notebook-folder/missing.json)"), "\(e.message)")
    }
}

@Test func theREPLShowsEachValueOnce() throws {
    let dir = try tempDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let folder = try REPLProcessTests.tinyFolder(in: dir)
    let r = runREPL([.line("m = load_model(\"\(folder)\")"), .line("lora(m, r=2, alpha=4)"),
                     .line("save(m, \"\(dir)/adapter\")"), .line("print(\"--\")"),
                     .line("generate(m, \"0123\", max_tokens=4)"), .line("print(\"--\")"),
                     .line("generate(m, \"0123\", max_tokens=4, stream=false)")])
    #expect(r.code == 0, "\(r.err)")
    let parts = r.out.components(separatedBy: "--\n")
    try #require(parts.count == 3, "\(r.out)")
    // lora(m) returns the model: echoed (nothing printed it); save's path: on stderr once, not echoed
    #expect(!parts[0].contains("\(dir)/adapter") && r.err.contains("saved adapter to \(dir)/adapter"))
    // the streamed reply, once; the unstreamed one is echoed as a value
    let echoed = parts[2].trimmingCharacters(in: .newlines)
    #expect(echoed.hasPrefix("\""))
    #expect(!parts[1].contains(echoed), "\(parts[1].debugDescription) repeats \(echoed)")
}

extension REPLProcessTests {
    @Test func versionCommandsAndADirectoryNamedLikeANotebook() throws {
        for args in [["version"], ["-V"], ["--version"]] {
            let r = try finch(args)
            #expect(r.code == 0 && r.out == FinchVersion.string + "\n", "\(args): \(r.out) \(r.err)")
        }
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/x.cell", withIntermediateDirectories: true)
        let r = try finch(["run", dir + "/x.cell"])
        #expect(r.code == 1 && r.err.contains("x.cell: is a directory, not a notebook"), "\(r.err)")
        let check = try finch(["check", dir + "/x.cell"])
        #expect(check.code == 1 && check.err.contains("is a directory"))
    }

    /// At a real terminal: Ctrl-D at `...>` drops the block and the session (with its variables) goes on.
    @Test func ctrlDAtTheContinuationPromptOfARealTerminal() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let term = try startREPL(stateDir: dir)
        term.read(until: "finch> ")
        term.send("kept = 41\r")
        term.read(until: "finch> ")
        term.send("def f():\r")
        term.read(until: "...> ")
        term.send("\u{04}")
        // The message itself names `finch> `: wait for its end, then for the prompt after it.
        #expect(term.read(until: "exits)").contains("cancelled the unfinished block (Ctrl-D at finch> exits)"))
        term.read(until: "finch> ")
        term.send("print(kept + 1)\r")
        #expect(term.read(until: "finch> ").contains("42"))
        term.send("\u{04}")
        #expect(term.wait() == 0)
    }
}
