// libFuzzer harness for Finch's lexer and parser (and the pieces of user text they hand on: f-string
// format specs and JSON). Built by fuzz/run.sh together with Sources/FinchLang/*.swift in one module.
// Any crash, hang, or stack overflow on any input is a bug: bad source must give diagnostics.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let file = SourceFile(name: "fuzz", text: text)
    do {
        _ = try Parser.parse(file)
    } catch let e as SyntaxErrors {
        // Rendering touches every position the parser reported.
        for d in e.diagnostics { _ = d.render(color: true) }
    } catch {}
    // The REPL asks whether input is complete with the lexer alone.
    var lexer = Lexer(text)
    _ = lexer.tokenize()
    if size < 64 { _ = try? formatValue(.float(3.25), spec: text); _ = try? formatValue(.int(-42), spec: text) }
    _ = try? parseJSON(text)
    return 0
}
