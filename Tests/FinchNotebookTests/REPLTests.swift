import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

/// The debug `finch` binary next to the test bundle.
let finchBinary = repoRoot + "/.build/debug/finch"

func startREPL(stateDir: String) throws -> PseudoTerminal {
    #expect(FileManager.default.isExecutableFile(atPath: finchBinary), "build finch first: swift build --product finch")
    return try PseudoTerminal(finchBinary, environment: [
        "HOME": stateDir, "XDG_STATE_HOME": stateDir + "/state", "TERM": "xterm", "NO_COLOR": "1",
        "FINCH_STDLIB": repoRoot + "/stdlib", "PATH": "/usr/bin:/bin",
    ])
}

/// Tests that spawn processes run one at a time so no other child reaper can race their waitpid.
@Suite(.serialized) struct REPLProcessTests {

@Test func replRunsMultiLineDefAndInterruptsLoopKeepingVariables() throws {
    let dir = try tempDirectory()
    let term = try startREPL(stateDir: dir)
    term.read(until: "finch> ")
    term.send("x = 41\r")
    term.read(until: "finch> ")
    term.send("def f(n):\r")
    #expect(term.read(until: "...> ").contains("...> "))
    term.send("    return n + 1\r")
    term.read(until: "...> ")
    term.send("\r")
    term.read(until: "finch> ")
    term.send("f(x)\r")
    #expect(term.read(until: "finch> ").contains("42"))
    // The loop says when it runs: a Ctrl-C typed before that (at the `...>` prompt, or before the
    // statement starts) would be taken as Ctrl-C at the prompt instead.
    term.send("if true:\r    print('looping')\r    while true:\r        x = x\r\r")
    term.read(until: "looping\r\n")
    term.type("\u{03}")
    #expect(term.read(until: "finch> ").contains("interrupted"))
    term.send("print(x + 1)\r")
    #expect(term.read(until: "finch> ").contains("42"))
    // Ctrl-C at the prompt drops the line being typed.
    term.send("this is not run\u{03}")
    term.read(until: "finch> ")
    term.send("print('after')\r")
    let after = term.read(until: "finch> ")
    #expect(after.contains("after") && !after.contains("not defined"))
    term.send("\u{04}")
    #expect(term.wait() == 0)
}

@Test func replHistoryPersistsAndRecalls() throws {
    let dir = try tempDirectory()
    do {
        let term = try startREPL(stateDir: dir)
        term.read(until: "finch> ")
        term.send("print(6 * 7)\r")
        term.read(until: "finch> ")
        term.send("\u{04}")
        #expect(term.wait() == 0)
    }
    let history = try String(contentsOfFile: dir + "/state/finch/history", encoding: .utf8)
    #expect(history.contains("print(6"))
    let term = try startREPL(stateDir: dir)
    term.read(until: "finch> ")
    term.send("\u{1B}[A\r")  // Up arrow recalls the previous session's line
    #expect(term.read(until: "42").contains("42"))
    term.send("\u{04}")
    #expect(term.wait() == 0)
}

@Test func replCompletesNamesAndKeywords() throws {
    let dir = try tempDirectory()
    let term = try startREPL(stateDir: dir)
    term.read(until: "finch> ")
    term.send("learning_rate = 3\r")
    term.read(until: "finch> ")
    term.send("print(learn\t")
    #expect(term.read(until: "ing_rate").contains("ing_rate"))
    term.send(")\r")
    #expect(term.read(until: "finch> ").contains("3"))
    term.send("enumerate([5], sta\t")
    #expect(term.read(until: "rt=").contains("rt="))
    term.send("1)\r")
    #expect(term.read(until: "finch> ").contains("[[1, 5]]"))
    term.send("\u{04}")
    #expect(term.wait() == 0)
}

@Test func pipedInputReadsPlainlyWithoutEscapes() throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: finchBinary)
    let input = Pipe(), output = Pipe(), errors = Pipe()
    p.standardInput = input; p.standardOutput = output; p.standardError = errors
    try p.run()
    input.fileHandleForWriting.write("x = [1,\n 2]\ndef g(a):\n    return a * 2\n\nprint(g(x))\n:vars\n".data(using: .utf8)!)
    try input.fileHandleForWriting.close()
    p.waitUntilExit()
    let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(p.terminationStatus == 0)
    #expect(out.hasPrefix("[1, 2, 1, 2]\n"))
    #expect(out.contains("x              list      [1, 2]"))
    #expect(!out.contains("\u{1B}") && !out.contains("finch>"))
}

}

@Test func completerUnit() {
    let interp = Interpreter(output: OutputSink(destination: { _ in }))
    try? interp.run(SourceFile(name: "t", text: "data = dataset([{\"a\": 1}])\nwords = 'x'"))
    let c = Completer(interpreter: interp)
    #expect(c.complete("wo").candidates == ["words"])
    #expect(c.complete("data.sel").candidates == ["select"])
    #expect(c.complete("words.up").candidates == ["upper"])
    #expect(c.complete("sorted(x, rev").candidates.contains("reverse="))
    #expect(c.complete(":lo").candidates == [":load"])
    #expect(c.complete("read_text(\"/etc/host").candidates.contains("/etc/hostname") || c.complete("read_text(\"/etc/host").candidates.contains("/etc/hosts"))
}

@Test func needsMoreInputFollowsBlocksAndBrackets() {
    #expect(REPL.needsMoreInput(["x = [1,"]))
    #expect(!REPL.needsMoreInput(["x = [1, 2]"]))
    #expect(REPL.needsMoreInput(["def f():"]))
    #expect(REPL.needsMoreInput(["def f():", "    return 1"]))
    #expect(!REPL.needsMoreInput(["def f():", "    return 1", ""]))
    #expect(REPL.needsMoreInput(["s = \"\"\"abc"]))
    #expect(!REPL.needsMoreInput(["d = {'a': 1}  # note:"]))
}

@Test func historyNeverHoldsSecretValues() throws {
    let dir = try tempDirectory()
    let interp = Interpreter(output: OutputSink(destination: { _ in }))
    interp.output.redactions = ["hf_TOPSECRET"]
    let reader = EditLineReader(completer: Completer(interpreter: interp), redact: interp.output.redact, historyPath: dir + "/history")
    reader.remember("login(\"hf_TOPSECRET\")")
    reader.remember("   ")
    reader.remember("print(1)")
    let saved = try String(contentsOfFile: dir + "/history", encoding: .utf8)
    #expect(!saved.contains("hf_TOPSECRET"))
    // the mask "••••••" is stored vis(3)-encoded by libedit: the line is there, the secret is not
    #expect(saved.contains("login(\"\\M-b"))
    #expect(saved.contains("print(1)"))
}
