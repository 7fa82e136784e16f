import Foundation

/// Finds stdlib modules for `use "name"`: `$FINCH_STDLIB` (colon-separated), then `stdlib/` in the
/// repository holding the executable, then `stdlib/` in the current directory.
public struct ModuleLoader: Sendable {
    public static let fileExtension = "fin"
    public var searchPaths: [String]

    public init(searchPaths: [String]? = nil) {
        self.searchPaths = searchPaths ?? ModuleLoader.defaultSearchPaths()
    }

    public static func defaultSearchPaths() -> [String] {
        var paths: [String] = []
        if let env = ProcessInfo.processInfo.environment["FINCH_STDLIB"], !env.isEmpty {
            paths += env.split(separator: ":").map(String.init)
        }
        // The executable lives in <repo>/.build/<config>/finch; look upwards for stdlib/.
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        if let exe = Bundle.main.executableURL { dir = exe.resolvingSymlinksInPath().deletingLastPathComponent() }
        for _ in 0..<5 {
            let candidate = dir.appendingPathComponent("stdlib").path
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), isDir.boolValue {
                paths.append(candidate)
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        paths.append(FileManager.default.currentDirectoryPath + "/stdlib")
        return paths
    }

    /// Names of every module found on the search path (for completion and errors).
    public func available() -> [String] {
        var names = Set<String>()
        for p in searchPaths {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: p)) ?? [] where f.hasSuffix("." + ModuleLoader.fileExtension) {
                names.insert(String(f.dropLast(ModuleLoader.fileExtension.count + 1)))
            }
        }
        return names.sorted()
    }

    public func load(_ name: String) throws -> SourceFile {
        guard !name.isEmpty, !name.contains("/"), !name.contains("..") else { throw FinchError("use: '\(name)' is not a module name") }
        for dir in searchPaths {
            let path = dir + "/" + name + "." + ModuleLoader.fileExtension
            if let data = FileManager.default.contents(atPath: path) {
                guard let text = String(data: data, encoding: .utf8) else { throw FinchError("use: \(path) is not valid UTF-8") }
                return SourceFile(name: "stdlib/\(name).\(ModuleLoader.fileExtension)", text: text)
            }
        }
        let hint = suggestion(for: name, among: available())
        throw FinchError("no module named '\(name)'\(hint.map { "; did you mean \"\($0)\"?" } ?? "") (searched: \(searchPaths.joined(separator: ", ")))")
    }
}
