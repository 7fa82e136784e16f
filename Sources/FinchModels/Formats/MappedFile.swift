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

extension MappedFile {
    /// Maps `path` for a reader whose errors name the file: a failure becomes the reader's own
    /// `cannotOpen(path, reason)`.
    static func reading(_ path: String, orThrow cannotOpen: (_ path: String, _ reason: String) -> Error) throws -> MappedFile {
        do {
            return try MappedFile(path: path)
        } catch let error as MappedFileError {
            switch error {
            case let .cannotOpen(_, reason), let .cannotMap(_, reason): throw cannotOpen(path, reason)
            }
        }
    }

    /// `count` bytes at `base + offset`, or an empty buffer unless all of them lie inside the file.
    /// Overflow-checked, so that a tensor record from another file never reads out of bounds.
    func bytes(at offset: Int, count: Int, after base: Int) -> UnsafeRawBufferPointer {
        let size = bytes.count
        guard base >= 0, base <= size, offset >= 0, offset <= size - base, count >= 0, count <= size - base - offset else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(rebasing: bytes[(base + offset)..<(base + offset + count)])
    }
}

/// A tensor shape as a file states it: every dimension must fit an `Int`, and so must their product
/// (the element count). nil otherwise, for the reader to throw its own error.
func checkedShape<Dims: Sequence>(_ dims: Dims) -> (shape: [Int], count: Int)? where Dims.Element == UInt64 {
    var shape = [Int]()
    var count = 1
    for d in dims {
        guard let di = Int(exactly: d) else { return nil }
        let (c, overflow) = count.multipliedReportingOverflow(by: di)
        guard !overflow else { return nil }
        count = c
        shape.append(di)
    }
    return (shape, count)
}
