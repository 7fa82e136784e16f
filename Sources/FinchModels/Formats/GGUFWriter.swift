// GGUF v3 writer (format: see GGUF.swift). Metadata of every value type, tensors in the order added,
// each tensor's data padded to the alignment; written to a temporary file and renamed into place.
#if canImport(FinchTensor)
import FinchTensor
#endif
#if canImport(FinchSupport)
import FinchSupport
#endif

public enum GGUFWriteError: Error, Equatable, CustomStringConvertible {
    case duplicateTensor(name: String)
    case badShape(name: String, shape: [Int])
    case notWholeBlocks(name: String, rowLength: Int, dtype: DType)
    case byteCountMismatch(name: String, expected: Int, got: Int)
    case badAlignment(Int)
    case notAGGUFType(name: String, dtype: DType)

    public var description: String {
        switch self {
        case let .duplicateTensor(name): return "GGUF writer: tensor \"\(name)\" added twice"
        case let .notAGGUFType(name, dtype): return "GGUF writer: tensor \"\(name)\" is \(dtype), which GGUF cannot hold; save it as f16, q8_0 or q4_0"
        case let .badShape(name, shape): return "GGUF writer: tensor \"\(name)\" has an invalid shape \(shape) (1–4 positive dimensions)"
        case let .notWholeBlocks(name, n, dtype):
            return "GGUF writer: tensor \"\(name)\" has rows of \(n) elements, not a whole number of \(dtype) blocks of \(dtype.blockSize)"
        case let .byteCountMismatch(name, expected, got): return "GGUF writer: tensor \"\(name)\" needs \(expected) bytes, got \(got)"
        case let .badAlignment(a): return "GGUF writer: alignment \(a) must be a power of two ≥ 8"
        }
    }
}

/// Where a tensor's bytes come from when a writer writes the file.
public enum TensorBytes {
    case bytes([UInt8])
    /// Caller-owned memory (e.g. another mapping) that must stay valid until the write returns.
    case buffer(UnsafeRawBufferPointer)
    /// Fills the given zeroed buffer of exactly the tensor's byte count (large tensors are produced one at a time).
    case producer((UnsafeMutableRawBufferPointer) throws -> Void)

    /// The byte count when known up front.
    var knownCount: Int? {
        switch self {
        case let .bytes(b): return b.count
        case let .buffer(b): return b.count
        case .producer: return nil
        }
    }

    func write(byteCount: Int, to sink: FileSink) throws {
        switch self {
        case let .bytes(b): try sink.write(b)
        case let .buffer(b): try sink.write(b)
        case let .producer(fill):
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 64)
            defer { buf.deallocate() }
            let exact = UnsafeMutableRawBufferPointer(rebasing: buf[0..<byteCount])
            exact.initializeMemory(as: UInt8.self, repeating: 0)
            try fill(exact)
            try sink.write(UnsafeRawBufferPointer(exact))
        }
    }
}

public struct GGUFWriter {
    public typealias TensorData = TensorBytes

    struct Pending {
        let name: String
        let shape: [Int]
        let dtype: DType
        let byteCount: Int
        let data: TensorData
    }

    public let alignment: Int
    private var metadata: [(key: String, value: GGUFValue)] = []
    private var pending: [Pending] = []

