// safetensors writer, byte-for-byte as the reference (Rust `serialize`) writes: tensors sorted by dtype,
// largest alignment first, then by name; back-to-back offsets; compact JSON header with `__metadata__`
// first, then the tensors in offset order; header padded with spaces to a multiple of 8. Files are
// written to a temporary name and renamed. Sharding follows huggingface_hub: `model-00001-of-00003.safetensors`
// plus `model.safetensors.index.json` (sorted keys, indent 2).
#if canImport(FinchTensor)
import FinchTensor
#endif
#if canImport(FinchSupport)
import FinchSupport
#endif

public enum SafetensorsWriteError: Error, Equatable, CustomStringConvertible {
    case duplicateTensor(name: String)
    case reservedName(String)
    case badShape(name: String, shape: [Int])
    case byteCountMismatch(name: String, expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .duplicateTensor(name): return "safetensors writer: tensor \"\(name)\" added twice"
        case let .reservedName(name): return "safetensors writer: \"\(name)\" is reserved for metadata"
        case let .badShape(name, shape): return "safetensors writer: tensor \"\(name)\" has an invalid shape \(shape)"
        case let .byteCountMismatch(name, expected, got): return "safetensors writer: tensor \"\(name)\" needs \(expected) bytes, got \(got)"
        }
    }
}

public struct SafetensorsWriter {
    struct Pending {
        let name: String
        let dtype: SafetensorsDType
        let shape: [Int]
        let byteCount: Int
        let data: TensorBytes
    }

    /// `__metadata__`; transformers expects `{"format": "pt"}`. nil writes none.
    public var metadata: [String: String]?
    private var pending: [Pending] = []
    private var names = Set<String>()

    public init(metadata: [String: String]? = ["format": "pt"]) {
        self.metadata = metadata
    }

    public var tensorCount: Int { pending.count }

    public mutating func add(name: String, dtype: SafetensorsDType, shape: [Int], data: TensorBytes) throws {
        guard name != "__metadata__" else { throw SafetensorsWriteError.reservedName(name) }
        guard !names.contains(name) else { throw SafetensorsWriteError.duplicateTensor(name: name) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw SafetensorsWriteError.badShape(name: name, shape: shape) }
        var count = dtype.byteSize
        for d in shape {
            let (c, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw SafetensorsWriteError.badShape(name: name, shape: shape) }
            count = c
        }
        if let n = data.knownCount, n != count { throw SafetensorsWriteError.byteCountMismatch(name: name, expected: count, got: n) }
        names.insert(name)
        pending.append(Pending(name: name, dtype: dtype, shape: shape, byteCount: count, data: data))
    }

    /// Writes one file.
    public func write(to path: String) throws {
        try Self.write(pending, metadata: metadata, to: path)
    }

