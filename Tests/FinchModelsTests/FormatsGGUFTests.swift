import Foundation
import Testing
import FinchModels
import FinchTensor

func fixtureURL(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
}

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("finch-\(UUID().uuidString)-\(name)").path
}

func floatsFromBase64(_ b64: String) -> [Float] {
    let data = Data(base64Encoded: b64)!
    return data.withUnsafeBytes { raw in
        (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    }
}

func dequantized(_ dtype: DType, _ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    out.withUnsafeMutableBufferPointer { dequantize(dtype, bytes.baseAddress!, into: $0.baseAddress!, count: count) }
    return out
}

/// Little-endian byte builder for hand-made GGUF files.
struct GGUFBytes {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(tensors: UInt64, kvs: UInt64, version: UInt32 = 3) {
        bytes += Array("GGUF".utf8); u32(version); u64(tensors); u64(kvs)
    }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        str(name); u32(UInt32(dims.count)); for d in dims { u64(d) }; u32(type); u64(offset)
    }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

func parse(_ b: GGUFBytes) throws -> GGUFFile {
    try b.bytes.withUnsafeBytes { try GGUFFile(bytes: $0, path: "test.gguf") }
}

@Suite struct FormatsGGUFReaderTests {
    struct Expected: Decodable {
        struct Tensor: Decodable { let dtype: String; let shape: [Int]; let f32: String }
        struct Permutation: Decodable { let heads: Int; let head_dim: Int; let cols: Int; let gguf: [Float]; let hf: [Float] }
        let tensors: [String: Tensor]
        let permutation: Permutation
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtureURL("tiny_gguf.json")))
    }

    @Test func readsEveryMetadataTypeWrittenByGGUFPy() throws {
        let file = try GGUFFile(path: fixtureURL("tiny.gguf").path)
        let m = file.metadata
        #expect(file.version == 3)
        #expect(file.architecture == "llama")
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.f32"] == .float32(0.1))
        #expect(m["test.u64"] == .uint64(1 << 63 + 5))
        #expect(m["test.i64"] == .int64(-(1 << 62)))
        #expect(m["test.f64"]?.double == 3.141592653589793)
        #expect(m["test.bool"]?.bool == true)
        #expect(m["test.string"]?.string == "héllo ✓ 🦜")
        #expect(m["test.strings"]?.stringArray == ["a", "", "ΣΩ"])
        #expect(m["test.f32s"]?.floatArray == [1.5, -2.25, 1e-8])
        #expect(m["test.i32s"]?.intArray == [1, -2, 3])
        #expect(m["test.u64s"]?.intArray == [7, 1 << 40])
        #expect(m["test.bools"] == .array(.bool([true, false, true])))
        #expect(m["test.nested"] == .array(.array([.int32([1, 2]), .int32([3])])))
        #expect(m["test.u64"]?.int == nil, "2^63+5 does not fit in Int")
        #expect(m["test.u32"]?.int == 4_000_000_000, "integer accessor accepts every width")
        #expect(file.archValue("block_count")?.int == 2)
        #expect(file.archValue("attention.head_count")?.int == 4)
        #expect(file.alignment == 64)
        #expect(file.metadataKeys.first == "general.architecture")
    }

    @Test func readsTensorsWrittenByGGUFPy() throws {
        let file = try GGUFFile(path: fixtureURL("tiny.gguf").path)
        let expected = try Self.expected()
        #expect(file.tensors.map(\.name) == ["f32.weight", "f16.weight", "q8.weight", "q41.weight", "q4k.weight"])
        #expect(file.dataOffset % 64 == 0)
        for t in file.tensors {
            let e = try #require(expected.tensors[t.name])
            #expect(t.dtype.rawValue == e.dtype)
            #expect(t.shape == e.shape, "shape in PyTorch order")
            #expect(t.offset % 64 == 0)
            let data = file.data(for: t)
            #expect(data.count == t.byteCount)
            let got = dequantized(t.dtype, data, count: t.elementCount)
            #expect(got.map(\.bitPattern) == floatsFromBase64(e.f32).map(\.bitPattern), "\(t.name)")
        }
        let q = try #require(file.tensor(named: "q41.weight"))
        #expect(q.shape == [3, 64] && q.ggmlDims == [64, 3] && q.byteCount == 3 * 2 * 20)
    }

    @Test func mappingFailsWithTypedError() {
        #expect(throws: GGUFError.cannotOpen(path: "/nonexistent/x.gguf", reason: "No such file or directory")) {
            try GGUFFile(path: "/nonexistent/x.gguf")
        }
        let dir = FileManager.default.temporaryDirectory.path
        #expect(throws: GGUFError.cannotOpen(path: dir, reason: "not a regular file")) { try GGUFFile(path: dir) }
    }
}

