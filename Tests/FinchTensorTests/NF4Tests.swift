import Foundation
import Testing
import FinchTensor

/// NF4 against the numpy reference that follows bitsandbytes (scripts/reference/nf4_reference.py):
/// the stored codes bit for bit, the scales and values within f32 rounding.
@Suite struct NF4Tests {
    /// The fixture's sections after its one-line header (see the header for versions and seed).
    struct Fixture {
        var input: [Float] = [], codes: [UInt8] = [], absmaxCodes: [UInt8] = [], absmax2: [Float] = []
        var offset: Float = 0, blockAbsmax: [Float] = [], values: [Float] = []
        var header = ""
    }

    static func load() throws -> Fixture {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../FinchModelsTests/Fixtures/nf4/nf4_fixture.bin").standardized.path
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        let newline = try #require(bytes.firstIndex(of: 10))
        var f = Fixture(header: String(decoding: bytes[..<newline], as: UTF8.self))
        var at = newline + 1
        func take(_ n: Int) -> ArraySlice<UInt8> { defer { at += n }; return bytes[at..<(at + n)] }
        func floats(_ n: Int) -> [Float] {
            let s = take(4 * n)
            return stride(from: s.startIndex, to: s.endIndex, by: 4).map { i in
                Float(bitPattern: UInt32(s[i]) | UInt32(s[i + 1]) << 8 | UInt32(s[i + 2]) << 16 | UInt32(s[i + 3]) << 24)
            }
        }
        let n = 36 * 512, blocks = n / 64
        let bf16 = take(2 * n)
        f.input = stride(from: bf16.startIndex, to: bf16.endIndex, by: 2).map { i in
            Float(bitPattern: (UInt32(bf16[i]) | UInt32(bf16[i + 1]) << 8) << 16)
        }
        f.codes = Array(take(n / 2))
        f.absmaxCodes = Array(take(blocks))
        f.absmax2 = floats((blocks + 255) / 256)
        f.offset = floats(1)[0]
        f.blockAbsmax = floats(blocks)
        f.values = floats(n)
        #expect(at == bytes.count, "fixture has \(bytes.count - at) trailing bytes")
        return f
    }

    @Test func layout() {
        // absmax 0.5 (f32 0x3F000000, little-endian), qs[j] = (j mod 16) << 4 | (15 - j mod 16):
        // value 2j is NF4[j mod 16] · 0.5, value 2j+1 is NF4[15 - j mod 16] · 0.5.
        let qs: [UInt8] = (0..<32).map { (j: Int) -> UInt8 in UInt8(j % 16) << 4 | UInt8(15 - j % 16) }
        let block: [UInt8] = [0x00, 0x00, 0x00, 0x3F] + qs
        #expect(block.count == DType.nf4.bytesPerBlock && DType.nf4.blockSize == 64)
        let expected: [Float] = (0..<64).map { (i: Int) -> Float in
            let j = i / 2
            return BlockNF4.code[i % 2 == 0 ? j % 16 : 15 - j % 16] * 0.5
        }
        #expect(expected[0] == -0.5 && expected[1] == 0.5)
        #expect(expected[14] == 0 && expected[30] == 0.5 && expected[31] == -0.5)
        #expect(bits(decode(.nf4, block)) == bits(expected))
        #expect(!DType.nf4.isGGUFType && DType(ggmlType: UInt32.max) == nil)
    }

    @Test func theCodeAndTheDynamicMapAreBitsandbytes() {
        #expect(BlockNF4.code.count == 16 && BlockNF4.code.first == -1 && BlockNF4.code[7] == 0 && BlockNF4.code.last == 1)
        #expect(zip(BlockNF4.code, BlockNF4.code.dropFirst()).allSatisfy { $0 < $1 })
        let map = BlockNF4.dynamicMap
        #expect(map.count == 256 && Set(map).count == 256 && map.last == 1)
        // create_dynamic_map(signed=True)[:4] and the values around zero.
        #expect(Array(map.prefix(4)) == [-0.99296874, -0.9789063, -0.96484375, -0.9507812])
        #expect(map[127] == 0 && map[128] == 5.5000004e-07 && map[126] == -5.5000004e-07)
    }

    @Test func quantizesAsTheReference() throws {
        let f = try Self.load()
        #expect(f.header.contains("seed 1234") && f.header.contains("bitsandbytes"))
        let q = f.input.withUnsafeBufferPointer { BlockNF4.doubleQuantize($0.baseAddress!, count: $0.count) }
        #expect(q.codes == f.codes, "4-bit codes differ in \(zip(q.codes, f.codes).filter { $0 != $1 }.count) bytes")
        #expect(q.absmaxCodes == f.absmaxCodes)
        #expect(q.absmax2.count == 2 && bits(q.absmax2) == bits(f.absmax2))
        #expect(abs(q.offset - f.offset) <= f.offset.ulp)
        for (a, b) in zip(q.blockAbsmax, f.blockAbsmax) { #expect(abs(a - b) <= 2 * b.magnitude.ulp + 1e-12) }
    }

    @Test func dequantizesAsTheReference() throws {
        let f = try Self.load()
        let stored = try encode(.nf4, f.input)
        #expect(stored.count == f.input.count / 64 * 36)
        let values = decode(.nf4, stored)
        #expect(values.count == f.values.count)
        var worst: Float = 0
        for (a, b) in zip(values, f.values) { worst = max(worst, abs(a - b) / max(abs(b), 1e-6)) }
        #expect(worst <= 1e-6, "largest relative difference \(worst)")
        // And NF4 is what it claims: every value within half a code gap of its input.
        for b in 0..<(f.input.count / 64) {
            let scale = abs(f.blockAbsmax[b])
            for j in 0..<64 { #expect(abs(values[b * 64 + j] - f.input[b * 64 + j]) <= 0.15 * scale + 2e-3) }
        }
    }

    @Test func quantizingSplitTensorsWouldDiffer() throws {
        // Double quantization spans the tensor: quantizing rows one by one (as the row-wise
        // converters do for the GGUF formats) gives other scales, which is why nf4 takes the whole
        // tensor in one call.
        let f = try Self.load()
        let whole = try encode(.nf4, f.input)
        var rows: [UInt8] = []
        for r in 0..<36 { rows += try encode(.nf4, Array(f.input[(r * 512)..<((r + 1) * 512)])) }
        #expect(whole != rows)
    }
}
