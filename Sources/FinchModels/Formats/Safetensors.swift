// safetensors reader (huggingface/safetensors, README and src/tensor.rs):
//
//   u64 LE  N                    header length in bytes (Finch, like the Rust reference, allows ≤ 100 MB)
//   N bytes JSON object          starts with '{', UTF-8, padded with spaces to a multiple of 8 by writers:
//           {"__metadata__": {"k": "v", …},            optional, string → string only
//            "<name>": {"dtype": "F32", "shape": [d0, …], "data_offsets": [begin, end]}, …}
//   rest    byte buffer          offsets are relative to it (absolute = 8 + N + offset)
//
// Rules checked here: no duplicate keys; known dtype; end - begin = product(shape) × element size
// (overflow-checked); sorted by offset the tensors tile the buffer exactly (each begin = previous end,
// first begin = 0, last end = buffer size) — no holes, no overlaps, nothing outside the file.
// Data is little-endian, row-major. Shapes may contain 0 or be [] (a scalar).
//
// Sharded checkpoints: `model.safetensors.index.json` = {"metadata": {"total_size": …},
// "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", …}}; see `SafetensorsCheckpoint`.
#if canImport(FinchSupport)
import FinchSupport
#endif
#if canImport(FinchTensor)
import FinchTensor
#endif

/// safetensors element types, in the reference's "increasing alignment" order (writers sort by it;
/// checked against safetensors 0.8.0, which puts C64 between F32 and F64 and F8_E8M0 after F8_E4M3).
/// The sub-byte types of newer releases (F4, F6_E2M3, F6_E3M2) are rejected as unknown.
public enum SafetensorsDType: String, CaseIterable, Sendable, Comparable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .C64, .F64, .I64, .U64: return 8
        }
    }

    /// The engine storage type for floating-point tensors Finch computes with (nil for the others).
    public var storageType: DType? {
        switch self {
        case .F32: return .f32
        case .F16: return .f16
        case .BF16: return .bf16
        default: return nil
        }
    }

    public init?(_ storage: DType) {
        switch storage {
        case .f32: self = .F32
        case .f16: self = .F16
        case .bf16: self = .BF16
        default: return nil
        }
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case fileTooSmall(path: String, size: Int)
    case headerTooLarge(path: String, length: UInt64)
    case headerPastEnd(path: String, length: UInt64, fileSize: Int)
    case headerNotObject(path: String)
    case invalidJSON(path: String, error: String)
    case invalidMetadata(path: String, reason: String)
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case sizeOverflow(path: String, tensor: String)
    case byteCountMismatch(path: String, tensor: String, expected: Int, actual: Int)
    case notTiled(path: String, tensor: String, expectedBegin: Int, begin: Int)
    case bufferSizeMismatch(path: String, dataEnd: Int, bufferSize: Int)
    case badIndex(path: String, reason: String)
    case missingTensor(path: String, tensor: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open safetensors file: \(reason)"
        case let .fileTooSmall(path, size): return "\(path): \(size) bytes is too small for a safetensors file (truncated?)"
        case let .headerTooLarge(path, n): return "\(path): header length \(n) exceeds the 100 MB limit (not a safetensors file?)"
        case let .headerPastEnd(path, n, size): return "\(path): header length \(n) runs past the end of the \(size)-byte file (truncated?)"
        case let .headerNotObject(path): return "\(path): the header is not a JSON object"
        case let .invalidJSON(path, error): return "\(path): invalid header JSON: \(error)"
        case let .invalidMetadata(path, reason): return "\(path): invalid __metadata__: \(reason)"
        case let .invalidTensorEntry(path, tensor, reason): return "\(path): tensor \"\(tensor)\": \(reason)"
        case let .unknownDType(path, tensor, dtype):
            return "\(path): tensor \"\(tensor)\" has dtype \"\(dtype)\", which Finch does not read (known: \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .sizeOverflow(path, tensor): return "\(path): tensor \"\(tensor)\": shape too large (size overflows)"
        case let .byteCountMismatch(path, tensor, expected, actual):
            return "\(path): tensor \"\(tensor)\" spans \(actual) bytes but its shape and dtype need \(expected)"
        case let .notTiled(path, tensor, expected, begin):
            return "\(path): tensor \"\(tensor)\" starts at buffer offset \(begin), expected \(expected) (tensors overlap or leave a hole)"
        case let .bufferSizeMismatch(path, end, size):
            return "\(path): tensors end at buffer offset \(end) but the data buffer holds \(size) bytes (truncated or padded file)"
        case let .badIndex(path, reason): return "\(path): invalid sharded-checkpoint index: \(reason)"
        case let .missingTensor(path, tensor): return "\(path): tensor \"\(tensor)\" listed in the index is not in the shard"
        }
    }
}

public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Offsets relative to the data buffer.
    public let begin: Int
    public let end: Int

    public init(name: String, dtype: SafetensorsDType, shape: [Int], begin: Int, end: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }

    public var byteCount: Int { end - begin }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed safetensors file whose data stays in the memory mapping.
