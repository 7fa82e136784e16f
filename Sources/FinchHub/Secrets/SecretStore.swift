// Finch's secrets store (the Kaggle "Secrets" add-on, done locally): a JSON object of name → value in
// `$XDG_CONFIG_HOME/finch/secrets.json` (default `~/.config/finch/`), mode 0600, written atomically.
// A store readable by group or others is refused, as ssh refuses a loose private key.
import Foundation
import FinchSupport
#if canImport(Glibc)
import Glibc
#endif

public struct SecretStore {
    public let path: String
    let environment: [String: String]

    public init(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.path = path
        self.environment = environment
    }

    /// The store at the XDG location for this environment.
    public static func defaultPath(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let x = env["XDG_CONFIG_HOME"], x.hasPrefix("/") { base = x } else { base = (env["HOME"] ?? Files.home) + "/.config" }
        return base + "/finch/secrets.json"
    }

    public static func `default`(environment env: [String: String] = ProcessInfo.processInfo.environment) -> SecretStore {
        SecretStore(path: defaultPath(environment: env), environment: env)
    }

    public static func validate(name: String) throws {
        guard let f = name.unicodeScalars.first, f == "_" || (f.isASCII && CharacterSet.letters.contains(f)),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || CharacterSet.alphanumerics.contains($0)) }),
              name.count <= 128
        else { throw SecretError.invalidName(name) }
    }

    /// Reads the store; a missing file is an empty store. Refuses a loose mode or another owner.
    func readAll() throws -> [(String, String)] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return [] }
            throw FileError(path: path, operation: "stat", errno: errno)
        }
        if st.st_uid != getuid() { throw SecretError.notOwned(path: path) }
        if st.st_mode & 0o077 != 0 { throw SecretError.looseMode(path: path, mode: UInt32(st.st_mode & 0o777)) }
        let data = try Files.read(path)
        if data.isEmpty { return [] }
        let json: JSON
        do { json = try JSON.parse(data, options: .lenient) } catch { throw SecretError.corruptStore(path: path, detail: "\(error)") }
        guard case .object(let pairs) = json else { throw SecretError.corruptStore(path: path, detail: "expected a JSON object") }
        var out: [(String, String)] = []
        for (k, v) in pairs {
            guard case .string(let s) = v else { throw SecretError.corruptStore(path: path, detail: "value of \(k) is not a string") }
            out.append((k, s))
            Redactor.shared.register(s)
        }
        return out
    }

    func writeAll(_ pairs: [(String, String)]) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try Files.makeDirectories(dir, mode: 0o700)
        let json = JSON.object(pairs.sorted { $0.0 < $1.0 }.map { ($0.0, .string($0.1)) })
        try AtomicFile.write(Data((json.serialized() + "\n").utf8), to: path, mode: 0o600)
    }

    /// Names only, sorted.
    public func names() throws -> [String] { try readAll().map(\.0).sorted() }

    public func set(name: String, value: String) throws {
        try SecretStore.validate(name: name)
        guard !value.isEmpty else { throw SecretError.emptyValue(name: name) }
        Redactor.shared.register(value)
        var all = try readAll().filter { $0.0 != name }
        all.append((name, value))
        try writeAll(all)
    }

    /// Returns whether the name was present.
    @discardableResult
    public func remove(name: String) throws -> Bool {
        let all = try readAll()
        guard all.contains(where: { $0.0 == name }) else { return false }
        try writeAll(all.filter { $0.0 != name })
        return true
    }

    /// Lookup order: the store, then the environment variable of that name.
    public func secret(named name: String) throws -> Secret {
        try SecretStore.validate(name: name)
        if let v = try readAll().first(where: { $0.0 == name })?.1 { return Secret(name: name, value: v) }
        if let v = environment[name], !v.isEmpty { return Secret(name: name, value: v) }
        throw SecretError.missing(name: name, storePath: path)
    }

    /// Registers every stored value with the redactor (called at start-up so even secrets a notebook
    /// never asked for are masked if they turn up in output).
    public func registerAllWithRedactor() {
        _ = try? readAll()
    }
}
