import Foundation
import FinchSupport
import FinchHub
import FinchLang

/// On-disk results of expensive built-ins (`train` above all), keyed by a hash of every input plus the
/// Finch version. An entry that fails to load is deleted and recomputed, never trusted.
public final class MemoCache: @unchecked Sendable {
    public let directory: URL
    /// `--fresh`: ignore existing entries (new results are still stored).
    public var fresh: Bool
    /// Where "restored from cache" notes go (standard error in `finch run`).
    public var log: (String) -> Void

    public init(directory: URL, fresh: Bool = false, log: @escaping (String) -> Void = { _ in }) {
        self.directory = directory
        self.fresh = fresh
        self.log = log
    }

    /// The cache beside a notebook: `<dir>/.finch-cache/memo`.
    public static func beside(notebook path: String, fresh: Bool = false, log: @escaping (String) -> Void = { _ in }) -> MemoCache {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(".finch-cache/memo")
        return MemoCache(directory: dir, fresh: fresh, log: log)
    }

    /// A key from named inputs; each is length-prefixed so ("ab","c") and ("a","bc") differ.
    public static func key(_ function: String, _ inputs: [String]) -> String {
        var text = "finch \(FinchVersion.string)\n\(function)\n"
        for i in inputs { text += "\(i.utf8.count):\(i)\n" }
        return Hashing.sha256Hex(text)
    }

    /// A stable text for a Finch value; nil when some part (a handle without a fingerprint, a function)
    /// cannot be identified, in which case the call must not be cached.
    public static func fingerprint(_ v: Value, depth: Int = 0) -> String? {
        guard depth < 100 else { return nil }  // too deep or cyclic: not cacheable
        switch v {
        case .object(let o): return o.fingerprint.map { "\(o.typeName):\($0)" }
        case .function, .builtin: return nil
        case .list(let l):
            var parts: [String] = []
            for x in l.items { guard let f = fingerprint(x, depth: depth + 1) else { return nil }; parts.append(f) }
            return "[" + parts.joined(separator: ",") + "]"
        case .dict(let d):
            var parts: [String] = []
            for (k, x) in d.pairs { guard let f = fingerprint(x, depth: depth + 1) else { return nil }; parts.append(repr(k.value) + ":" + f) }
            return "{" + parts.joined(separator: ",") + "}"
        default: return repr(v)
        }
    }

    func path(_ key: String) -> URL { directory.appendingPathComponent(key + ".bin") }

    public func load(_ key: String) -> Data? {
        fresh ? nil : FileManager.default.contents(atPath: path(key).path)
    }

    public func store(_ key: String, _ data: Data) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: path(key).path)
    }

    public func discard(_ key: String) {
        try? FileManager.default.removeItem(at: path(key))
    }

    /// Returns the cached result when one loads, else computes, stores and returns it.
    public func memoize<T>(_ function: String, inputs: [String],
                           encode: (T) throws -> Data, decode: (Data) throws -> T,
                           compute: () throws -> T) throws -> (value: T, cached: Bool) {
        try memoize(function, inputs: inputs, write: { v, path in try AtomicFile.write(try encode(v), to: path) },
                    read: { path in try decode(try Data(contentsOf: URL(fileURLWithPath: path))) }, compute: compute)
    }

    /// The same for results that write and read their own file (`write` must go through `AtomicFile`):
    /// an entry `read` refuses is a miss, deleted and recomputed.
    public func memoize<T>(_ function: String, inputs: [String],
                           write: (T, String) throws -> Void, read: (String) throws -> T,
                           compute: () throws -> T) throws -> (value: T, cached: Bool) {
        let key = MemoCache.key(function, inputs)
        let file = path(key).path
        if !fresh && FileManager.default.fileExists(atPath: file) {
            do {
                let v = try read(file)
                log("\(function): restored from cache (\(key.prefix(12)))\n")
                return (v, true)
            } catch {
                log("\(function): cache entry \(key.prefix(12)) failed to load (\(error)); discarded, recomputing\n")
                discard(key)
            }
        }
        let v = try compute()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try write(v, file)
        } catch { log("\(function): could not store the result in the cache: \(error)\n") }
        return (v, false)
    }
}
