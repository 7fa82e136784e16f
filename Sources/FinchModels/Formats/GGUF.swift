// GGUF v3 reader (also reads v2, and v1's 32-bit counts). The format, little-endian throughout
// (ggml docs/gguf.md, gguf-py constants.py):
//
//   header      magic "GGUF" (47 47 55 46) · version u32 · tensor_count u64 · metadata_kv_count u64
//   metadata    kv_count × { key: string · value_type u32 · value }
//               value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte, 0/1),
//                 8 string, 9 array, 10 u64, 11 i64, 12 f64
//               string = u64 byte length · UTF-8 bytes (no NUL)
//               array  = element type u32 · element count u64 · elements (arrays may nest)
//   tensor info tensor_count × { name: string · n_dims u32 (≤ 4) · dims[n_dims] u64 · ggml_type u32 ·
//                 offset u64 (relative to the data section, a multiple of the alignment) }
//               dims are ggml order: dims[0] = ne0 is the contiguous one, so PyTorch's shape is reversed.
//   padding     zeros up to a multiple of ALIGNMENT = general.alignment (power of two, default 32)
//   data        tensor bytes; size = ne0/block × bytes_per_block × ne1 × ne2 × ne3
// GGUF v1 used u32 for the counts, string lengths, array lengths and dims; v2 and v3 use u64.
//
// Every read is bounds-checked; lengths and counts are checked against the bytes left before anything
// is allocated, so a corrupt or hostile file gives a `GGUFError`, never a crash or an out-of-bounds read.

#if canImport(FinchTensor)  // the fuzz harness compiles these sources into one module
import FinchTensor
#endif

/// What is wrong with a GGUF file. Every case names the file.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case badMagic(path: String, found: [UInt8])
    case unsupportedVersion(path: String, version: UInt32)
    case bigEndian(path: String)
    case truncated(path: String, offset: Int, reading: String)
    case absurdLength(path: String, what: String, length: UInt64, bytesLeft: Int)
    case invalidUTF8(path: String, what: String)
    case unknownValueType(path: String, key: String, type: UInt32)
    case invalidBool(path: String, key: String, value: UInt8)
    case nestingTooDeep(path: String, key: String)
    case duplicateKey(path: String, key: String)
    case badAlignment(path: String, value: String)
    case duplicateTensor(path: String, name: String)
    case badDimensionCount(path: String, tensor: String, count: UInt32)
    case badDimension(path: String, tensor: String, dims: [UInt64])
    case unknownGGMLType(path: String, tensor: String, type: UInt32)
    case notWholeBlocks(path: String, tensor: String, rowLength: Int, dtype: DType)
    case misalignedTensor(path: String, tensor: String, offset: UInt64, alignment: Int)
    case tensorOutsideFile(path: String, tensor: String, start: UInt64, byteCount: Int, fileSize: Int)
    case overlappingTensors(path: String, first: String, second: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open GGUF file: \(reason)"
        case let .badMagic(path, found):
            return "\(path): not a GGUF file (starts with \(found.map { String($0, radix: 16) }), expected 47 47 55 46 \"GGUF\")"
        case let .unsupportedVersion(path, v): return "\(path): GGUF version \(v) is not supported (versions 1–3 are)"
        case let .bigEndian(path): return "\(path): big-endian GGUF files are not supported; convert it on a little-endian machine"
        case let .truncated(path, offset, what): return "\(path): file ends at byte \(offset) while reading \(what) (truncated download?)"
        case let .absurdLength(path, what, length, left):
            return "\(path): \(what) claims \(length) entries/bytes but only \(left) bytes remain (corrupt file)"
        case let .invalidUTF8(path, what): return "\(path): \(what) is not valid UTF-8"
        case let .unknownValueType(path, key, type): return "\(path): metadata \"\(key)\" has unknown value type \(type)"
        case let .invalidBool(path, key, value): return "\(path): metadata \"\(key)\" is a bool stored as \(value) (must be 0 or 1)"
        case let .nestingTooDeep(path, key): return "\(path): metadata \"\(key)\" nests arrays too deeply"
        case let .duplicateKey(path, key): return "\(path): metadata key \"\(key)\" appears twice"
        case let .badAlignment(path, value): return "\(path): general.alignment \(value) must be a power of two"
        case let .duplicateTensor(path, name): return "\(path): tensor \"\(name)\" appears twice"
        case let .badDimensionCount(path, tensor, n): return "\(path): tensor \"\(tensor)\" has \(n) dimensions (at most 4)"
        case let .badDimension(path, tensor, dims): return "\(path): tensor \"\(tensor)\" has impossible dimensions \(dims)"
        case let .unknownGGMLType(path, tensor, type):
            return "\(path): tensor \"\(tensor)\" has ggml type \(type) (\(ggmlTypeName(type))), which Finch does not support (supported: \(DType.allCases.filter(\.isGGUFType).map(\.rawValue).joined(separator: ", ")))"
        case let .notWholeBlocks(path, tensor, n, dtype):
            return "\(path): tensor \"\(tensor)\" has rows of \(n) elements, not a whole number of \(dtype) blocks of \(dtype.blockSize)"
        case let .misalignedTensor(path, tensor, offset, alignment):
            return "\(path): tensor \"\(tensor)\" starts at data offset \(offset), not a multiple of the alignment \(alignment)"
        case let .tensorOutsideFile(path, tensor, start, count, size):
            return "\(path): tensor \"\(tensor)\" (\(count) bytes at byte \(start)) lies outside the \(size)-byte file (truncated?)"
        case let .overlappingTensors(path, a, b): return "\(path): tensors \"\(a)\" and \"\(b)\" overlap"
        }
    }
}

