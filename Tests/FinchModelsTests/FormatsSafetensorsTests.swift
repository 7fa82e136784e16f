import Foundation
import Testing
import FinchModels
import FinchSupport
import FinchTensor

/// A safetensors file from a header string and a data buffer.
func safetensorsBytes(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    var out = [UInt8]()
    withUnsafeBytes(of: (length ?? UInt64(header.utf8.count)).littleEndian) { out += $0 }
    return out + Array(header.utf8) + data
}

func parseSafetensors(_ bytes: [UInt8]) throws -> SafetensorsFile {
    try bytes.withUnsafeBytes { try SafetensorsFile(bytes: $0, path: "t.safetensors") }
}

func readFile(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }

func values<T>(_ file: SafetensorsFile, _ name: String, as: T.Type) -> [T] {
    let d = file.data(named: name)!
    return (0..<d.count / MemoryLayout<T>.size).map { d.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
}

@Suite struct FormatsSafetensorsWriterTests {
    @Test func referenceTestVectors() throws {
        // From the Rust crate's unit tests: one F32 tensor "attn.0" [1,2,3] = 0..5 → a 64-byte header, no padding.
        var w = SafetensorsWriter(metadata: nil)
        let data = [Float](arrayLiteral: 0, 1, 2, 3, 4, 5).withUnsafeBytes { Array($0) }
        try w.add(name: "attn.0", dtype: .F32, shape: [1, 2, 3], data: .bytes(data))
        let dir = tempPath("vectors")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try w.write(to: dir + "/a.safetensors")
        let header = #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#
        #expect(header.utf8.count == 64)
        #expect(try readFile(dir + "/a.safetensors") == safetensorsBytes(header, data: data))

        // Empty: N = 8, "{}" plus 6 spaces.
        try SafetensorsWriter(metadata: nil).write(to: dir + "/empty.safetensors")
        #expect(try readFile(dir + "/empty.safetensors") == safetensorsBytes("{}      "))

        // Metadata only: N = 40, 35 JSON bytes plus 5 spaces.
        try SafetensorsWriter(metadata: ["framework": "pt"]).write(to: dir + "/meta.safetensors")
        #expect(try readFile(dir + "/meta.safetensors") == safetensorsBytes(#"{"__metadata__":{"framework":"pt"}}"# + "     "))
        let meta = try SafetensorsFile(path: dir + "/meta.safetensors")
        #expect(meta.metadata == ["framework": "pt"] && meta.tensors.isEmpty)
        #expect(try SafetensorsFile(path: dir + "/empty.safetensors").tensors.isEmpty)
    }

    @Test func rewritesPythonFileByteForByte() throws {
        // Reading the reference's file and writing its tensors back must give the same bytes
        // (dtype-then-name order, compact header, space padding, format=pt metadata).
        // newer_dtypes.safetensors (torch, no metadata) pins the order of F8_E8M0 and C64.
        for name in ["mixed.safetensors", "newer_dtypes.safetensors"] {
            let path = fixtureURL(name).path
            let file = try SafetensorsFile(path: path)
            var w = SafetensorsWriter(metadata: file.metadata)
            for t in file.tensors.reversed() { try w.add(name: t.name, dtype: t.dtype, shape: t.shape, data: .buffer(file.data(for: t))) }
            let out = tempPath(name)
            defer { try? FileManager.default.removeItem(atPath: out) }
            try w.write(to: out)
            #expect(try readFile(out) == readFile(path), "\(name)")
        }
        let newer = try SafetensorsFile(path: fixtureURL("newer_dtypes.safetensors").path)
        #expect(newer.metadata == nil)
        #expect(newer.tensors.map(\.dtype) == [.F64, .C64, .F32, .I16, .F8_E8M0, .F8_E4M3, .U8])
    }

    @Test func shardsLikeHuggingFaceHub() throws {
        let ref = try SafetensorsCheckpoint(folder: fixtureURL("sharded").path)
        var w = SafetensorsWriter()
        for name in ["model.embed.weight", "model.layers.0.w", "model.layers.1.w", "model.norm.weight"] {
            let (file, info) = try #require(ref.tensor(named: name))
            try w.add(name: name, dtype: info.dtype, shape: info.shape, data: .buffer(file.data(for: info)))
        }
        let dir = tempPath("shards")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = try w.writeSharded(folder: dir, maxShardBytes: 100)
        #expect(names == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"])
        for shard in names.dropLast() {
            #expect(try readFile(dir + "/" + shard) == readFile(fixtureURL("sharded/" + shard).path), "\(shard)")
        }
        let index = try JSON.parse(readFile(dir + "/model.safetensors.index.json"), options: .strict)
        let refIndex = try JSON.parse(readFile(fixtureURL("sharded/model.safetensors.index.json").path), options: .strict)
        #expect(index["metadata"]?["total_size"] == .int(272))
        #expect(index["weight_map"] == refIndex["weight_map"], "same tensor → shard map (both sorted)")
        let back = try SafetensorsCheckpoint(folder: dir)
        #expect(back.tensorNames == ref.tensorNames)
        // Under the limit: a single model.safetensors and no index.
        let single = tempPath("single")
        try FileManager.default.createDirectory(atPath: single, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: single) }
        #expect(try w.writeSharded(folder: single, maxShardBytes: 1 << 20) == ["model.safetensors"])
        #expect(try SafetensorsCheckpoint(folder: single).tensorNames.count == 4)
    }

    @Test func rejectsInconsistentTensors() throws {
        var w = SafetensorsWriter()
        #expect(throws: SafetensorsWriteError.byteCountMismatch(name: "x", expected: 8, got: 4)) { try w.add(name: "x", dtype: .F32, shape: [2], data: .bytes([0, 0, 0, 0])) }
        #expect(throws: SafetensorsWriteError.reservedName("__metadata__")) { try w.add(name: "__metadata__", dtype: .U8, shape: [], data: .bytes([0])) }
        try w.add(name: "y", dtype: .U8, shape: [1], data: .bytes([0]))
        #expect(throws: SafetensorsWriteError.duplicateTensor(name: "y")) { try w.add(name: "y", dtype: .U8, shape: [1], data: .bytes([0])) }
    }
}