@Suite struct FormatsGGUFWriterTests {
    @Test func roundTripsMetadataAndTensors() throws {
        var w = try GGUFWriter(alignment: 64)
        let values: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("a.u8", .uint8(1)), ("a.i8", .int8(-1)), ("a.u16", .uint16(65535)), ("a.i16", .int16(-2)),
            ("a.u32", .uint32(7)), ("a.i32", .int32(-7)), ("a.f32", .float32(-0.5)), ("a.bool", .bool(false)),
            ("a.string", .string("ünïcode")), ("a.u64", .uint64(.max)), ("a.i64", .int64(.min)), ("a.f64", .float64(1e300)),
            ("a.strings", .array(.string(["x", "yy"]))), ("a.floats", .array(.float32([1, 2]))),
            ("a.empty", .array(.int32([]))), ("a.nested", .array(.array([.string(["p"]), .string([])]))),
            ("a.u8s", .array(.uint8([1, 2, 3]))), ("a.f64s", .array(.float64([0.25]))),
        ]
        for (k, v) in values { w.set(k, v) }
        let f32: [Float] = [1, 2, 3, 4, 5, 6]
        let q8 = (0..<64).map { Float($0) - 31.5 }
        var q8bytes = [UInt8](repeating: 0, count: 2 * 34)
        try q8.withUnsafeBufferPointer { s in try q8bytes.withUnsafeMutableBytes { try quantize(.q8_0, s.baseAddress!, into: $0.baseAddress!, count: 64) } }
        let f32bytes = f32.withUnsafeBytes { Array($0) }
        try w.addTensor(name: "t.f32", shape: [2, 3], dtype: .f32, data: .bytes(f32bytes))
        try w.addTensor(name: "t.q8", shape: [2, 32], dtype: .q8_0, data: .producer { buf in buf.copyMemory(from: UnsafeRawBufferPointer(start: q8bytes, count: q8bytes.count)) })
        try f32bytes.withUnsafeBytes { raw in
            try w.addTensor(name: "t.vec", shape: [6], dtype: .f32, data: .buffer(UnsafeRawBufferPointer(rebasing: raw[0..<24])))
            let path = tempPath("rt.gguf")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try w.write(to: path)
            let file = try GGUFFile(path: path)
            #expect(file.alignment == 64)
            #expect(file.metadata["general.alignment"] == .uint32(64))
            for (k, v) in values { #expect(file.metadata[k] == v, "\(k)") }
            #expect(file.tensors.map(\.name) == ["t.f32", "t.q8", "t.vec"])
            #expect(file.tensors.map(\.shape) == [[2, 3], [2, 32], [6]])
            #expect(file.tensors.map(\.dtype) == [.f32, .q8_0, .f32])
            #expect(file.tensors.allSatisfy { $0.offset % 64 == 0 })
            #expect(Array(file.data(named: "t.f32")!) == f32bytes)
            #expect(Array(file.data(named: "t.q8")!) == q8bytes)
            #expect(Array(file.data(named: "t.vec")!) == f32bytes)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"), "temp file renamed away")
        }
    }

