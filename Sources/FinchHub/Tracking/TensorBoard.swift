// TensorBoard event files: TFRecord framing (u64 length, masked CRC-32C of the length, data, masked
// CRC-32C of the data) around hand-encoded `Event` protos:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum Proto {
    static func varint(_ v: UInt64, into out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    static func key(_ field: Int, _ wire: Int, into out: inout [UInt8]) { varint(UInt64(field << 3 | wire), into: &out) }
    static func double(_ field: Int, _ v: Double, into out: inout [UInt8]) {
        key(field, 1, into: &out)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
    }
    static func float(_ field: Int, _ v: Float, into out: inout [UInt8]) {
        key(field, 5, into: &out)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
    }
    static func int64(_ field: Int, _ v: Int64, into out: inout [UInt8]) {
        key(field, 0, into: &out); varint(UInt64(bitPattern: v), into: &out)
    }
    static func bytes(_ field: Int, _ b: [UInt8], into out: inout [UInt8]) {
        key(field, 2, into: &out); varint(UInt64(b.count), into: &out); out.append(contentsOf: b)
    }
}

public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<secs>.<host>.<pid>.<n>` in `directory` and writes the version event.
    public init(directory: String, now: Date = Date()) throws {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostname = String(cString: host).replacingOccurrences(of: "/", with: "_")
        var n = 0
        var p: String
        repeat {
            p = directory + "/events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(hostname).\(getpid()).\(n)"
            n += 1
        } while Files.exists(p)
        guard FileManager.default.createFile(atPath: p, contents: nil), let h = FileHandle(forWritingAtPath: p) else {
            throw FileError(path: p, operation: "create", errno: errno)
        }
        path = p
        handle = h
        var event: [UInt8] = []
        Proto.double(1, now.timeIntervalSince1970, into: &event)
        Proto.bytes(3, Array("brain.Event:2".utf8), into: &event)
        try writeRecord(event)
    }

    deinit { try? handle.close() }

    static func record(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var len = UInt64(data.count).littleEndian
        let lenBytes = withUnsafeBytes(of: &len) { Array($0) }
        out += lenBytes
        withUnsafeBytes(of: Checksum.maskedCRC32C(lenBytes).littleEndian) { out.append(contentsOf: $0) }
        out += data
        withUnsafeBytes(of: Checksum.maskedCRC32C(data).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    func writeRecord(_ data: [UInt8]) throws {
        try handle.write(contentsOf: TensorBoardWriter.record(data))
        try handle.synchronize()
    }

    /// One event with a scalar summary value per metric.
    public func scalars(_ values: [(String, Double)], step: Int, wallTime: Date = Date()) throws {
        var summary: [UInt8] = []
        for (tag, v) in values {
            var value: [UInt8] = []
            Proto.bytes(1, Array(tag.utf8), into: &value)
            Proto.float(2, Float(v), into: &value)
            Proto.bytes(1, value, into: &summary)
        }
        var event: [UInt8] = []
        Proto.double(1, wallTime.timeIntervalSince1970, into: &event)
        Proto.int64(2, Int64(step), into: &event)
        Proto.bytes(5, summary, into: &event)
        try writeRecord(event)
    }
}