@Suite struct FormatsSafetensorsReaderTests {
    @Test func readsEveryDtypeWrittenByPython() throws {
        let file = try SafetensorsFile(path: fixtureURL("mixed.safetensors").path)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.dataOffset % 8 == 0)
        let byName = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
        #expect(byName["f32"]?.shape == [1, 2, 3] && byName["f32"]?.dtype == .F32)
        #expect(byName["scalar"]?.shape == [] && byName["scalar"]?.byteCount == 4)
        #expect(byName["empty"]?.shape == [0, 3] && byName["empty"]?.byteCount == 0)
        #expect(values(file, "f32", as: Float.self) == [0, 0.5, 1, 1.5, 2, 2.5])
        #expect(values(file, "f64", as: Double.self) == [0, -0.25, -0.5, -0.75, -1, -1.25])
        #expect(values(file, "i64", as: Int64.self) == [-3, -2, -1, 0, 1, 2].map { $0 << 40 })
        #expect(values(file, "i32", as: Int32.self) == [-3, -2, -1, 0, 1, 2])
        #expect(values(file, "i16", as: Int16.self) == [-3, -2, -1, 0, 1, 2])
        #expect(values(file, "i8", as: Int8.self) == [-3, -2, -1, 0, 1, 2])
        #expect(values(file, "u8", as: UInt8.self) == [0, 40, 80, 120, 160, 200])
        #expect(values(file, "bool", as: UInt8.self) == [1, 0, 1, 0, 1, 0] && byName["bool"]?.dtype == .BOOL)
        #expect(values(file, "scalar", as: Float.self) == [7])
        #expect(values(file, "ünï.weight", as: Float.self) == [0, 1, 2, 3])
        let f16 = file.tensor(named: "f16")!
        #expect(f16.dtype.storageType == .f16)
        var out = [Float](repeating: 0, count: 6)
        out.withUnsafeMutableBufferPointer { dequantize(.f16, file.data(for: f16).baseAddress!, into: $0.baseAddress!, count: 6) }
        #expect(out == [0, 1.5, 3, 4.5, 6, 7.5])