    @Test func rejectsInconsistentTensors() throws {
        var w = try GGUFWriter()
        #expect(throws: GGUFWriteError.notWholeBlocks(name: "x", rowLength: 33, dtype: .q4_0)) {
            try w.addTensor(name: "x", shape: [1, 33], dtype: .q4_0, data: .bytes([]))
        }
        #expect(throws: GGUFWriteError.byteCountMismatch(name: "y", expected: 8, got: 4)) {
            try w.addTensor(name: "y", shape: [2], dtype: .f32, data: .bytes([0, 0, 0, 0]))
        }
        try w.addTensor(name: "z", shape: [1], dtype: .f32, data: .bytes([0, 0, 0, 0]))
        #expect(throws: GGUFWriteError.duplicateTensor(name: "z")) { try w.addTensor(name: "z", shape: [1], dtype: .f32, data: .bytes([0, 0, 0, 0])) }
        #expect(throws: GGUFWriteError.badShape(name: "e", shape: [0])) { try w.addTensor(name: "e", shape: [0], dtype: .f32, data: .bytes([])) }
        #expect(throws: GGUFWriteError.badAlignment(12)) { try GGUFWriter(alignment: 12) }
    }
}

@Suite struct FormatsLlamaPermutationTests {
    @Test func undoesLlamaQKPermutationLikeNumpy() throws {
        let p = try FormatsGGUFReaderTests.expected().permutation
        let rows = p.heads * p.head_dim
        // The numpy reference (reshape(n, hd/2, 2, in).swapaxes(1, 2)) gives this row order; by hand from
        // HF[h·hd + j·hd/2 + i] = GGUF[h·hd + 2i + j] with hd = 4: HF rows take GGUF rows 0,2,1,3 | 4,6,5,7.
        let handOrder = [0, 2, 1, 3, 4, 6, 5, 7]
        let byHand: [Float] = handOrder.flatMap { r in (0..<p.cols).map { Float(r * 10 + $0) } }
        #expect(p.hf == byHand)
        #expect(try LlamaPermutation.unpermuteRows(p.gguf, rows: rows, heads: p.heads) == p.hf)
        #expect((0..<8).map { LlamaPermutation.ggufRow(forHFRow: $0, headDim: 4) } == handOrder)
        // Export direction (HF → GGUF) is the inverse, on a 3-head, head-size-6 case too.
        #expect(try LlamaPermutation.permuteRows(p.hf, rows: rows, heads: p.heads) == p.gguf)
        let m: [Float] = (0..<(18 * 2)).map(Float.init)
        #expect(try LlamaPermutation.unpermuteRows(LlamaPermutation.permuteRows(m, rows: 18, heads: 3), rows: 18, heads: 3) == m)
        #expect(try LlamaPermutation.permuteRows(m, rows: 18, heads: 3) != m)
    }

    @Test func movesQuantizedRowsWithoutDequantizing() throws {
        // 4 rows of 32 values, Q8_0: moving raw rows then decoding == decoding then moving floats.
        let rows = 4, cols = 32
        let x: [Float] = (0..<(rows * cols)).map { Float($0 % 17) - Float($0 / 32) * 3 }
        var q = [UInt8](repeating: 0, count: rows * 34)
        try x.withUnsafeBufferPointer { s in try q.withUnsafeMutableBytes { try quantize(.q8_0, s.baseAddress!, into: $0.baseAddress!, count: x.count) } }
        let movedThenDecoded = try LlamaPermutation.unpermuteRows(q, rows: rows, heads: 1).withUnsafeBytes { dequantized(.q8_0, $0, count: x.count) }
        let decodedThenMoved = try LlamaPermutation.unpermuteRows(q.withUnsafeBytes { dequantized(.q8_0, $0, count: x.count) }, rows: rows, heads: 1)
        #expect(movedThenDecoded == decodedThenMoved)
        #expect(movedThenDecoded != q.withUnsafeBytes { dequantized(.q8_0, $0, count: x.count) }, "rows actually moved")
        #expect(throws: LlamaPermutationError.rowsNotDivisible(rows: 6, heads: 4)) { try LlamaPermutation.unpermuteRows([Float](repeating: 0, count: 6), rows: 6, heads: 4) }
    }
}

