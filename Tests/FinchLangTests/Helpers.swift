import Testing
@testable import FinchLang

/// Runs Finch source in a fresh interpreter and returns what it printed.
func run(_ source: String, name: String = "test") throws -> String {
    let (sink, captured) = OutputSink.capturing()
    let interp = Interpreter(output: sink, modules: ModuleLoader(searchPaths: [stdlibPath]))
    try interp.run(SourceFile(name: name, text: source))
    return captured()
}

/// The rendered error a source raises (syntax or runtime), or nil when it runs.
func errorText(_ source: String, name: String = "test") -> String? {
    do { _ = try run(source, name: name); return nil }
    catch let e as SyntaxErrors { return e.description }
    catch let e as Diagnostic { return e.render() }
    catch { return "\(error)" }
}

/// The repository's stdlib/ folder.
let stdlibPath: String = {
    var url = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    url = "/" + url + "/stdlib"
    return url
}()
