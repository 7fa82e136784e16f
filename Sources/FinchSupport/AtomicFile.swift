// The one way Finch writes a file or a folder, so that a crash, a kill -9, a power cut or a full disk
// never leaves a half-written file under the final name: the previous complete version or the new one.
//   file:   write a temporary file in the same folder → fsync it → rename it over the target → fsync the folder
//   folder: fill a temporary sibling folder (every file synced) → swap it with the target
//           (renameat2 RENAME_EXCHANGE where the kernel has it) → remove the old one → fsync the parent
// Temporary names carry the process id and a random suffix, so two processes writing the same file
// (two `finch run` sharing `.finch-cache`) never write into each other's temporary file.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed write, named by the path the user asked for; the previous version of it is intact.
public struct WriteError: Error, Equatable, CustomStringConvertible, LocalizedError {
    public var path: String
    /// What failed: "create a temporary file for", "write", "sync", "rename into place".
    public var operation: String
    public var errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path; self.operation = operation; self.errno = errno
    }

    public var description: String {
        switch errno {
        case ENOSPC: return "no space left on device writing \(path); \(Self.advice)"
        case EDQUOT: return "disk quota exceeded writing \(path); \(Self.advice)"
        default: return "cannot \(operation) \(path): \(String(cString: strerror(errno)))"
        }
    }
    static let advice = "free some space and try again (the previous version is unchanged)"
    public var errorDescription: String? { description }
}

public enum AtomicFile {
    /// Writes `data` to `path` atomically. `mode` (e.g. 0o600 for secrets) is set exactly; without it the
    /// file gets 0o666 less the umask, as `Data.write` does.
    public static func write(_ data: Data, to path: String, mode: mode_t? = nil) throws {
        try write(to: path, mode: mode) { try $0.write(data) }
    }

    /// Streams the file through `body` (large files: safetensors, GGUF) into a temporary file, then commits it.
    public static func write(to path: String, mode: mode_t? = nil, _ body: (FileSink) throws -> Void) throws {
        let temp = temporarySibling(of: path, kind: "tmp")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard fd >= 0 else { throw WriteError(path: path, operation: "create a temporary file for", errno: errno) }
        var committed = false
        defer { if !committed { unlink(temp) } }
        do {
            let sink = FileSink(fd: fd, path: temp, reportedPath: path)
            try body(sink)
            try sink.flush()
            if let mode { fchmod(fd, mode) }  // the umask may have narrowed it
            guard fsync(fd) == 0 else { throw WriteError(path: path, operation: "sync", errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        try commit(temp, to: path)
        committed = true
    }

    /// Renames a complete, synced temporary file over `path` and syncs the folder, so the new name
    /// survives a power cut too. Also the last step of a download, whose partial file is kept for resuming.
    public static func commit(_ temp: String, to path: String) throws {
        guard rename(temp, path) == 0 else { throw WriteError(path: path, operation: "rename into place", errno: errno) }
        syncFolder(parent(of: path))
    }

    /// fsyncs a folder, making a rename or a new entry in it durable. Best effort: some file systems refuse.
    public static func syncFolder(_ dir: String) {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func parent(of path: String) -> String {
        let p = (path as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }

    /// `.<name>.<kind>-<pid>-<random>` beside `path`: hidden, unique per process and call. Leftovers of
    /// processes that were killed mid-write (their pid is gone) are removed first.
    static func temporarySibling(of path: String, kind: String) -> String {
        let name = (path as NSString).lastPathComponent, dir = parent(of: path)
        removeLeftovers(of: name, in: dir)
        return dir + "/.\(name).\(kind)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    static func removeLeftovers(of name: String, in dir: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for e in entries where e.hasPrefix(".\(name).") {
            let rest = e.dropFirst(name.count + 2)  // "tmp-<pid>-<random>"
            let parts = rest.split(separator: "-")
            guard parts.count == 3, ["tmp", "partial", "old"].contains(parts[0]), let pid = Int32(parts[1]),
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: dir + "/" + e)
        }
    }
}

public enum AtomicFolder {
    /// Fills a temporary sibling of `path` through `body` (it gets the temporary folder's path), syncs
    /// every file in it, then swaps it in for `path`. Missing parent folders are created. On any error
    /// the temporary folder is removed and `path` is untouched.
    public static func write(_ path: String, _ body: (String) throws -> Void) throws {
        let target = (path as NSString).standardizingPath
        let parent = AtomicFile.parent(of: target)
        try makeFolders(parent)
        let temp = AtomicFile.temporarySibling(of: target, kind: "partial")
        guard mkdir(temp, 0o755) == 0 else { throw WriteError(path: target, operation: "create a temporary folder for", errno: errno) }
        var done = false
        defer { if !done { try? FileManager.default.removeItem(atPath: temp) } }
        do { try body(temp) } catch var e as WriteError {
            // name the file the user will look for, not the temporary folder
            if e.path.hasPrefix(temp) { e.path = target + e.path.dropFirst(temp.count) }
            throw e
        }
        try syncTree(temp, reportedPath: target)
        try swap(temp, into: target)
        done = true
        AtomicFile.syncFolder(parent)
    }

    /// Puts the complete folder `temp` at `target`. With an existing target: one atomic exchange where the
    /// kernel offers it (a kill at any moment leaves one complete folder under the name), else move the old
    /// one aside first (a kill between the two renames leaves it as `.<name>.old-…` beside the target).
    static func swap(_ temp: String, into target: String) throws {
        var st = stat()
        guard lstat(target, &st) == 0 else {
            guard rename(temp, target) == 0 else { throw WriteError(path: target, operation: "rename into place", errno: errno) }
            return
        }
        if let exchange = renameExchange, exchange(AT_FDCWD, temp, AT_FDCWD, target, 2 /* RENAME_EXCHANGE */) == 0 {
            try? FileManager.default.removeItem(atPath: temp)  // now the old version
            return
        }
        let old = AtomicFile.temporarySibling(of: target, kind: "old")
        guard rename(target, old) == 0 else { throw WriteError(path: target, operation: "move the previous version aside of", errno: errno) }
        guard rename(temp, target) == 0 else {
            let e = errno
            _ = rename(old, target)
            throw WriteError(path: target, operation: "rename into place", errno: e)
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    /// Creates `path` and its missing parents (mkdir -p).
    public static func makeFolders(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return }
        let parent = AtomicFile.parent(of: path)
        if parent != path && parent != "." && parent != "/" { try makeFolders(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw WriteError(path: path, operation: "create the folder", errno: errno) }
    }

    /// fsyncs every regular file below `dir` and every folder, so the swapped-in folder is complete on disk.
    static func syncTree(_ dir: String, reportedPath: String) throws {
        let fm = FileManager.default
        for rel in (fm.subpaths(atPath: dir) ?? []) {
            let p = dir + "/" + rel
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            guard isDir || (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let fd = open(p, (isDir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let ok = fsync(fd) == 0 || isDir
            let e = errno
            close(fd)
            if !ok { throw WriteError(path: reportedPath, operation: "sync", errno: e) }
        }
        AtomicFile.syncFolder(dir)
    }

    /// renameat2(2), looked up at run time: Swift's Glibc module does not declare it, and older C
    /// libraries lack it.
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    static let renameExchange: RenameAt2? = {
        #if os(Linux)
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(sym, to: RenameAt2.self)
        #else
        return nil
        #endif
    }()
}