@Suite struct FormatsGGUFBadInputTests {
    @Test func badMagicAndVersion() {
        #expect(throws: GGUFError.badMagic(path: "test.gguf", found: Array("GGML".utf8))) {
            var b = GGUFBytes(); b.bytes = Array("GGMLxxxxxxxxxxxxxxxxxxxx".utf8); return try parse(b)
        }
        #expect(throws: GGUFError.unsupportedVersion(path: "test.gguf", version: 4)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 0, version: 4); return try parse(b)
        }
        #expect(throws: GGUFError.bigEndian(path: "test.gguf")) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 0, version: UInt32(3).byteSwapped); return try parse(b)
        }
        #expect(throws: GGUFError.truncated(path: "test.gguf", offset: 2, reading: "the magic number")) {
            var b = GGUFBytes(); b.bytes = [0x47, 0x47]; return try parse(b)
        }
        #expect(throws: GGUFError.truncated(path: "<memory>", offset: 0, reading: "the magic number")) {
            try GGUFFile(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    @Test func truncatedHeaderAtEveryLength() throws {
        var w = try GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("x.list", .array(.string(["a", "b"])))
        try w.addTensor(name: "t", shape: [2, 32], dtype: .q8_0, data: .bytes([UInt8](repeating: 0, count: 68)))
        let path = tempPath("trunc.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let file = try whole.withUnsafeBytes { try GGUFFile(bytes: $0) }
        #expect(file.tensors.count == 1)
        // Every prefix that cuts into the header or the tensor's 68 bytes fails with a typed error (no crash,
        // no out-of-bounds read); cutting only the trailing alignment padding leaves a valid file.
        let needed = file.dataOffset + 68
        #expect(needed < whole.count)
        var failures = 0
        for n in 0..<whole.count {
            do { _ = try whole[0..<n].withUnsafeBytes { try GGUFFile(bytes: $0) } } catch is GGUFError { failures += 1 }
        }
        #expect(failures == needed)
    }

    @Test func absurdLengths() {
        #expect(throws: GGUFError.absurdLength(path: "test.gguf", what: "the metadata count", length: 1 << 60, bytesLeft: 0)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1 << 60); return try parse(b)
        }
        #expect(throws: GGUFError.absurdLength(path: "test.gguf", what: "the tensor count", length: .max, bytesLeft: 0)) {
            var b = GGUFBytes(); b.header(tensors: .max, kvs: 0); return try parse(b)
        }
        #expect(throws: GGUFError.absurdLength(path: "test.gguf", what: "the length of metadata key 0", length: 1 << 40, bytesLeft: 5)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.u64(1 << 40); b.bytes += [0, 0, 0, 0, 0]; return try parse(b)
        }
        #expect(throws: GGUFError.absurdLength(path: "test.gguf", what: "array \"k\"", length: 1 << 62, bytesLeft: 0)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(9); b.u32(5); b.u64(1 << 62); return try parse(b)
        }
    }

    @Test func invalidMetadata() {
        #expect(throws: GGUFError.unknownValueType(path: "test.gguf", key: "k", type: 13)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(13); b.u32(0); return try parse(b)
        }
        #expect(throws: GGUFError.invalidBool(path: "test.gguf", key: "k", value: 2)) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(7); b.u8(2); return try parse(b)
        }
        #expect(throws: GGUFError.duplicateKey(path: "test.gguf", key: "k")) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 2); b.str("k"); b.u32(0); b.u8(1); b.str("k"); b.u32(0); b.u8(2); return try parse(b)
        }
        #expect(throws: GGUFError.invalidUTF8(path: "test.gguf", what: "the value of \"k\"")) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(8); b.u64(2); b.bytes += [0xC3, 0x28]; return try parse(b)
        }
        #expect(throws: GGUFError.nestingTooDeep(path: "test.gguf", key: "k")) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("k"); b.u32(9)
            for _ in 0..<20 { b.u32(9); b.u64(1) }
            return try parse(b)
        }
        #expect(throws: GGUFError.badAlignment(path: "test.gguf", value: "uint32(48)")) {
            var b = GGUFBytes(); b.header(tensors: 0, kvs: 1); b.str("general.alignment"); b.u32(4); b.u32(48); return try parse(b)
        }
    }

    /// One tensor info followed by `dataBytes` bytes of data (alignment 32).
    func oneTensor(_ name: String = "t", dims: [UInt64], type: UInt32, offset: UInt64 = 0, dataBytes: Int) -> GGUFBytes {
        var b = GGUFBytes(); b.header(tensors: 1, kvs: 0); b.tensorInfo(name, dims: dims, type: type, offset: offset)
        b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: dataBytes)
        return b
    }

    @Test func invalidTensorInfos() throws {
        #expect(try parse(oneTensor(dims: [32, 2], type: 8, dataBytes: 68)).tensors[0].shape == [2, 32])
        #expect(throws: GGUFError.unknownGGMLType(path: "test.gguf", tensor: "t", type: 7)) { try parse(oneTensor(dims: [32], type: 7, dataBytes: 24)) }
        #expect(throws: GGUFError.notWholeBlocks(path: "test.gguf", tensor: "t", rowLength: 33, dtype: .q8_0)) { try parse(oneTensor(dims: [33, 2], type: 8, dataBytes: 68)) }
        #expect(throws: GGUFError.tensorOutsideFile(path: "test.gguf", tensor: "t", start: 96, byteCount: 68, fileSize: 163)) { try parse(oneTensor(dims: [32, 2], type: 8, dataBytes: 67)) }
        #expect(throws: GGUFError.tensorOutsideFile(path: "test.gguf", tensor: "t", start: .max, byteCount: 4, fileSize: 68)) {
            try parse(oneTensor(dims: [1], type: 0, offset: UInt64.max - 31, dataBytes: 4))
        }
        #expect(throws: GGUFError.misalignedTensor(path: "test.gguf", tensor: "t", offset: 4, alignment: 32)) { try parse(oneTensor(dims: [1], type: 0, offset: 4, dataBytes: 8)) }
        #expect(throws: GGUFError.badDimensionCount(path: "test.gguf", tensor: "t", count: 5)) { try parse(oneTensor(dims: [1, 1, 1, 1, 1], type: 0, dataBytes: 4)) }
        #expect(throws: GGUFError.badDimension(path: "test.gguf", tensor: "t", dims: [0])) { try parse(oneTensor(dims: [0], type: 0, dataBytes: 4)) }
        #expect(throws: GGUFError.badDimension(path: "test.gguf", tensor: "t", dims: [1 << 32, 1 << 32])) { try parse(oneTensor(dims: [1 << 32, 1 << 32], type: 0, dataBytes: 4)) }
        #expect(throws: GGUFError.badDimension(path: "test.gguf", tensor: "t", dims: [.max])) { try parse(oneTensor(dims: [.max], type: 0, dataBytes: 4)) }
    }

    @Test func overlappingAndDuplicateTensors() {
        #expect(throws: GGUFError.overlappingTensors(path: "test.gguf", first: "a", second: "b")) {
            var b = GGUFBytes(); b.header(tensors: 2, kvs: 0)
            b.tensorInfo("a", dims: [16], type: 0, offset: 0)   // 64 bytes
            b.tensorInfo("b", dims: [8], type: 0, offset: 32)   // starts inside "a"
            b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: 64)
            return try parse(b)
        }
        #expect(throws: GGUFError.duplicateTensor(path: "test.gguf", name: "a")) {
            var b = GGUFBytes(); b.header(tensors: 2, kvs: 0)
            b.tensorInfo("a", dims: [8], type: 0, offset: 0); b.tensorInfo("a", dims: [8], type: 0, offset: 32)
            b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: 64)
            return try parse(b)
        }
    }

    @Test func version1UsesNarrowCounts() throws {
        // GGUF v1: u32 tensor/kv counts, string lengths and dims.
        var b = GGUFBytes()
        b.bytes += Array("GGUF".utf8); b.u32(1); b.u32(1); b.u32(1)
        b.u32(1); b.bytes += Array("k".utf8); b.u32(4); b.u32(30)
        b.u32(1); b.bytes += Array("t".utf8); b.u32(1); b.u32(4); b.u32(0); b.u64(0)
        b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: 16)
        let file = try parse(b)
        #expect(file.version == 1 && file.metadata["k"]?.int == 30 && file.tensors[0].shape == [4])
    }
}

