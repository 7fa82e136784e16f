import Testing
@testable import FinchLang

@Test func lexerProducesIndentAndDedent() {
    var lexer = Lexer("if x:\n    y = 1\nz\n")
    let kinds = lexer.tokenize().map(\.kind)
    #expect(kinds == [.keyword("if"), .name("x"), .op(":"), .newline, .indent, .name("y"), .op("="), .int(1), .newline,
                      .dedent, .name("z"), .newline, .eof])
    #expect(lexer.errors.isEmpty)
}

@Test func lexerJoinsLinesInsideBrackets() {
    var lexer = Lexer("f(1,\n  2)\n")
    let kinds = lexer.tokenize().map(\.kind)
    #expect(kinds == [.name("f"), .op("("), .int(1), .op(","), .int(2), .op(")"), .newline, .eof])
}

@Test func lexerNumbersAndAliases() {
    var lexer = Lexer("2e-4 1_000 0xff 1.5 True None null")
    let kinds = lexer.tokenize().map(\.kind)
    #expect(kinds == [.float(2e-4), .int(1000), .int(255), .float(1.5), .keyword("true"), .keyword("none"), .keyword("none"), .newline, .eof])
}

@Test func lexerSurrogatePairsAndBadEscapes() {
    var ok = Lexer(#""\ud83d\ude00 \u00e9""#)
    #expect(ok.tokenize().first?.kind == .string("😀 é"))
    var lone = Lexer(#""\ud83d x""#)
    _ = lone.tokenize()
    #expect(lone.errors.first?.1.contains("surrogate") == true)
    var unknown = Lexer(#""\q""#)
    _ = unknown.tokenize()
    #expect(unknown.errors.first?.1.contains("unknown escape") == true)
}

@Test func fStringFieldsAreSplit() {
    var lexer = Lexer(#"f"a{x:.2f}b{y!r}""#)
    guard case .fstring(let pieces)? = lexer.tokenize().first?.kind else { Issue.record("not an f-string"); return }
    #expect(pieces.count == 4)
    #expect(pieces[1] == .expr(source: "x", pos: Pos(line: 1, column: 5), conversion: nil, spec: ".2f"))
    #expect(pieces[3] == .expr(source: "y", pos: Pos(line: 1, column: 13), conversion: "r", spec: ""))
}

@Test func parserBuildsPrecedenceCorrectly() throws {
    #expect(try run("print(1 + 2 * 3 ** 2, -2 ** 2, not 1 == 2 and 3 > 2, 1 < 2 < 3, 3 > 2 > 5)") == "19 -4 true true false\n")
    #expect(try run("x = 5\nprint('big' if x > 3 else 'small', 2 in [1, 2], 'z' not in 'abc')") == "big true true\n")
}

@Test func parserReportsEverySyntaxErrorInOneRun() {
    let src = """
    x = (1 +
    y = 2
    print("ok")
    z = = 3
    def f(:
        pass
    w = 1 +
    """
    guard let text = errorText(src, name: "cell bad") else { Issue.record("no error"); return }
    // Unclosed paren swallows line 2; then `= =` on 4, the def on 5, the dangling + on 7.
    #expect(text.contains("cell bad:4:5: syntax error"))
    #expect(text.contains("cell bad:5:6: syntax error: '(' was never closed"))
    #expect(text.contains("cell bad:1:5: syntax error: '(' was never closed"))
    #expect(!text.contains("cell bad:2:"))
    #expect(text.contains("cell bad:7:"))
    #expect(text.components(separatedBy: "syntax error").count - 1 >= 3)
}

@Test func syntaxErrorShowsSourceLineAndCaret() {
    let text = errorText("a = 1\nb = a +* 2\n", name: "cell c")!
    #expect(text == "cell c:2:8: syntax error: expected an expression, found '*'\n  2 | b = a +* 2\n    |        ^\n")
}

@Test func unterminatedStringIsAnErrorWithPosition() {
    let text = errorText("x = \"abc\ny = 2\n")!
    #expect(text.contains("test:1:5: syntax error: unterminated string"))
    let triple = errorText("x = \"\"\"abc\n\ny = 2\n")!
    #expect(triple.contains("unterminated triple-quoted string"))
}

@Test func hugeIntegerLiteralIsAnErrorNotACrash() {
    let text = errorText("x = 123456789012345678901234567890\n")!
    #expect(text.contains("test:1:5: syntax error: integer literal too large"))
    #expect(try! run("print(-9223372036854775807 - 1)") == "-9223372036854775808\n")
}

@Test func deepNestingIsAnErrorNotAStackOverflow() {
    let deep = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
    let text = errorText("x = " + deep)!
    #expect(text.contains("nesting too deep"))
    let list = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
    #expect(errorText(list)!.contains("nesting too deep"))
    let neg = "x = " + String(repeating: "-", count: 10_000) + "1"
    #expect(errorText(neg)!.contains("nesting too deep"))
    var blocks = ""
    for i in 0..<1_000 { blocks += String(repeating: " ", count: i) + "if true:\n" }
    #expect(errorText(blocks)!.contains("nesting too deep"))
}

@Test func binaryGarbageAndInvalidUTF8GiveErrors() {
    var bytes: [UInt8] = []
    var rng = SplitMix64(seed: 42)
    for _ in 0..<4096 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
    let text = String(decoding: bytes, as: UTF8.self)
    let err = errorText(text)
    #expect(err?.contains("syntax error") == true)
    #expect(errorText("x = 1 \u{FFFD}\n")!.contains("unexpected character U+FFFD"))
}

@Test func indentationErrors() {
    #expect(errorText("if true:\nx = 1\n")!.contains("expected an indented block"))
    #expect(errorText("if true:\n    x = 1\n  y = 2\n")!.contains("unindent does not match"))
    #expect(errorText("x = 1\n    y = 2\n")!.contains("unexpected indent"))
}
