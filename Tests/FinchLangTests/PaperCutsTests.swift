import Testing
import FinchSupport
#if canImport(Glibc)
import Glibc
#endif
@testable import FinchLang

// #17, "Notebooks and the REPL": the language-level paper cuts.

/// Python's recursion limit: 1000 frames deep runs (on the interpreter's large stack, no crash), one more
/// is an error whose traceback collapses the repeated frame.
@Test func recursionReachesPythonsLimitAndCollapsesTheTraceback() throws {
    #expect(Interpreter.maxCallDepth == 1000)
    let deep = "def depth(n):\n    if n == 0:\n        return 0\n    return 1 + depth(n - 1)\nprint(depth(999))\n"
    #expect(try run(deep) == "999\n")   // 1000 calls of depth: the limit itself
    let text = errorText("def f(n):\n    return f(n + 1)\nf(0)\n")!
    #expect(text.contains("maximum call depth (1000) exceeded in f()"))
    #expect(text.contains("  … repeated 997 more times\n"), "\(text.prefix(600))")
    // the top-level frame, 3 of the 1000 identical frames, the count: not a thousand lines
    #expect(text.split(separator: "\n").count < 15)
}

@Test func aRepeatedFrameIsCollapsedOnlyWhenRepeatedMoreThanThreeTimes() {
    let f = StackFrame(function: "f", source: "nb.cell", line: 2, column: 12)
    let g = StackFrame(function: "g", source: "nb.cell", line: 5, column: 3)
    let d = Diagnostic(kind: .runtime, message: "boom", source: "nb.cell", line: 2, column: 12, sourceLine: "", stack: [g, f, f, f, g])
    #expect(!d.render().contains("repeated"))
    let e = Diagnostic(kind: .runtime, message: "boom", source: "nb.cell", line: 2, column: 12, sourceLine: "", stack: [g, f, f, f, f, g])
    #expect(e.render().contains("  nb.cell:2:12 in f\n  nb.cell:2:12 in f\n  nb.cell:2:12 in f\n  … repeated 1 more time\n  nb.cell:5:3 in g\n"))
}

@Test func noneInsideContainersPrintsAsNone() throws {
    #expect(try run("print([1, none], {\"k\": none}, none)") == "[1, none] {\"k\": none} none\n")
    #expect(repr(.list(FinchList([.none]))) == "[none]")
    #expect(try run("print(json([none]))") == "[null]\n")   // JSON keeps null
}

/// The SIGINT handler calls `request()`: while armed, the first request writes the acknowledgement at
/// once (train's "stopping after this step…"), a second one does not repeat it, and disarmed it is silent.
@Test func interruptRequestWritesTheArmedAcknowledgementAtOnce() throws {
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    defer { close(fds[0]); close(fds[1]) }
    let flag = InterruptFlag()
    flag.acknowledgementFD = fds[1]
    func drain() -> String {
        var buf = [UInt8](repeating: 0, count: 256)
        var out = ""
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) > 0 {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            out += String(decoding: buf[0..<n], as: UTF8.self)
        }
        return out
    }
    flag.acknowledge("stopping after this step…\n") {
        #expect(flag.request() == false)
        #expect(drain() == "stopping after this step…\n")
        #expect(flag.request() == true)
        #expect(drain() == "")
    }
    flag.clear()
    flag.request()
    #expect(drain() == "")
    #expect(flag.isRequested)
}
