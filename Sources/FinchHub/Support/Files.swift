// Small POSIX file helpers shared by the secrets store, the cache and the token files (writes go
// through FinchSupport's AtomicFile).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct FileError: Error, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

enum Files {
    /// Creates a directory and its parents; the last component gets `mode`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw FileError(path: path, operation: "create directory", errno: errno) }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Paths of the files below `dir`, relative to it (symlinks to files count as files).
    static func listFiles(_ dir: String) -> [String] {
        var out: [String] = []
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        while let rel = e.nextObject() as? String { if !isDirectory(dir + "/" + rel) { out.append(rel) } }
        return out.sorted()
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    static func read(_ path: String) throws -> Data {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, operation: "read", errno: Files.exists(path) ? EACCES : ENOENT)
        }
        return d
    }

    static var home: String {
        if let h = ProcessInfo.processInfo.environment["HOME"], !h.isEmpty { return h }
        if let pw = getpwuid(getuid()), let d = pw.pointee.pw_dir { return String(cString: d) }
        return "/tmp"
    }

    /// Expands `~` and `$VAR` / `${VAR}` the way Python's os.path.expanduser + expandvars do.
    static func expand(_ path: String, env: [String: String]) -> String {
        var p = path
        if p == "~" || p.hasPrefix("~/") { p = (env["HOME"] ?? home) + p.dropFirst() }
        guard p.contains("$") else { return p }
        var out = ""
        var i = p.startIndex
        while i < p.endIndex {
            if p[i] == "$" {
                var j = p.index(after: i)
                let braced = j < p.endIndex && p[j] == "{"
                if braced { j = p.index(after: j) }
                var k = j
                while k < p.endIndex, p[k].isLetter || p[k].isNumber || p[k] == "_" { k = p.index(after: k) }
                let name = String(p[j..<k])
                if !name.isEmpty, let v = env[name], !braced || (k < p.endIndex && p[k] == "}") {
                    out += v
                    i = braced ? p.index(after: k) : k
                    continue
                }
            }
            out.append(p[i]); i = p.index(after: i)
        }
        return out
    }
}

/// SHA-256 hex digests (swift-crypto) for the whole project: Hub blobs, memo-cache keys, adapter
/// fingerprints; files are streamed so big blobs are not read into memory.
import Crypto
public enum Hashing {
    public static func sha256Hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    public static func sha256Hex(_ text: String) -> String { sha256Hex(Data(text.utf8)) }

    public static func sha256Hex(file path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw FileError(path: path, operation: "open", errno: errno) }
        defer { try? h.close() }
        var hasher = SHA256()
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// git's blob id: sha1("blob <len>\0" + content).
    static func gitBlobSHA1(_ data: Data) -> String {
        var h = Insecure.SHA1()
        h.update(data: Data("blob \(data.count)\0".utf8))
        h.update(data: data)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