/// Names of ggml types, for error messages.
func ggmlTypeName(_ type: UInt32) -> String {
    let names: [UInt32: String] = [0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
                                   10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 24: "I8",
                                   25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
                                   35: "TQ2_0", 39: "MXFP4"]
    if let name = names[type] { return name }
    if (16...23).contains(type) { return "IQ*" }
    return "unknown"
}

/// The GGUF metadata value types.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// A typed array of GGUF values (arrays may nest).
public indirect enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case float32([Float]), bool([Bool]), string([String]), uint64([UInt64]), int64([Int64]), float64([Double])
    case array([GGUFArray])

    public var count: Int {
        switch self {
        case let .uint8(a): return a.count
        case let .int8(a): return a.count
        case let .uint16(a): return a.count
        case let .int16(a): return a.count
        case let .uint32(a): return a.count
        case let .int32(a): return a.count
        case let .float32(a): return a.count
        case let .bool(a): return a.count
        case let .string(a): return a.count
        case let .uint64(a): return a.count
        case let .int64(a): return a.count
        case let .float64(a): return a.count
        case let .array(a): return a.count
        }
    }

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }
}

/// One GGUF metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array(GGUFArray), uint64(UInt64), int64(Int64), float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Any integer type whose value fits in `Int` (files differ in u32 vs u64 for the same key).
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// f32 or f64 (f64 rounded).
    public var float: Float? {
        switch self {
        case let .float32(v): return v
        case let .float64(v): return Float(v)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return nil
        }
    }

    public var bool: Bool? { if case let .bool(v) = self { return v }; return nil }
    public var string: String? { if case let .string(v) = self { return v }; return nil }
    public var array: GGUFArray? { if case let .array(v) = self { return v }; return nil }
    public var stringArray: [String]? { if case let .array(.string(v)) = self { return v }; return nil }

    /// An f32 array (an f64 array is rounded to f32).
    public var floatArray: [Float]? {
        switch self {
        case let .array(.float32(v)): return v
        case let .array(.float64(v)): return v.map { Float($0) }
        default: return nil
        }
    }

    /// An array of any integer type whose values all fit in `Int`.
    public var intArray: [Int]? {
        guard case let .array(a) = self else { return nil }
        switch a {
        case let .uint8(v): return v.map { Int($0) }
        case let .int8(v): return v.map { Int($0) }
        case let .uint16(v): return v.map { Int($0) }
        case let .int16(v): return v.map { Int($0) }
        case let .uint32(v): return v.map { Int($0) }
        case let .int32(v): return v.map { Int($0) }
        case let .int64(v): return v.map { Int($0) }
        case let .uint64(v):
            var out = [Int]()
            out.reserveCapacity(v.count)
            for x in v { guard let i = Int(exactly: x) else { return nil }; out.append(i) }
            return out
        default: return nil
        }
    }
}