    public init(alignment: Int = 32) throws {
        guard alignment >= 8, alignment & (alignment - 1) == 0 else { throw GGUFWriteError.badAlignment(alignment) }
        self.alignment = alignment
        if alignment != 32 { set("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Sets a metadata value (replacing an earlier one with the same key, keeping its position).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    /// Adds a tensor. `shape` is in PyTorch order (`[out, in]` for a linear weight).
    public mutating func addTensor(name: String, shape: [Int], dtype: DType, data: TensorData) throws {
        guard !pending.contains(where: { $0.name == name }) else { throw GGUFWriteError.duplicateTensor(name: name) }
        guard dtype.isGGUFType else { throw GGUFWriteError.notAGGUFType(name: name, dtype: dtype) }
        guard (1...4).contains(shape.count), shape.allSatisfy({ $0 > 0 }) else { throw GGUFWriteError.badShape(name: name, shape: shape) }
        var count = 1
        for d in shape {
            let (c, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw GGUFWriteError.badShape(name: name, shape: shape) }
            count = c
        }
        guard shape.last! % dtype.blockSize == 0, let byteCount = dtype.byteCount(elements: count) else {
            throw GGUFWriteError.notWholeBlocks(name: name, rowLength: shape.last!, dtype: dtype)
        }
        if let n = data.knownCount, n != byteCount { throw GGUFWriteError.byteCountMismatch(name: name, expected: byteCount, got: n) }
        pending.append(Pending(name: name, shape: shape, dtype: dtype, byteCount: byteCount, data: data))
    }

    private func padded(_ n: Int) -> Int { n + (alignment - n % alignment) % alignment }

    /// Writes the file to a temporary name beside `path` and renames it into place.
    public func write(to path: String) throws {
        try AtomicFile.write(to: path) { sink in
            try sink.write(Array("GGUF".utf8))
            try sink.write(UInt32(3))
            try sink.write(UInt64(pending.count))
            try sink.write(UInt64(metadata.count))
            for (key, value) in metadata {
                try writeString(key, sink)
                try sink.write(value.type.rawValue)
                try writeValue(value, sink)
            }
            var offset = 0
            for t in pending {
                try writeString(t.name, sink)
                try sink.write(UInt32(t.shape.count))
                for d in t.shape.reversed() { try sink.write(UInt64(d)) }
                try sink.write(t.dtype.ggmlType)
                try sink.write(UInt64(offset))
                offset = padded(offset + t.byteCount)
            }
            try sink.writeZeros(padded(sink.position) - sink.position)
            for t in pending {
                try t.data.write(byteCount: t.byteCount, to: sink)
                try sink.writeZeros(padded(t.byteCount) - t.byteCount)
            }
        }
    }

    private func writeString(_ s: String, _ sink: FileSink) throws {
        let utf8 = Array(s.utf8)
        try sink.write(UInt64(utf8.count))
        try sink.write(utf8)
    }

    private func writeValue(_ value: GGUFValue, _ sink: FileSink) throws {
        switch value {
        case let .uint8(v): try sink.write(v)
        case let .int8(v): try sink.write(v)
        case let .uint16(v): try sink.write(v)
        case let .int16(v): try sink.write(v)
        case let .uint32(v): try sink.write(v)
        case let .int32(v): try sink.write(v)
        case let .float32(v): try sink.write(v.bitPattern)
        case let .bool(v): try sink.write(UInt8(v ? 1 : 0))
        case let .string(v): try writeString(v, sink)
        case let .uint64(v): try sink.write(v)
        case let .int64(v): try sink.write(v)
        case let .float64(v): try sink.write(v.bitPattern)
        case let .array(a): try writeArray(a, sink)
        }
    }

    private func writeArray(_ a: GGUFArray, _ sink: FileSink) throws {
        try sink.write(a.elementType.rawValue)
        try sink.write(UInt64(a.count))
        switch a {
        case let .uint8(v): try sink.write(v)
        case let .int8(v): for x in v { try sink.write(x) }
        case let .uint16(v): for x in v { try sink.write(x) }
        case let .int16(v): for x in v { try sink.write(x) }
        case let .uint32(v): for x in v { try sink.write(x) }
        case let .int32(v): for x in v { try sink.write(x) }
        case let .float32(v): for x in v { try sink.write(x.bitPattern) }
        case let .bool(v): for x in v { try sink.write(UInt8(x ? 1 : 0)) }
        case let .string(v): for x in v { try writeString(x, sink) }
        case let .uint64(v): for x in v { try sink.write(x) }
        case let .int64(v): for x in v { try sink.write(x) }
        case let .float64(v): for x in v { try sink.write(x.bitPattern) }
        case let .array(v): for x in v { try writeArray(x, sink) }
        }
    }
}