        let bf = try SafetensorsFile(path: fixtureURL("bf16.safetensors").path)
        let t = try #require(bf.tensor(named: "bf16"))
        #expect(t.dtype == .BF16 && t.shape == [3])
        var b = [Float](repeating: 0, count: 3)
        b.withUnsafeMutableBufferPointer { dequantize(.bf16, bf.data(for: t).baseAddress!, into: $0.baseAddress!, count: 3) }
        #expect(b == [1, -2.5, 3.140625])
    }

    @Test func readsShardedCheckpoint() throws {
        let ckpt = try SafetensorsCheckpoint(folder: fixtureURL("sharded").path)
        #expect(ckpt.files.count == 3)
        #expect(ckpt.tensorNames == ["model.embed.weight", "model.layers.0.w", "model.layers.1.w", "model.norm.weight"])
        let embed = try #require(ckpt.tensor(named: "model.embed.weight"))
        #expect(embed.info.shape == [8, 4] && embed.file.path.hasSuffix("model-00001-of-00003.safetensors"))
        let d = try #require(ckpt.data(named: "model.layers.1.w"))
        #expect((0..<16).map { d.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } == (0..<16).map { Float($0 * 2) })
        #expect(ckpt.tensor(named: "nope") == nil)
    }
}

@Suite struct FormatsSafetensorsBadInputTests {
    let f32x2 = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test func validBaseline() throws {
        #expect(try parseSafetensors(safetensorsBytes(f32x2, data: [UInt8](repeating: 0, count: 8))).tensors.count == 1)
    }