@Suite struct FormatsForeignInfoTests {
    @Test func infoFromAnotherFileNeverReadsOutOfBounds() throws {
        let file = try GGUFFile(path: fixtureURL("tiny.gguf").path)
        let foreign = GGUFTensorInfo(name: "x", shape: [1 << 20], dtype: .f32, offset: 0, byteCount: 4 << 20)
        #expect(file.data(for: foreign).count == 0)
        let st = try SafetensorsFile(path: fixtureURL("mixed.safetensors").path)
        #expect(st.data(for: SafetensorsTensorInfo(name: "x", dtype: .U8, shape: [10_000], begin: 0, end: 10_000)).count == 0)
        #expect(st.data(named: "f32")?.count == 24)
    }

    /// Offsets near Int.max (or negative) give an empty buffer too: `dataOffset + offset` used to
    /// overflow and trap for a GGUF info, before the bounds check ran.
    @Test func absurdOffsetsNeverOverflow() throws {
        let file = try GGUFFile(path: fixtureURL("tiny.gguf").path)
        for (offset, count) in [(Int.max, 1), (Int.max - 8, 4), (-8, 4), (0, -1), (8, Int.max)] {
            #expect(file.data(for: GGUFTensorInfo(name: "x", shape: [1], dtype: .f32, offset: offset, byteCount: count)).count == 0)
        }
        let st = try SafetensorsFile(path: fixtureURL("mixed.safetensors").path)
        for (begin, end) in [(Int.max - 1, Int.max), (Int.min, 4), (-4, 4), (4, Int.min), (8, 4)] {
            #expect(st.data(for: SafetensorsTensorInfo(name: "x", dtype: .U8, shape: [1], begin: begin, end: end)).count == 0)
        }
        let first = try #require(file.tensors.first)
        #expect(file.data(for: first).count == first.byteCount && first.byteCount > 0)
    }
}

