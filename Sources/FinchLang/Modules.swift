import Foundation

/// Finds stdlib modules for `use "name"`, first match wins:
///   1. the folders in `$FINCH_STDLIB` (colon-separated),
///   2. `stdlib/` in the session's base folder (the notebook's folder; the working directory at the prompt),
///   3. the stdlib embedded in the binary at build time (`EmbeddedStdlib`), so a copied binary is complete.
public struct ModuleLoader: Sendable {
    public static let fileExtension = "fin"
    /// Folders searched in order; a relative one is taken relative to the base folder given to `load`.
    public var searchPaths: [String]
    /// Modules searched after the folders (name → source).
    public var embedded: [String: String]

    public init(searchPaths: [String]? = nil, embedded: [String: String] = EmbeddedStdlib.modules) {
        self.searchPaths = searchPaths ?? ModuleLoader.defaultSearchPaths()
        self.embedded = embedded
    }

    /// `$FINCH_STDLIB`'s folders (relative ones against the working directory), then `stdlib` (relative: beside
    /// the notebook).
    public static func defaultSearchPaths(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var paths: [String] = []
        if let env = environment["FINCH_STDLIB"], !env.isEmpty {
            paths += env.split(separator: ":").map { URL(fileURLWithPath: String($0)).standardized.path }
        }
        paths.append("stdlib")
        return paths
    }

    /// The folders searched, with relative ones resolved against `base` (nil: the working directory).
    public func folders(base: String? = nil) -> [String] {
        searchPaths.map { resolvePath($0, base: base ?? FileManager.default.currentDirectoryPath) }
    }

    /// Names of every module found (for completion and errors).
    public func available(base: String? = nil) -> [String] {
        var names = Set(embedded.keys)
        for p in folders(base: base) {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: p)) ?? [] where f.hasSuffix("." + ModuleLoader.fileExtension) {
                names.insert(String(f.dropLast(ModuleLoader.fileExtension.count + 1)))
            }
        }
        return names.sorted()
    }

    public func load(_ name: String, base: String? = nil) throws -> SourceFile {
        guard !name.isEmpty, !name.contains("/"), !name.contains("..") else { throw FinchError("use: '\(name)' is not a module name") }
        let label = "stdlib/\(name).\(ModuleLoader.fileExtension)"
        let dirs = folders(base: base)
        for dir in dirs {
            let path = dir + "/" + name + "." + ModuleLoader.fileExtension
            if let data = FileManager.default.contents(atPath: path) {
                guard let text = String(data: data, encoding: .utf8) else { throw FinchError("use: \(path) is not valid UTF-8") }
                return SourceFile(name: label, text: text)
            }
        }
        if let text = embedded[name] { return SourceFile(name: label, text: text) }
        let hint = suggestion(for: name, among: available(base: base))
        let searched = dirs + (embedded.isEmpty ? [] : ["the stdlib built into finch"])
        throw FinchError("no module named '\(name)'\(hint.map { "; did you mean \"\($0)\"?" } ?? "") (searched: \(searched.joined(separator: ", ")))")
    }
}

/// The stdlib modules compiled into the binary: SwiftPM embeds every file of stdlib/ at build time (through the
/// Sources/FinchLang/stdlib link), so nothing here can drift from the files; a test checks this table names
/// every one of them.
public enum EmbeddedStdlib {
    public static let modules: [String: String] = [
        "stats": String(decoding: PackageResources.stats_fin, as: UTF8.self),
        "styles": String(decoding: PackageResources.styles_fin, as: UTF8.self),
        "text": String(decoding: PackageResources.text_fin, as: UTF8.self),
    ]
}
