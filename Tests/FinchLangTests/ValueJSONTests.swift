import Testing
@testable import FinchLang

/// json() and parse_json go through the one converter and FinchSupport's JSON.
@Test func jsonRoundTripsValuesAndFloatsExactly() throws {
    #expect(try run(#"print(json(parse_json("{\"b\": 1, \"a\": [1.5, 1e-05, 0.1, true, null, \"é\\n\"]}")))"#)
            == #"{"b":1,"a":[1.5,1e-05,0.1,true,null,"é\n"]}"# + "\n")
    #expect(try run(#"print(parse_json("[1, 2.0]") == [1, 2.0])"#) == "true\n")
    #expect(try run("print(json({\"a\": [1, 2]}, indent=2))") == "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n")
    #expect(try run("x = 0.1 + 0.2\nprint(parse_json(json(x)) == x)") == "true\n")
}

@Test func parseJSONErrorsNameTheByteAndJSONRefusesWhatItCannotHold() throws {
    #expect(throws: (any Error).self) { try run(#"parse_json("[1, 2")"#) }
    #expect(throws: (any Error).self) { try run(#"parse_json("[1] x")"#) }
    #expect(throws: (any Error).self) { try run("json(float(\"nan\"))") }
    #expect { try parseJSON("[1,") } throws: { "\($0)".contains("unexpected end of input at byte 3") }
    // Python's json writes NaN; parse_json reads it (lenient), json() refuses to write it back.
    #expect(try run(#"print(parse_json("[NaN]"))"#) == "[nan]\n")
}