    /// The header (length prefix included) and the tensors in file order.
    static func layout(_ tensors: [Pending], metadata: [String: String]?) -> (header: [UInt8], order: [Pending]) {
        let order = tensors.sorted { $0.dtype != $1.dtype ? $0.dtype > $1.dtype : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var json = "{"
        var first = true
        if let metadata {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(JSON.quoted($0)):\(JSON.quoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for t in order {
            if !first { json += "," }
            first = false
            json += "\(JSON.quoted(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.byteCount)]}"
            offset += t.byteCount
        }
        json += "}"
        var header = Array(json.utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out = [UInt8]()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        return (out + header, order)
    }

    static func write(_ tensors: [Pending], metadata: [String: String]?, to path: String) throws {
        let (header, order) = layout(tensors, metadata: metadata)
        try AtomicFile.write(to: path) { sink in
            try sink.write(header)
            for t in order { try t.data.write(byteCount: t.byteCount, to: sink) }
        }
    }

    /// Writes `model.safetensors` when everything fits in `maxShardBytes` of tensor data, else
    /// `model-0000i-of-0000n.safetensors` shards and `model.safetensors.index.json`. Returns the file names.
    /// Tensors are packed into shards in the order added, as huggingface_hub does.
    @discardableResult
    public func writeSharded(folder: String, maxShardBytes: Int, baseName: String = "model") throws -> [String] {
        // huggingface_hub's split_state_dict_into_shards_factory: in order; a tensor over the limit gets a
        // shard of its own (placed when met); otherwise start a new shard when the next tensor would tip over.
        var shards: [[Pending]] = []
        var current: [Pending] = []
        var size = 0
        for t in pending {
            if t.byteCount > maxShardBytes { shards.append([t]); continue }
            if size + t.byteCount > maxShardBytes { shards.append(current); current = []; size = 0 }
            current.append(t)
            size += t.byteCount
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }
        let dir = folder.hasSuffix("/") ? folder : folder + "/"
        if shards.count == 1 {
            let name = "\(baseName).safetensors"
            try Self.write(shards[0], metadata: metadata, to: dir + name)
            return [name]
        }
        func pad5(_ n: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        var names = [String]()
        var weightMap = [String: String]()
        for (i, shard) in shards.enumerated() {
            let name = "\(baseName)-\(pad5(i + 1))-of-\(pad5(shards.count)).safetensors"
            try Self.write(shard, metadata: metadata, to: dir + name)
            names.append(name)
            for t in shard { weightMap[t.name] = name }
        }
        let total = pending.reduce(0) { $0 + $1.byteCount }
        // as transformers writes it: json.dumps(indent=2, sort_keys=True), ASCII only
        let index = JSON.obj(["metadata": .obj(["total_size": .int(total)]),
                              "weight_map": .object(weightMap.map { ($0.key, .string($0.value)) })])
            .serialized(sortKeys: true, indent: 2, asciiOnly: true) + "\n"
        let indexName = "\(baseName).safetensors.index.json"
        try AtomicFile.write(to: dir + indexName) { try $0.write(Array(index.utf8)) }
        return names + [indexName]
    }
}


/// A checkpoint in Hugging Face layout: `model.safetensors`, or shards listed by `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let folder: String
    public let files: [SafetensorsFile]
    private let location: [String: (file: Int, tensor: SafetensorsTensorInfo)]

    /// All tensor names, sorted.
    public var tensorNames: [String] { location.keys.sorted() }

    /// Opens `folder`: the index if present, else `model.safetensors`.
    public init(folder: String) throws {
        self.folder = folder
        let dir = folder.hasSuffix("/") ? folder : folder + "/"
        let indexPath = dir + "model.safetensors.index.json"
        let indexFile: MappedFile?
        do { indexFile = try MappedFile(path: indexPath) } catch { indexFile = nil }
        guard let indexFile else {
            let single = try SafetensorsFile(path: dir + "model.safetensors")
            files = [single]
            var loc = [String: (file: Int, tensor: SafetensorsTensorInfo)]()
            for t in single.tensors { loc[t.name] = (0, t) }
            location = loc
            return
        }
        let index: JSON
        do { index = try JSON.parse(indexFile.bytes, options: .strict) } catch let e as JSONError {
            throw SafetensorsError.badIndex(path: indexPath, reason: e.description)
        }
        guard let map = index["weight_map"]?.objectValue else { throw SafetensorsError.badIndex(path: indexPath, reason: "no \"weight_map\" object") }
        var shardNames = [String]()
        var shardIndex = [String: Int]()
        var wanted = [(String, Int)]()
        for (tensor, shard) in map {
            guard let name = shard.stringValue else { throw SafetensorsError.badIndex(path: indexPath, reason: "shard of \"\(tensor)\" is not a string") }
            // Shard names come from an untrusted file: plain file names in this folder only.
            guard !name.isEmpty, !name.contains("/"), !name.contains("\\"), name != ".", name != ".." else {
                throw SafetensorsError.badIndex(path: indexPath, reason: "shard name \"\(name)\" is not a plain file name")
            }
            if shardIndex[name] == nil { shardIndex[name] = shardNames.count; shardNames.append(name) }
            wanted.append((tensor, shardIndex[name]!))
        }
        files = try shardNames.map { try SafetensorsFile(path: dir + $0) }
        var loc = [String: (file: Int, tensor: SafetensorsTensorInfo)]()
        for (tensor, i) in wanted {
            guard let info = files[i].tensor(named: tensor) else { throw SafetensorsError.missingTensor(path: files[i].path, tensor: tensor) }
            loc[tensor] = (i, info)
        }
        location = loc
    }

    public func tensor(named name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        location[name].map { (files[$0.file], $0.tensor) }
    }

    public func data(named name: String) -> UnsafeRawBufferPointer? {
        tensor(named: name).map { $0.file.data(for: $0.info) }
    }
}
