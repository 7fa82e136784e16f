// A buffered sequential writer over a file descriptor; every byte Finch writes to a file passes through
// `writeAll`, where the test-only fault hook (WriteFault) can cut a write short.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class FileSink {
    public let fd: Int32
    /// The file written (a temporary name); `reportedPath` is the one errors name.
    public let path: String
    let reportedPath: String
    private var buffer: [UInt8] = []
    public private(set) var position = 0

    init(fd: Int32, path: String, reportedPath: String) {
        self.fd = fd
        self.path = path
        self.reportedPath = reportedPath
        buffer.reserveCapacity(1 << 20)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        position += bytes.count
        if buffer.count + bytes.count <= 1 << 20 {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        try writeAll(bytes)
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

    public func write<T: FixedWidthInteger>(_ value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    public func writeZeros(_ count: Int) throws {
        if count > 0 { try write([UInt8](repeating: 0, count: count)) }
    }

    public func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            var want = bytes.count - done
            var injected: Int32? = nil
            if WriteFault.armed, let cut = WriteFault.admit(path: reportedPath, count: want) {
                want = cut.allowed
                injected = cut.errno
            }
            if want > 0 {
                let n = systemWrite(fd, bytes.baseAddress! + done, want)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriteError(path: reportedPath, operation: "write", errno: errno)
                }
                done += n
                if n < want { continue }
            }
            if let injected {
                if injected == 0 { kill(getpid(), SIGKILL); pause() }  // a crash mid-write
                throw WriteError(path: reportedPath, operation: "write", errno: injected)
            }
        }
    }
}

/// Test-only faults in the file writers. From the environment of a child process:
///   FINCH_FAULT=write:N    the process kills itself (SIGKILL) after N more bytes: a crash mid-write
///   FINCH_FAULT=enospc:N   writes fail with ENOSPC after N bytes: a full disk
/// or set in-process for files whose path contains a marker (so parallel tests do not meet each other's).
public enum WriteFault {
    public enum Kind: Sendable { case kill, noSpace }

    struct Armed { var kind: Kind; var pathContains: String; var bytesLeft: Int }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var faults: [Armed] = fromEnvironment()
    nonisolated(unsafe) static var armed = !faults.isEmpty

    static func fromEnvironment() -> [Armed] {
        guard let spec = ProcessInfo.processInfo.environment["FINCH_FAULT"] else { return [] }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { return [] }
        switch parts[0] {
        case "write": return [Armed(kind: .kill, pathContains: "", bytesLeft: n)]
        case "enospc": return [Armed(kind: .noSpace, pathContains: "", bytesLeft: n)]
        default: return []
        }
    }

    /// Arms a fault for files whose final path contains `pathContains`, after `afterBytes` more bytes.
    public static func inject(_ kind: Kind, afterBytes: Int, pathContains: String) {
        lock.lock(); defer { lock.unlock() }
        faults.append(Armed(kind: kind, pathContains: pathContains, bytesLeft: afterBytes))
        armed = true
    }

    public static func clear(pathContains: String) {
        lock.lock(); defer { lock.unlock() }
        faults.removeAll { $0.pathContains == pathContains }
        armed = !faults.isEmpty
    }

    /// For a write of `count` bytes to `path`: nil to write it all, else how many bytes to write before
    /// the fault fires and its errno (0: kill the process).
    static func admit(path: String, count: Int) -> (allowed: Int, errno: Int32)? {
        lock.lock(); defer { lock.unlock() }
        guard let i = faults.firstIndex(where: { $0.pathContains.isEmpty || path.contains($0.pathContains) }) else { return nil }
        if count <= faults[i].bytesLeft { faults[i].bytesLeft -= count; return nil }
        let allowed = faults[i].bytesLeft
        faults[i].bytesLeft = 0
        return (allowed, faults[i].kind == .kill ? 0 : ENOSPC)
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