    @Test func headerLengthProblems() {
        #expect(throws: SafetensorsError.fileTooSmall(path: "t.safetensors", size: 5)) { try parseSafetensors([1, 2, 3, 4, 5]) }
        #expect(throws: SafetensorsError.headerTooLarge(path: "t.safetensors", length: 100_000_001)) {
            try parseSafetensors(safetensorsBytes("{}", length: 100_000_001))
        }
        #expect(throws: SafetensorsError.headerPastEnd(path: "t.safetensors", length: 3, fileSize: 10)) { try parseSafetensors(safetensorsBytes("{}", length: 3)) }
        #expect(throws: SafetensorsError.headerPastEnd(path: "t.safetensors", length: 99_999_999, fileSize: 10)) { try parseSafetensors(safetensorsBytes("{}", length: 99_999_999)) }
        #expect(throws: SafetensorsError.headerNotObject(path: "t.safetensors")) { try parseSafetensors(safetensorsBytes(" {}")) }
        #expect(throws: SafetensorsError.headerNotObject(path: "t.safetensors")) { try parseSafetensors(safetensorsBytes("")) }
    }

    @Test func invalidJSONAndDuplicates() {
        #expect(throws: SafetensorsError.invalidJSON(path: "t.safetensors", error: "unterminated string at byte 8")) { try parseSafetensors(safetensorsBytes(#"{"a":{"d"#)) }
        #expect(throws: SafetensorsError.invalidJSON(path: "t.safetensors", error: "duplicate key \"a\" at byte 53")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0]))
        }
        #expect(throws: SafetensorsError.invalidJSON(path: "t.safetensors", error: "nesting deeper than 64 at byte 68")) {
            try parseSafetensors(safetensorsBytes("{\"a\":" + String(repeating: "[", count: 200)))
        }
        #expect(throws: SafetensorsError.invalidMetadata(path: "t.safetensors", reason: "value of \"n\" is not a string")) {
            try parseSafetensors(safetensorsBytes(#"{"__metadata__":{"n":1}}"#))
        }
    }

    @Test func tensorEntryProblems() {
        #expect(throws: SafetensorsError.unknownDType(path: "t.safetensors", tensor: "a", dtype: "F4")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#, data: [0]))
        }
        #expect(throws: SafetensorsError.byteCountMismatch(path: "t.safetensors", tensor: "a", expected: 8, actual: 7)) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,7]}}"#, data: [UInt8](repeating: 0, count: 7)))
        }
        #expect(throws: SafetensorsError.sizeOverflow(path: "t.safetensors", tensor: "a")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        }
        #expect(throws: SafetensorsError.sizeOverflow(path: "t.safetensors", tensor: "a")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[9223372036854775807],"data_offsets":[0,8]}}"#))
        }
        #expect(throws: SafetensorsError.invalidTensorEntry(path: "t.safetensors", tensor: "a", reason: "invalid data_offsets [8, 0]")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: [UInt8](repeating: 0, count: 8)))
        }
        #expect(throws: SafetensorsError.invalidTensorEntry(path: "t.safetensors", tensor: "a", reason: "shape entries must be non-negative integers")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        }
        #expect(throws: SafetensorsError.invalidTensorEntry(path: "t.safetensors", tensor: "a", reason: "\"data_offsets\" must be two non-negative integers")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}"#, data: [UInt8](repeating: 0, count: 8)))
        }
        #expect(throws: SafetensorsError.invalidTensorEntry(path: "t.safetensors", tensor: "a", reason: "entry is not an object")) {
            try parseSafetensors(safetensorsBytes(#"{"a":[]}"#))
        }
    }

    @Test func offsetsMustTileTheBuffer() {
        let zeros = [UInt8](repeating: 0, count: 16)
        #expect(throws: SafetensorsError.notTiled(path: "t.safetensors", tensor: "b", expectedBegin: 8, begin: 4)) {  // overlap
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: Array(zeros[0..<12])))
        }
        #expect(throws: SafetensorsError.notTiled(path: "t.safetensors", tensor: "b", expectedBegin: 8, begin: 12)) {  // hole
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[12,16]}}"#, data: zeros))
        }
        #expect(throws: SafetensorsError.bufferSizeMismatch(path: "t.safetensors", dataEnd: 8, bufferSize: 7)) {  // data past the end
            try parseSafetensors(safetensorsBytes(f32x2, data: Array(zeros[0..<7])))
        }
        #expect(throws: SafetensorsError.bufferSizeMismatch(path: "t.safetensors", dataEnd: 8, bufferSize: 9)) {  // trailing bytes
            try parseSafetensors(safetensorsBytes(f32x2, data: Array(zeros[0..<9])))
        }
        #expect(throws: SafetensorsError.bufferSizeMismatch(path: "t.safetensors", dataEnd: 8, bufferSize: 0)) {  // no data at all
            try parseSafetensors(safetensorsBytes(f32x2))
        }
        // Offsets beyond Int (no file is that large) stop at the strict JSON parser, naming the number.
        #expect(throws: SafetensorsError.invalidJSON(path: "t.safetensors", error: "number 18446744073709551608 is out of range at byte 47")) {
            try parseSafetensors(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[7],"data_offsets":[18446744073709551608,18446744073709551615]}}"#))
        }
    }

    @Test func truncatedAtEveryLength() throws {
        let whole = try readFile(fixtureURL("mixed.safetensors").path)
        var failures = 0
        for n in 0..<whole.count {
            do { _ = try parseSafetensors(Array(whole[0..<n])) } catch is SafetensorsError { failures += 1 }
        }
        #expect(failures == whole.count)
    }

    @Test func badShardIndex() throws {
        let dir = tempPath("badindex")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let indexPath = dir + "/model.safetensors.index.json"
        try #"{"weight_map":{"a":"../../etc/passwd"}}"#.write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(throws: SafetensorsError.badIndex(path: indexPath, reason: "shard name \"../../etc/passwd\" is not a plain file name")) { try SafetensorsCheckpoint(folder: dir) }
        try #"{"metadata":{}}"#.write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(throws: SafetensorsError.badIndex(path: indexPath, reason: "no \"weight_map\" object")) { try SafetensorsCheckpoint(folder: dir) }
        var w = SafetensorsWriter()
        try w.add(name: "x", dtype: .U8, shape: [1], data: .bytes([1]))
        try w.write(to: dir + "/s.safetensors")
        try #"{"weight_map":{"x":"s.safetensors","y":"s.safetensors"}}"#.write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(throws: SafetensorsError.missingTensor(path: dir + "/s.safetensors", tensor: "y")) { try SafetensorsCheckpoint(folder: dir) }
        try #"{"weight_map":{"x":"gone.safetensors"}}"#.write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(throws: SafetensorsError.cannotOpen(path: dir + "/gone.safetensors", reason: "No such file or directory")) { try SafetensorsCheckpoint(folder: dir) }
    }
}