/// One tensor's description in a GGUF file.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// PyTorch / Hugging Face order: a linear weight is `[out, in]` (the reverse of GGUF's dims).
    public let shape: [Int]
    public let dtype: DType
    /// Byte offset relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public init(name: String, shape: [Int], dtype: DType, offset: Int, byteCount: Int) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.offset = offset
        self.byteCount = byteCount
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// GGUF / ggml dimension order (`ne0` first, the contiguous one).
    public var ggmlDims: [Int] { shape.reversed() }
    /// Elements per row (the innermost dimension; 1 for a scalar).
    public var rowLength: Int { shape.last ?? 1 }
}

/// A parsed GGUF file whose tensor data stays in the memory mapping.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute byte offset of the data section.
    public let dataOffset: Int
    private let storage: MappedFile
    private let index: [String: Int]

    /// Memory-maps and parses `path`.
    public convenience init(path: String) throws {
        try self.init(storage: MappedFile.reading(path, orThrow: GGUFError.cannotOpen))
    }

    /// Parses a copy of `bytes` (in-memory entry point, e.g. for fuzzing); `path` names it in errors.
    public convenience init(bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws {
        try self.init(storage: MappedFile(copying: bytes, path: path))
    }

    init(storage: MappedFile) throws {
        self.storage = storage
        path = storage.path
        var parser = GGUFParser(bytes: storage.bytes, path: storage.path)
        let parsed = try parser.parse()
        version = parsed.version
        metadata = parsed.metadata
        metadataKeys = parsed.keys
        tensors = parsed.tensors
        alignment = parsed.alignment
        dataOffset = parsed.dataOffset
        var index = [String: Int]()
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// The size of the file in bytes.
    public var fileSize: Int { storage.bytes.count }

    public func tensor(named name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's bytes, inside the mapping (valid while this `GGUFFile` lives).
    /// Bounds were checked at parse time for this file's tensors; an info from another file that does not
    /// fit this one gives an empty buffer rather than an out-of-bounds read.
    public func data(for tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        storage.bytes(at: tensor.offset, count: tensor.byteCount, after: dataOffset)
    }

    public func data(named name: String) -> UnsafeRawBufferPointer? { tensor(named: name).map { data(for: $0) } }

    /// `general.architecture`, e.g. "llama" or "qwen2".
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// An `{arch}.…` key, e.g. `archValue("block_count")` → `llama.block_count`.
    public func archValue(_ suffix: String) -> GGUFValue? {
        architecture.flatMap { metadata["\($0).\(suffix)"] }
    }
}

/// The bounds-checked cursor the reader uses.
struct GGUFParser {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0
    var wideCounts = true  // false for v1 (u32 counts and lengths)
    static let maxNesting = 8

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var bytesLeft: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= bytesLeft else { throw GGUFError.truncated(path: path, offset: bytes.count, reading: what()) }
        let v = T(littleEndian: bytes.baseAddress!.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return v
    }

    /// A count or length: u64 (v2, v3) or u32 (v1).
    mutating func readCount(_ what: @autoclosure () -> String) throws -> UInt64 {
        wideCounts ? try read(UInt64.self, what()) : UInt64(try read(UInt32.self, what()))
    }

    /// Checks that `count` items of at least `minSize` bytes each can fit in what is left.
    func checkFits(_ count: UInt64, minSize: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (total, overflow) = count.multipliedReportingOverflow(by: UInt64(minSize))
        guard !overflow, total <= UInt64(bytesLeft) else {
            throw GGUFError.absurdLength(path: path, what: what(), length: count, bytesLeft: bytesLeft)
        }
        return Int(count)
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        // Two statements: `checkFits` must see the offset after the length was read.
        let rawLength = try readCount("the length of \(what())")
        let length = try checkFits(rawLength, minSize: 1, "the length of \(what())")
        let raw = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        offset += length
        guard let s = String(validating: raw, as: UTF8.self) else { throw GGUFError.invalidUTF8(path: path, what: what()) }
        return s
    }

    mutating func readArray<T: FixedWidthInteger>(_: T.Type, count: Int) -> [T] {
        // `count` was checked by `checkFits` against the element size.
        let base = bytes.baseAddress! + offset
        offset += count * MemoryLayout<T>.size
        return [T](unsafeUninitializedCapacity: count) { buf, n in
            for i in 0..<count { buf[i] = T(littleEndian: base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
            n = count
        }
    }

    mutating func readValue(_ type: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        guard let t = GGUFValueType(rawValue: type) else { throw GGUFError.unknownValueType(path: path, key: key, type: type) }
        let what = "the value of \"\(key)\""
        switch t {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        case .bool: return .bool(try readBool(key: key))
        case .string: return .string(try readString(what))
        case .array: return .array(try readArrayValue(key: key, depth: depth))
        }
    }

    mutating func readBool(key: String) throws -> Bool {
        let b = try read(UInt8.self, "the value of \"\(key)\"")
        guard b <= 1 else { throw GGUFError.invalidBool(path: path, key: key, value: b) }
        return b == 1
    }

    mutating func readArrayValue(key: String, depth: Int) throws -> GGUFArray {
        guard depth < Self.maxNesting else { throw GGUFError.nestingTooDeep(path: path, key: key) }
        let rawType = try read(UInt32.self, "the element type of \"\(key)\"")
        guard let t = GGUFValueType(rawValue: rawType) else { throw GGUFError.unknownValueType(path: path, key: key, type: rawType) }
        let rawCount = try readCount("the length of \"\(key)\"")
        let minSize: Int
        switch t {
        case .uint8, .int8, .bool: minSize = 1
        case .uint16, .int16: minSize = 2
        case .uint32, .int32, .float32: minSize = 4
        case .uint64, .int64, .float64: minSize = 8
        case .string: minSize = wideCounts ? 8 : 4
        case .array: minSize = 4 + (wideCounts ? 8 : 4)
        }
        let count = try checkFits(rawCount, minSize: minSize, "array \"\(key)\"")
        switch t {
        case .uint8: return .uint8(readArray(UInt8.self, count: count))
        case .int8: return .int8(readArray(Int8.self, count: count))
        case .uint16: return .uint16(readArray(UInt16.self, count: count))
        case .int16: return .int16(readArray(Int16.self, count: count))
        case .uint32: return .uint32(readArray(UInt32.self, count: count))
        case .int32: return .int32(readArray(Int32.self, count: count))
        case .float32: return .float32(readArray(UInt32.self, count: count).map { Float(bitPattern: $0) })
        case .uint64: return .uint64(readArray(UInt64.self, count: count))
        case .int64: return .int64(readArray(Int64.self, count: count))
        case .float64: return .float64(readArray(UInt64.self, count: count).map { Double(bitPattern: $0) })
        case .bool:
            var out = [Bool]()
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try readBool(key: key)) }
            return .bool(out)
        case .string:
            var out = [String]()
            out.reserveCapacity(count)
            for i in 0..<count { out.append(try readString("element \(i) of \"\(key)\"")) }
            return .string(out)
        case .array:
            var out = [GGUFArray]()
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try readArrayValue(key: key, depth: depth + 1)) }
            return .array(out)
        }
    }

    struct Parsed {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var keys: [String]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    mutating func parse() throws -> Parsed {
        guard bytes.count >= 4 else { throw GGUFError.truncated(path: path, offset: bytes.count, reading: "the magic number") }
        let magic = Array(bytes[0..<4])
        guard magic == [0x47, 0x47, 0x55, 0x46] else { throw GGUFError.badMagic(path: path, found: magic) }
        offset = 4
        let version = try read(UInt32.self, "the version")
        guard (1...3).contains(version) else {
            if (1...3).contains(version.byteSwapped) { throw GGUFError.bigEndian(path: path) }
            throw GGUFError.unsupportedVersion(path: path, version: version)
        }
        wideCounts = version >= 2
        let rawTensorCount = try readCount("the tensor count")
        let rawKVCount = try readCount("the metadata count")
        // Smallest possible entries: a kv is key length + type + 1 byte; a tensor info is name length +
        // n_dims + type + offset.
        let kvCount = try checkFits(rawKVCount, minSize: (wideCounts ? 8 : 4) + 4 + 1, "the metadata count")
        let tensorCount = try checkFits(rawTensorCount, minSize: (wideCounts ? 8 : 4) * 2 + 8, "the tensor count")

        var metadata = [String: GGUFValue](minimumCapacity: kvCount)
        var keys = [String]()
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try readString("metadata key \(i)")
            let type = try read(UInt32.self, "the type of \"\(key)\"")
            let value = try readValue(type, key: key)
            guard metadata.updateValue(value, forKey: key) == nil else { throw GGUFError.duplicateKey(path: path, key: key) }
            keys.append(key)
        }

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 30 else {
                throw GGUFError.badAlignment(path: path, value: "\(a)")
            }
            alignment = v
        }

        struct RawTensor { var name: String; var dims: [UInt64]; var type: UInt32; var offset: UInt64 }
        var raw = [RawTensor]()
        raw.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for i in 0..<tensorCount {
            let name = try readString("the name of tensor \(i)")
            guard seen.insert(name).inserted else { throw GGUFError.duplicateTensor(path: path, name: name) }
            let nDims = try read(UInt32.self, "the dimension count of \"\(name)\"")
            guard nDims <= 4 else { throw GGUFError.badDimensionCount(path: path, tensor: name, count: nDims) }
            var dims = [UInt64]()
            for _ in 0..<nDims { dims.append(try readCount("the dimensions of \"\(name)\"")) }
            let type = try read(UInt32.self, "the type of \"\(name)\"")
            let off = try read(UInt64.self, "the offset of \"\(name)\"")
            raw.append(RawTensor(name: name, dims: dims, type: type, offset: off))
        }

        let (padded, overflow) = offset.addingReportingOverflow((alignment - offset % alignment) % alignment)
        guard !overflow else { throw GGUFError.truncated(path: path, offset: bytes.count, reading: "the data section") }
        let dataOffset = padded

        var tensors = [GGUFTensorInfo]()
        tensors.reserveCapacity(raw.count)
        for t in raw {
            guard let dtype = DType(ggmlType: t.type) else {
                throw GGUFError.unknownGGMLType(path: path, tensor: t.name, type: t.type)
            }
            // Each dim must be a positive Int and the element count must not overflow.
            guard let (shape, count) = checkedShape(t.dims.reversed()), !shape.contains(0) else {
                throw GGUFError.badDimension(path: path, tensor: t.name, dims: t.dims)
            }
            let rowLength = shape.last ?? 1
            guard rowLength % dtype.blockSize == 0, let byteCount = dtype.byteCount(elements: count) else {
                throw GGUFError.notWholeBlocks(path: path, tensor: t.name, rowLength: rowLength, dtype: dtype)
            }
            guard t.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(path: path, tensor: t.name, offset: t.offset, alignment: alignment)
            }
            let start = UInt64(dataOffset).addingReportingOverflow(t.offset)
            let end = start.partialValue.addingReportingOverflow(UInt64(byteCount))
            guard !start.overflow, !end.overflow, end.partialValue <= UInt64(bytes.count) else {
                throw GGUFError.tensorOutsideFile(path: path, tensor: t.name, start: start.overflow ? .max : start.partialValue, byteCount: byteCount, fileSize: bytes.count)
            }
            tensors.append(GGUFTensorInfo(name: t.name, shape: shape, dtype: dtype, offset: Int(t.offset), byteCount: byteCount))
        }
        let byOffset = tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
        return Parsed(version: version, metadata: metadata, keys: keys, tensors: tensors, alignment: alignment, dataOffset: dataOffset)
    }
}
