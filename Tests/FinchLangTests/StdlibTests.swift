import Testing
@testable import FinchLang

@Test func stdlibTextWrapsAtSpaces() throws {
    let out = try run("""
    use "text"
    print(wrap("the quick brown fox jumps", 10))
    print(wrap("abcdefghijkl", 5))
    print(truncate("hello world", 6), truncate("hi", 6), word_count(" a b  c "))
    """)
    #expect(out == "[\"the quick\", \"brown fox\", \"jumps\"]\n[\"abcde\", \"fghij\", \"kl\"]\nhello… hi 3\n")
}

@Test func stdlibCompareSideBySide() throws {
    let out = try run("""
    use "text"
    compare("short answer", "a much longer answer that wraps", width=12)
    """)
    let expected = """
    before       | after
    -------------+-------------
    short answer | a much
                 | longer
                 | answer that
                 | wraps

    """
    #expect(out == expected)
}

@Test func useIsIdempotentAndUnknownModuleSuggests() throws {
    #expect(try run("use \"text\"\nuse \"text\"\nprint(truncate(\"abc\", 2))") == "a…\n")
    #expect(errorText("use \"txt\"")!.contains("no module named 'txt'; did you mean \"text\"?"))
}