public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes: UInt64 = 100_000_000

    public let path: String
    /// `__metadata__`, if present.
    public let metadata: [String: String]?
    /// Tensors in offset order.
    public let tensors: [SafetensorsTensorInfo]
    /// Absolute offset of the data buffer (8 + N).
    public let dataOffset: Int
    private let storage: MappedFile
    private let index: [String: Int]

    public convenience init(path: String) throws {
        try self.init(storage: MappedFile.reading(path, orThrow: SafetensorsError.cannotOpen))
    }

    /// Parses a copy of `bytes` (in-memory entry point, e.g. for fuzzing).
    public convenience init(bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws {
        try self.init(storage: MappedFile(copying: bytes, path: path))
    }

    init(storage: MappedFile) throws {
        self.storage = storage
        path = storage.path
        let bytes = storage.bytes
        guard bytes.count >= 8 else { throw SafetensorsError.fileTooSmall(path: path, size: bytes.count) }
        let n = UInt64(littleEndian: bytes.baseAddress!.loadUnaligned(as: UInt64.self))
        guard n <= Self.maxHeaderBytes else { throw SafetensorsError.headerTooLarge(path: path, length: n) }
        guard Int(n) <= bytes.count - 8 else { throw SafetensorsError.headerPastEnd(path: path, length: n, fileSize: bytes.count) }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + Int(n))])
        guard headerBytes.first == UInt8(ascii: "{") else { throw SafetensorsError.headerNotObject(path: path) }
        let header: JSON
        do { header = try JSON.parse(headerBytes, options: .strict) } catch let e as JSONError {
            throw SafetensorsError.invalidJSON(path: path, error: e.description)
        }
        guard let members = header.objectValue else { throw SafetensorsError.headerNotObject(path: path) }
        dataOffset = 8 + Int(n)
        let bufferSize = bytes.count - dataOffset

        var metadata: [String: String]?
        var infos: [SafetensorsTensorInfo] = []
        for (name, entry) in members {
            if name == "__metadata__" {
                guard let obj = entry.objectValue else { throw SafetensorsError.invalidMetadata(path: path, reason: "must be an object of strings") }
                var m = [String: String]()
                for (k, v) in obj {
                    guard let s = v.stringValue else { throw SafetensorsError.invalidMetadata(path: path, reason: "value of \"\(k)\" is not a string") }
                    m[k] = s
                }
                metadata = m
                continue
            }
            infos.append(try Self.tensorInfo(name, entry, path: path))
        }
        infos.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for t in infos {
            guard t.begin == expected else { throw SafetensorsError.notTiled(path: path, tensor: t.name, expectedBegin: expected, begin: t.begin) }
            expected = t.end
        }
        guard expected == bufferSize else { throw SafetensorsError.bufferSizeMismatch(path: path, dataEnd: expected, bufferSize: bufferSize) }
        self.metadata = metadata
        tensors = infos
        var index = [String: Int]()
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.index = index
    }

    static func tensorInfo(_ name: String, _ entry: JSON, path: String) throws -> SafetensorsTensorInfo {
        func bad(_ reason: String) -> SafetensorsError { .invalidTensorEntry(path: path, tensor: name, reason: reason) }
        guard entry.objectValue != nil else { throw bad("entry is not an object") }
        guard let dtypeName = entry["dtype"]?.stringValue else { throw bad("missing or non-string \"dtype\"") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else { throw SafetensorsError.unknownDType(path: path, tensor: name, dtype: dtypeName) }
        guard let shapeJSON = entry["shape"]?.arrayValue else { throw bad("missing \"shape\" array") }
        let dims = try shapeJSON.map { d in
            guard let u = d.uint64Value else { throw bad("shape entries must be non-negative integers") }
            return u
        }
        guard let (shape, count) = checkedShape(dims) else { throw SafetensorsError.sizeOverflow(path: path, tensor: name) }
        let (bytes, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o else { throw SafetensorsError.sizeOverflow(path: path, tensor: name) }
        guard let offsets = entry["data_offsets"]?.arrayValue, offsets.count == 2,
              let b64 = offsets[0].uint64Value, let e64 = offsets[1].uint64Value else { throw bad("\"data_offsets\" must be two non-negative integers") }
        guard let begin = Int(exactly: b64), let end = Int(exactly: e64), begin <= end else {
            throw bad("invalid data_offsets [\(b64), \(e64)]")
        }
        guard end - begin == bytes else {
            throw SafetensorsError.byteCountMismatch(path: path, tensor: name, expected: bytes, actual: end - begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's bytes inside the mapping (valid while this object lives).
    /// (An info from another file that does not fit this one gives an empty buffer, never an out-of-bounds read.)
    public func data(for tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        // Wrapping: a count that overflows belongs to an info `bytes(at:)` rejects anyway.
        storage.bytes(at: tensor.begin, count: tensor.end &- tensor.begin, after: dataOffset)
    }

    public func data(named name: String) -> UnsafeRawBufferPointer? { tensor(named: name).map { data(for: $0) } }
}
