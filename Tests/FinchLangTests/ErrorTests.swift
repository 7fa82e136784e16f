import Testing
@testable import FinchLang

@Test func unknownNameSuggestsNearest() {
    let text = errorText("model = 1\nprint(modle)\n", name: "cell m")!
    #expect(text.hasPrefix("cell m:2:7: error: name 'modle' is not defined; did you mean model?"))
    #expect(errorText("lenn([1])")!.contains("did you mean len?"))
}

@Test func unknownKeywordSuggestsNearest() {
    #expect(errorText("sorted([1], revers=true)")!.contains("sorted() has no parameter 'revers'; did you mean reverse?"))
    #expect(errorText("def f(alpha=1):\n    return alpha\nf(alpah=2)\n")!.contains("f() has no parameter 'alpah'; did you mean alpha?"))
}

@Test func wrongArgumentTypeNamesArgumentAndExpectedType() {
    #expect(errorText("range('a')")!.contains("range(): argument 'start' must be an int, got str \"a\""))
    #expect(errorText("read_text(3)")!.contains("read_text(): argument 'path' must be a string, got int 3"))
}

@Test func arityErrorsShowSignature() {
    #expect(errorText("len()")!.contains("len() is missing the required argument 'value'; signature: len(value)"))
    #expect(errorText("len(1, 2)")!.contains("len() takes at most 1 positional argument but 2 were given"))
}

@Test func runtimeErrorInsideFunctionHasCallStack() {
    let src = """
    def inner(x):
        return x + "s"
    def outer(y):
        return inner(y) * 2
    outer(1)
    """
    let text = errorText(src, name: "cell s")!
    #expect(text.hasPrefix("cell s:2:14: error: unsupported operand types for +: int and str"))
    #expect(text.contains("call stack (innermost last):\n  cell s:5:6 in <cell s>\n  cell s:4:17 in outer\n  cell s:2:14 in inner\n"))
}

@Test func integerOverflowIsAClearError() {
    #expect(errorText("x = 9223372036854775807\ny = x + 1")!.contains("integer overflow"))
    #expect(errorText("print(2 ** 64)")!.contains("integer overflow"))
    #expect(try! run("print(2.0 ** 64)") == "1.8446744073709552e+19\n")
}

@Test func indexAndKeyErrors() {
    #expect(errorText("[1, 2][5]")!.contains("list index 5 out of range (length 2)"))
    #expect(errorText("d = {\"question\": 1}\nd[\"questoin\"]")!.contains("did you mean \"question\"?"))
    #expect(errorText("'abc'.uper()")!.contains("a str has no attribute 'uper'; did you mean upper?"))
}

@Test func runawayRecursionIsAnError() {
    #expect(errorText("def f(n):\n    return f(n + 1)\nf(0)\n")!.contains("maximum call depth"))
}

@Test func cyclicListsPrintWithoutHanging() throws {
    let out = try run("a = [1]\na.append(a)\nd = {}\nd['self'] = d\nprint(a, d)")
    #expect(out == "[1, [...]] {\"self\": {...}}\n")
}

@Test func interruptFlagStopsLoopsAndKeepsVariables() throws {
    let (sink, captured) = OutputSink.capturing()
    let interp = Interpreter(output: sink)
    let flag = InterruptFlag()
    interp.interruptFlag = flag
    try interp.run(SourceFile(name: "a", text: "keep = 41"))
    flag.request()
    do {
        try interp.run(SourceFile(name: "b", text: "while true:\n    keep = keep\n"))
        Issue.record("loop was not interrupted")
    } catch {
        #expect(error is Interrupted)
    }
    #expect(!flag.isRequested)
    try interp.run(SourceFile(name: "c", text: "print(keep + 1)"))
    #expect(captured() == "42\n")
}

@Test func outputIsRedacted() throws {
    let (sink, captured) = OutputSink.capturing()
    sink.redactions = ["hf_secret123"]
    let interp = Interpreter(output: sink)
    try interp.run(SourceFile(name: "t", text: "print('token is hf_secret123!')"))
    #expect(captured() == "token is ••••••!\n")
}

@Test func extremeValuesGiveErrorsNotCrashes() throws {
    #expect(errorText("range(-9223372036854775807, 9223372036854775807)")!.contains("too many"))
    #expect(errorText("range(0, 10, -9223372036854775807 - 1)") == nil)
    #expect(errorText("[1] * 9223372036854775807")!.contains("list repetition too large"))
    #expect(errorText("'ab' * 9223372036854775807")!.contains("string repetition too large"))
    #expect(errorText("int('10', base=99)")!.contains("base must be between 2 and 36"))
    #expect(try run("print('abc'.find('b', 10), 'abc'.find('', 3))") == "-1 3\n")
    #expect(try run("a = [1]\na.append(a)\na.append(a)\nprint(a)") == "[1, [...], [...]]\n")
    #expect(errorText("a = [1]\na.append(a)\njson(a)")!.contains("the value contains itself"))
    let long = "x = " + Array(repeating: "1", count: 6000).joined(separator: " + ")
    #expect(errorText(long)!.contains("statement too long"))
    let ok = "x = " + Array(repeating: "1", count: 3000).joined(separator: " + ") + "\nprint(x)"
    #expect(try run(ok) == "3000\n")
}

/// An option argument (optimizer="adamw") names every allowed value and the nearest one.
@Test func choiceArgumentsListTheCasesAndSuggestTheNearest() throws {
    enum Kind: String, CaseIterable { case adamw, sgd }
    let sig = Signature([.keyword("optimizer", default: .string("adamw"))])
    let good = try sig.bind(function: "train", CallArgs(keywords: [("optimizer", .string("sgd"))]))
    #expect(try good.choice("optimizer", as: Kind.self) == .sgd)
    let bad = try sig.bind(function: "train", CallArgs(keywords: [("optimizer", .string("adam"))]))
    #expect(throws: FinchError.self) { try bad.choice("optimizer", as: Kind.self) }
    do { _ = try bad.choice("optimizer", as: Kind.self) } catch {
        #expect("\(error)".contains("train(): argument 'optimizer' must be one of \"adamw\", \"sgd\", got \"adam\"; did you mean \"adamw\"?"), "\(error)")
    }
}
