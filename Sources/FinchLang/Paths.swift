import Foundation

// The path rule, as in Jupyter (whose kernel starts in the notebook's folder): a notebook's relative paths
// resolve against the notebook's folder whatever the working directory; at the prompt they resolve against
// the working directory. Every built-in that takes a path goes through `Interpreter.resolvePath`, so the
// process never changes directory (tests run sessions side by side in threads).

/// `path` as an absolute path: unchanged when absolute, else joined to `base` and standardized (`a/../b` → `b`).
public func resolvePath(_ path: String, base: String) -> String {
    if path.hasPrefix("/") { return path }
    if path.isEmpty || path == "." { return URL(fileURLWithPath: base).standardized.path }
    return URL(fileURLWithPath: base).appendingPathComponent(path).standardized.path
}

/// An absolute path as messages show it: relative to `workingDirectory` when inside it, else absolute.
public func displayPath(_ path: String, workingDirectory: String = FileManager.default.currentDirectoryPath) -> String {
    let cwd = URL(fileURLWithPath: workingDirectory).standardized.path
    guard path.hasPrefix("/") else { return path }
    if path == cwd { return "." }
    let prefix = cwd.hasSuffix("/") ? cwd : cwd + "/"
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
}

extension Interpreter {
    /// A path as a built-in opens it: relative paths against the session's base folder (`baseDirectory`, the
    /// notebook's folder); unchanged at the prompt, where the base is the working directory.
    public func resolvePath(_ path: String) -> String {
        guard let base = baseDirectory else { return path }
        return FinchLang.resolvePath(path, base: base)
    }

    /// `resolvePath`, but a local path only when something is there: sources that may also be Hub ids
    /// (`load_model`, `load_dataset`) fall back to the text as given.
    public func resolveExistingPath(_ path: String) -> String {
        let resolved = resolvePath(path)
        return FileManager.default.fileExists(atPath: resolved) ? resolved : path
    }

    /// A resolved path for messages: relative to the working directory when inside it.
    public func displayPath(_ path: String) -> String { FinchLang.displayPath(path) }
}
