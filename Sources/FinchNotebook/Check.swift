import Foundation
import FinchLang

/// `finch check`: parses every code cell and resolves names and built-in keywords without running.
public func checkNotebook(_ notebook: Notebook, registry: BuiltinRegistry = makeRegistry(), modules: ModuleLoader = ModuleLoader()) -> [(Notebook.Cell?, Diagnostic)] {
    let checker = Checker(registry: registry, modules: modules)
    checker.baseDirectory = URL(fileURLWithPath: notebook.path).deletingLastPathComponent().standardized.path
    let all = (try? withLargeStack { () -> [Diagnostic] in
        for cell in notebook.cells where cell.kind == .code { checker.check(notebook.sourceFile(cell)) }
        return checker.finish().sorted { ($0.line, $0.column) < ($1.line, $1.column) }
    }) ?? []
    // Attribute each diagnostic to the cell whose lines contain it.
    return all.map { d in
        let cell = notebook.cells.last { $0.kind == .code && $0.firstLine <= d.line }
        return (cell, d)
    }
}