@Suite struct FormatsGGUFNamesTests {
    @Test func mapsLlamaNamesBothWays() {
        let pairs = [
            ("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"), ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.29.attn_k.bias", "model.layers.29.self_attn.k_proj.bias"), ("blk.7.attn_output.weight", "model.layers.7.self_attn.o_proj.weight"),
            ("blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"), ("blk.3.attn_norm.weight", "model.layers.3.input_layernorm.weight"),
            ("blk.12.ffn_down.weight", "model.layers.12.mlp.down_proj.weight"), ("blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"),
        ]
        for (g, h) in pairs {
            #expect(GGUFTensorNames.huggingFace(g) == h)
            #expect(GGUFTensorNames.gguf(h) == g)
        }
        for bad in ["rope_freqs.weight", "blk.x.attn_q.weight", "blk.1.attn_zz.weight", "token_embd", "blk.-1.attn_q.weight"] {
            #expect(GGUFTensorNames.huggingFace(bad) == nil, "\(bad)")
        }
        #expect(GGUFTensorNames.gguf("model.layers.1.self_attn.rotary_emb.inv_freq") == nil)
    }

    @Test func huggingFaceBytesUnpermutesATensorInAFile() throws {
        // An f32 "attn_q" of 8 rows × 3 (2 heads of size 4), rows numbered in GGUF order.
        let rows: [Float] = (0..<8).flatMap { r in (0..<3).map { Float(r * 10 + $0) } }
        var w = try GGUFWriter()
        try w.addTensor(name: "blk.0.attn_q.weight", shape: [8, 3], dtype: .f32, data: .bytes(rows.withUnsafeBytes { Array($0) }))
        try w.addTensor(name: "blk.0.attn_q.bias", shape: [8], dtype: .f32, data: .bytes((0..<8).map { Float($0) }.withUnsafeBytes { Array($0) }))
        let path = tempPath("perm.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        let file = try GGUFFile(path: path)
        let weight = try LlamaPermutation.huggingFaceBytes(of: file.tensor(named: "blk.0.attn_q.weight")!, in: file, heads: 2)
        let firstColumn = weight.withUnsafeBytes { b in (0..<8).map { b.load(fromByteOffset: $0 * 12, as: Float.self) } }
        #expect(firstColumn == [0, 20, 10, 30, 40, 60, 50, 70])
        let bias = try LlamaPermutation.huggingFaceBytes(of: file.tensor(named: "blk.0.attn_q.bias")!, in: file, heads: 2)
        #expect(bias.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == [0, 2, 1, 3, 4, 6, 5, 7])
    }
}

@Suite struct FormatsMutationTests {
    /// Deterministic byte mutations of the committed fixtures (a cheap in-CI companion to the libFuzzer
    /// harnesses): every mutant parses or fails with the format's typed error — never a crash.
    func mutants(of bytes: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        var s = seed
        func next() -> Int { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return Int(truncatingIfNeeded: s >> 1) }
        return (0..<count).map { _ in
            var m = bytes
            for _ in 0..<(1 + next() % 4) {
                let i = next() % m.count
                switch next() % 3 {
                case 0: m[i] = UInt8(truncatingIfNeeded: next())
                case 1: m[i] = [0x00, 0xFF, 0x7F, 0x80][next() % 4]
                default: m.removeSubrange(i..<min(m.count, i + 1 + next() % 16))
                }
                if m.isEmpty { m = [0] }
            }
            return m
        }
    }

    @Test func mutatedGGUFNeverCrashes() throws {
        let original = try [UInt8](Data(contentsOf: fixtureURL("tiny.gguf")))
        var parsed = 0, rejected = 0
        for m in mutants(of: original, count: 3000, seed: 99) {
            do { _ = try m.withUnsafeBytes { try GGUFFile(bytes: $0) }; parsed += 1 } catch is GGUFError { rejected += 1 }
        }
        #expect(parsed + rejected == 3000)
        #expect(rejected > 1000 && parsed > 100, "mutations hit both the header and the data: \(parsed) parsed, \(rejected) rejected")
    }

    @Test func mutatedSafetensorsNeverCrashes() throws {
        let original = try [UInt8](Data(contentsOf: fixtureURL("mixed.safetensors")))
        var parsed = 0, rejected = 0
        for m in mutants(of: original, count: 3000, seed: 7) {
            do { _ = try m.withUnsafeBytes { try SafetensorsFile(bytes: $0) }; parsed += 1 } catch is SafetensorsError { rejected += 1 }
        }
        #expect(parsed + rejected == 3000)
        #expect(rejected > 1000 && parsed > 10, "\(parsed) parsed, \(rejected) rejected")
    }
}
