// A read-only view of a whole file's bytes: memory-mapped from disk, or (for parsers fed from memory,
// such as the fuzz harnesses) an owned copy. Either way `bytes` stays valid while the object lives.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum MappedFileError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case cannotMap(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .cannotMap(path, reason): return "\(path): cannot memory-map: \(reason)"
        }
    }
}

public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes (read-only).
    public let bytes: UnsafeRawBufferPointer
    private let mapped: Bool

    /// Maps `path` read-only (`open` + `mmap`; unmapped in deinit).
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MappedFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MappedFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw MappedFileError.cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {  // mmap rejects empty mappings; an empty file is simply no bytes
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw MappedFileError.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
        mapped = true
    }

    /// An owned copy of `source`, named `path` in errors.
    public init(copying source: UnsafeRawBufferPointer, path: String) {
        self.path = path
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, source.count), alignment: 64)
        if source.count > 0 { copy.copyMemory(from: source) }
        bytes = UnsafeRawBufferPointer(start: copy.baseAddress, count: source.count)
        mapped = false
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}

/// Writes `body` to a temporary file beside `path`, then renames it over `path`, so a failed or
/// interrupted write never leaves a half-written file under the final name.
func writeAtomically(to path: String, _ body: (FileSink) throws -> Void) throws {
    let temp = path + ".tmp-\(getpid())"
    let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw FileWriteError.cannotCreate(path: temp, reason: String(cString: strerror(errno))) }
    let sink = FileSink(fd: fd, path: temp)
    do {
        try body(sink)
        try sink.flush()
        guard fsync(fd) == 0 else { throw FileWriteError.writeFailed(path: temp, reason: String(cString: strerror(errno))) }
        close(fd)
    } catch {
        close(fd)
        unlink(temp)
        throw error
    }
    guard rename(temp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temp)
        throw FileWriteError.cannotRename(from: temp, to: path, reason: reason)
    }
}

public enum FileWriteError: Error, Equatable, CustomStringConvertible {
    case cannotCreate(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case cannotRename(from: String, to: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotCreate(path, reason): return "\(path): cannot create: \(reason)"
        case let .writeFailed(path, reason): return "\(path): write failed: \(reason)"
        case let .cannotRename(from, to, reason): return "cannot rename \(from) to \(to): \(reason)"
        }
    }
}

/// A buffered sequential writer over a file descriptor; counts bytes written.
final class FileSink {
    let fd: Int32
    let path: String
    private var buffer: [UInt8] = []
    private(set) var position = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        position += bytes.count
        if buffer.count + bytes.count <= 1 << 20 {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        try writeAll(bytes)
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func write<T: FixedWidthInteger>(_ value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    func writeZeros(_ count: Int) throws {
        if count > 0 { try write([UInt8](repeating: 0, count: count)) }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileWriteError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            done += n
        }
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}
