import Foundation
import FinchLang

/// Tab completion for the REPL: variables, built-ins, keywords, keyword arguments of the call being
/// typed, attributes and methods after a dot, meta-commands, and file paths inside strings.
public struct Completer {
    public let interpreter: Interpreter
    public init(interpreter: Interpreter) { self.interpreter = interpreter }

    static let metaCommands = [":help", ":load", ":cells", ":run", ":save", ":vars", ":quit"]
    static let languageKeywords = ["if", "elif", "else", "for", "in", "while", "break", "continue", "def", "return", "use",
                                   "and", "or", "not", "lambda", "true", "false", "none", "pass"]

    /// Completions for the text before the cursor: the start of the word being completed and the candidates
    /// (whole words, sorted).
    public func complete(_ before: String) -> (word: String, candidates: [String]) {
        let scalars = Array(before.unicodeScalars)
        // Inside a string literal: complete a file path.
        var quote: Unicode.Scalar? = nil, quoteStart = 0
        for (i, c) in scalars.enumerated() {
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c; quoteStart = i + 1 }
        }
        if quote != nil {
            let partial = String(String.UnicodeScalarView(scalars[quoteStart...]))
            return (partial, paths(partial))
        }
        if before.hasPrefix(":") {
            let parts = before.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 1 { return (before, Completer.metaCommands.filter { $0.hasPrefix(before) }) }
            let arg = String(parts[1])
            switch parts[0] {
            case ":load", ":save": return (arg, paths(arg))
            case ":help": return (arg, (interpreter.registry.names + interpreter.globals.vars.keys).filter { $0.hasPrefix(arg) }.sorted())
            default: return (arg, [])
            }
        }
        var start = scalars.count
        while start > 0, isWordScalar(scalars[start - 1]) { start -= 1 }
        let word = String(String.UnicodeScalarView(scalars[start...]))
        // After a dot: attributes and methods of the value named before it.
        if start > 0, scalars[start - 1] == "." {
            var objStart = start - 1
            while objStart > 0, isWordScalar(scalars[objStart - 1]) { objStart -= 1 }
            let objName = String(String.UnicodeScalarView(scalars[objStart..<(start - 1)]))
            guard let v = interpreter.globals.lookup(objName) else { return (word, []) }
            var names = methodNames(forType: v.typeName)
            if case .object(let o) = v { names = o.attributeNames + o.methodNames }
            return (word, Set(names).filter { $0.hasPrefix(word) }.sorted())
        }
        var names = Set(interpreter.globals.vars.keys).union(interpreter.registry.names).union(Completer.languageKeywords)
        if let callee = enclosingCall(scalars[..<start]) {
            // keywords already given in this call are not offered again
            let given = Set(keywordsGiven(scalars[..<start]))
            if let b = interpreter.registry.lookup(callee), interpreter.globals.lookup(callee) == nil {
                names.formUnion(b.signature.keywordNames.filter { !given.contains($0) }.map { $0 + "=" })
            } else if case .function(let f)? = interpreter.globals.lookup(callee) {
                names.formUnion(f.decl.params.map(\.name).filter { !given.contains($0) }.map { $0 + "=" })
            }
        }
        guard !word.isEmpty || enclosingCall(scalars[..<start]) != nil else { return (word, []) }
        return (word, names.filter { $0.hasPrefix(word) }.sorted())
    }

    func isWordScalar(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || (c.value > 0x7F && c.properties.isAlphabetic)
    }

    /// The name of the function whose argument list the cursor is in, if any.
    func enclosingCall(_ s: ArraySlice<Unicode.Scalar>) -> String? {
        var depth = 0
        var i = s.endIndex
        while i > s.startIndex {
            i -= 1
            let c = s[i]
            if c == ")" || c == "]" || c == "}" { depth += 1 }
            else if c == "[" || c == "{" { if depth == 0 { return nil }; depth -= 1 }
            else if c == "(" {
                if depth == 0 {
                    var j = i
                    while j > s.startIndex, isWordScalar(s[j - 1]) { j -= 1 }
                    return j < i ? String(String.UnicodeScalarView(s[j..<i])) : nil
                }
                depth -= 1
            }
        }
        return nil
    }

    /// The `name=` keywords written so far in the argument list the cursor is in (top level of that call).
    func keywordsGiven(_ s: ArraySlice<Unicode.Scalar>) -> [String] {
        // find the call's open parenthesis, as enclosingCall does
        var depth = 0, open = s.startIndex
        var i = s.endIndex
        while i > s.startIndex {
            i -= 1
            let c = s[i]
            if c == ")" || c == "]" || c == "}" { depth += 1 }
            else if c == "(" || c == "[" || c == "{" { if depth == 0 { open = i + 1; break }; depth -= 1 }
        }
        var out: [String] = []
        var word = "", level = 0, quote: Unicode.Scalar? = nil
        var j = open
        while j < s.endIndex {
            let c = s[j]
            if let q = quote { if c == q { quote = nil } }
            else if c == "\"" || c == "'" { quote = c; word = "" }
            else if c == "(" || c == "[" || c == "{" { level += 1; word = "" }
            else if c == ")" || c == "]" || c == "}" { level -= 1; word = "" }
            else if isWordScalar(c) { word.unicodeScalars.append(c) }
            else if c == "=" && level == 0 && !word.isEmpty && (j + 1 == s.endIndex || s[j + 1] != "=") {
                out.append(word); word = ""
            } else if c != " " { word = "" }
            j += 1
        }
        return out
    }

    func paths(_ partial: String) -> [String] {
        let expanded = partial.hasPrefix("~") ? NSString(string: partial).expandingTildeInPath : partial
        let dir: String, prefix: String
        if let slash = expanded.lastIndex(of: "/") {
            dir = String(expanded[...slash]); prefix = String(expanded[expanded.index(after: slash)...])
        } else {
            dir = ""; prefix = expanded
        }
        let listDir = dir.isEmpty ? "." : dir
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: listDir) else { return [] }
        let shownDir = partial.hasPrefix("~") ? String(partial[...(partial.lastIndex(of: "/") ?? partial.startIndex)]) : dir
        return entries.filter { $0.hasPrefix(prefix) && (!$0.hasPrefix(".") || prefix.hasPrefix(".")) }.sorted().map { name in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: listDir + "/" + name, isDirectory: &isDir)
            return (partial.hasPrefix("~") && !partial.contains("/") ? "" : shownDir) + name + (isDir.boolValue ? "/" : "")
        }
    }
}

/// The longest common prefix of the candidates.
func commonPrefix(_ items: [String]) -> String {
    guard var prefix = items.first else { return "" }
    for s in items.dropFirst() {
        while !s.hasPrefix(prefix) { prefix.removeLast() }
    }
    return prefix
}
