import Foundation
import Testing
import FinchTensor
import CFinchKernels

// One layout test per block format: bytes written by hand, expected values worked out by hand from
// the layout comment of each struct (not by the decoder under test). Comparisons are bit-exact.

/// Decodes `bytes` as `dtype` through the public entry point the engine uses.
func decode(_ dtype: DType, _ bytes: [UInt8]) -> [Float] {
    let count = bytes.count / dtype.bytesPerBlock * dtype.blockSize
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dequantize(dtype, src.baseAddress!, into: $0.baseAddress!, count: count) }
    }
    return out
}

func encode(_ dtype: DType, _ values: [Float]) throws -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: dtype.byteCount(elements: values.count)!)
    try values.withUnsafeBufferPointer { src in
        try out.withUnsafeMutableBytes { try quantize(dtype, src.baseAddress!, into: $0.baseAddress!, count: values.count) }
    }
    return out
}

func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

@Suite struct QuantLayoutTests {
    // f16 bit patterns used below: 0x3800 = 0.5, 0x3400 = 0.25, 0xBC00 = -1, 0x3C00 = 1, 0x4000 = 2.

    @Test func q4_0Layout() {
        // d = 0.5; qs[j] = j | (15 - j) << 4: low nibbles are values 0..15, high nibbles values 16..31.
        let qs: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | UInt8(15 - j) << 4 }
        let block: [UInt8] = [0x00, 0x38] + qs
        #expect(block.count == 18)
        let low: [Float] = (0..<16).map { (j: Int) -> Float in Float(j - 8) * 0.5 }
        let high: [Float] = (0..<16).map { (j: Int) -> Float in Float(15 - j - 8) * 0.5 }
        let expected = low + high
        #expect(expected[0] == -4 && expected[16] == 3.5 && expected[31] == -4)
        #expect(bits(decode(.q4_0, block)) == bits(expected))
    }

    @Test func q4_1Layout() {
        // d = 0.25, m = -1; both nibbles of qs[j] hold j.
        let qs: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | UInt8(j) << 4 }
        let block: [UInt8] = [0x00, 0x34, 0x00, 0xBC] + qs
        #expect(block.count == 20)
        let half: [Float] = (0..<16).map { (j: Int) -> Float in Float(j) * 0.25 - 1 }
        #expect(half[0] == -1 && half[15] == 2.75)
        #expect(bits(decode(.q4_1, block)) == bits(half + half))
    }

    @Test func q5_0Layout() {
        // d = 1; qh = 0x80000001 (little-endian 01 00 00 80): only values 0 and 31 get the fifth bit.
        let qs: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | UInt8(j) << 4 }
        let block: [UInt8] = [0x00, 0x3C, 0x01, 0x00, 0x00, 0x80] + qs
        #expect(block.count == 22)
        let ramp: [Float] = (0..<16).map { (j: Int) -> Float in Float(j - 16) }
        var expected = ramp + ramp
        expected[0] = 0      // (0 | 16) - 16
        expected[31] = 15    // (15 | 16) - 16
        #expect(bits(decode(.q5_0, block)) == bits(expected))
    }

    @Test func q8_0Layout() {
        // d = 2; qs = -128, -1, 0, 1, 127, then 0..26.
        let qs: [Int8] = [-128, -1, 0, 1, 127] + (0..<27).map { Int8($0) }
        let block: [UInt8] = [0x00, 0x40] + qs.map { UInt8(bitPattern: $0) }
        #expect(block.count == 34)
        let tail: [Float] = (0..<27).map { (j: Int) -> Float in Float(j * 2) }
        let expected: [Float] = [-256, -2, 0, 2, 254] + tail
        #expect(bits(decode(.q8_0, block)) == bits(expected))
    }

    @Test func q4_KLayout() {
        // d = 1, dmin = 0.5. Scale bytes chosen so the 8 (scale, min) pairs are
        // (1,5) (2,6) (3,7) (4,8) (17,50) (0,0) (0,0) (15,15):
        //   s[0] = 0x41: sc0 = 1, and its top bits (01) become bit 4 of sc4
        //   s[4] = 0xC5: m0 = 5, and its top bits (11) become bits 4-5 of m4
        //   s[8] = 0x21: sc4 = 1 | 16 = 17, m4 = 2 | 48 = 50;  s[11] = 0xFF: sc7 = m7 = 15
        let scales: [UInt8] = [0x41, 2, 3, 4, 0xC5, 6, 7, 8, 0x21, 0x00, 0x00, 0xFF]
        // Every qs byte 0x31: low nibble 1, high nibble 3.
        let block: [UInt8] = [0x00, 0x3C, 0x00, 0x38] + scales + [UInt8](repeating: 0x31, count: 128)
        #expect(block.count == 144)
        // y = d*sc*q - dmin*m per 32-value sub-block (low nibbles for even sub-blocks, high for odd):
        let perSubBlock: [Float] = [1 * 1 - 2.5, 2 * 3 - 3, 3 * 1 - 3.5, 4 * 3 - 4, 17 * 1 - 25, 0, 0, 15 * 3 - 7.5]
        #expect(perSubBlock == [-1.5, 3, -0.5, 8, -8, 0, 0, 37.5])
        let expected = perSubBlock.flatMap { [Float](repeating: $0, count: 32) }
        #expect(bits(decode(.q4_K, block)) == bits(expected))
    }

    @Test func q5_KLayout() {
        // d = dmin = 1; every scale 1 and min 0 (s[0..3] = 1, s[4..7] = 0, s[8..11] = 0x01).
        // qh[0] = 0x81: element 0 of sub-block 0 and element 0 of sub-block 7 get +16.
        // Every qs byte 0x21: low nibble 1 (even sub-blocks), high nibble 2 (odd sub-blocks).
        let scales: [UInt8] = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
        let qh: [UInt8] = [0x81] + [UInt8](repeating: 0, count: 31)
        let block: [UInt8] = [0x00, 0x3C, 0x00, 0x3C] + scales + qh + [UInt8](repeating: 0x21, count: 128)
        #expect(block.count == 176)
        var expected: [Float] = (0..<8).flatMap { (k: Int) -> [Float] in [Float](repeating: k % 2 == 0 ? 1 : 2, count: 32) }
        expected[0] = 17
        expected[224] = 18
        #expect(bits(decode(.q5_K, block)) == bits(expected))
    }

    @Test func q6_KLayout() {
        // d = 0.5 (stored last); scales all 2 except scales[15] = -1; ql and qh zero except:
        //   ql[0] = 0x21, qh[0] = 0xE4 (2-bit fields 0,1,2,3 from the bottom),
        //   ql[64+31] = 0x0F (second half, l = 31).
        var ql = [UInt8](repeating: 0, count: 128)
        var qh = [UInt8](repeating: 0, count: 64)
        var scales = [Int8](repeating: 2, count: 16)
        ql[0] = 0x21
        qh[0] = 0xE4
        ql[95] = 0x0F
        scales[15] = -1
        let block = ql + qh + scales.map { UInt8(bitPattern: $0) } + [0x00, 0x38]
        #expect(block.count == 210)
        // Default element: q = 0 - 32, y = 0.5 * 2 * -32 = -32. Sub-block 15 (y[240..<256]): 0.5 * -1 * -32 = 16.
        var expected = [Float](repeating: -32, count: 256)
        for i in 240..<256 { expected[i] = 16 }
        expected[0] = 0.5 * 2 * Float(1 - 32)          // ql[0] & 0xF, qh bits 0-1 = 0
        expected[32] = 0.5 * 2 * Float(16 - 32)        // ql[32] & 0xF = 0, qh bits 2-3 = 1
        expected[64] = 0.5 * 2 * Float((2 | 32) - 32)  // ql[0] >> 4 = 2, qh bits 4-5 = 2
        expected[96] = 0.5 * 2 * Float(48 - 32)        // ql[32] >> 4 = 0, qh bits 6-7 = 3
        expected[128 + 31] = 0.5 * 2 * Float(15 - 32)  // second half, l = 31: scale index 8 + 1
        #expect(expected[0] == -31 && expected[64] == 2 && expected[159] == -17)
        #expect(bits(decode(.q6_K, block)) == bits(expected))
    }

    @Test func traitsMatchLayouts() {
        #expect(BlockQ4_0.bytesPerBlock == 2 + 16)
        #expect(BlockQ4_1.bytesPerBlock == 2 + 2 + 16)
        #expect(BlockQ5_0.bytesPerBlock == 2 + 4 + 16)
        #expect(BlockQ8_0.bytesPerBlock == 2 + 32)
        #expect(BlockQ4_K.bytesPerBlock == 2 + 2 + 12 + 128 && BlockQ4_K.blockSize == 256)
        #expect(BlockQ5_K.bytesPerBlock == 2 + 2 + 12 + 32 + 128)
        #expect(BlockQ6_K.bytesPerBlock == 128 + 64 + 16 + 2)
        #expect(DType(ggmlType: 14) == .q6_K && DType(ggmlType: 3) == .q4_1 && DType(ggmlType: 99) == nil)
        // Every GGUF type round-trips through its ggml id; nf4 has none.
        for d in DType.allCases where d.isGGUFType { #expect(DType(ggmlType: d.ggmlType) == d) }
        #expect(!DType.nf4.isGGUFType && DType(ggmlType: UInt32.max) == nil)
        #expect(BlockNF4.bytesPerBlock == 4 + 32 && BlockNF4.blockSize == 64)
    }
}

@Suite struct QuantizeTests {
    @Test func q8_0RoundsHalvesAwayFromZero() throws {
        // max |x| = 127 → d = 1 exactly; 2.5 → 3 and -2.5 → -3 (roundf), 1.49 → 1.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = 1.49; x[4] = -127
        let q = try encode(.q8_0, x)
        #expect(Array(q[0..<2]) == [0x00, 0x3C])
        #expect(q[2...6].map { Int8(bitPattern: $0) } == [127, 3, -3, 1, -127])
        #expect(q[7...].allSatisfy { $0 == 0 })
    }

    @Test func q4_0UsesSignedMaximum() throws {
        // Largest magnitude is -8 → d = -8 / -8 = 1, q = min(15, trunc(x + 8.5)).
        var x = [Float](repeating: 0, count: 32)
        x[0] = -8; x[1] = 7; x[2] = 3.4; x[16] = -0.6; x[17] = 0.5
        let q = try encode(.q4_0, x)
        #expect(Array(q[0..<2]) == [0x00, 0x3C])
        // x=-8 → 0; x=7 → 15; x=3.4 → 11; zeros → 8; x[16]=-0.6 → 7; x[17]=0.5 → 9
        #expect(q[2] == 0x00 | 7 << 4)
        #expect(q[3] == 15 | 9 << 4)
        #expect(q[4] == 11 | 8 << 4)
        #expect(q[5] == 8 | 8 << 4)
    }

    @Test func q4_1StoresMinimumAndRange() throws {
        // min = -1, max = 14 → d = 1, m = -1; q = trunc(x + 1 + 0.5).
        var x = [Float](repeating: 0, count: 32)
        x[0] = -1; x[1] = 14; x[2] = 2.4
        let q = try encode(.q4_1, x)
        #expect(Array(q[0..<4]) == [0x00, 0x3C, 0x00, 0xBC])
        #expect(q[4] == 0 | 1 << 4)
        #expect(q[5] == 15 | 1 << 4)
        #expect(q[6] == 3 | 1 << 4)
    }

    @Test func unsupportedTargetsThrow() {
        let x = [Float](repeating: 1, count: 256)
        #expect(throws: ConversionError.unsupportedQuantization(.q6_K)) { try encode(.q6_K, x) }
        #expect(throws: ConversionError.notWholeBlocks(dtype: .q8_0, count: 31)) {
            var out = [UInt8](repeating: 0, count: 64)
            try x.withUnsafeBufferPointer { s in try out.withUnsafeMutableBytes { try quantize(.q8_0, s.baseAddress!, into: $0.baseAddress!, count: 31) } }
        }
    }

    @Test func nonFiniteInputDoesNotTrap() throws {
        var x = [Float](repeating: 1, count: 32)
        x[3] = .nan; x[4] = .infinity
        for dtype in [DType.q8_0, .q4_0, .q4_1] { #expect(try encode(dtype, x).count == dtype.bytesPerBlock) }
    }
}

/// Cross-check against gguf-py (scripts/reference/quant_blocks.py writes the fixture).
@Suite struct QuantReferenceTests {
    struct Fixture: Decodable {
        struct Dequant: Decodable { let dtype: String; let blocks: Int; let bytes: String; let f32: String }
        struct Quant: Decodable { let dtype: String; let f32: String; let bytes: String }
        let seed: Int
        let dequantize: [Dequant]
        let quantize: [Quant]
    }

    static func load() throws -> Fixture {
        // The fixture lives with the other committed fixtures in FinchModelsTests.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../FinchModelsTests/Fixtures/quant_blocks.json").standardized
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func floats(_ b64: String) -> [Float] {
        let data = Data(base64Encoded: b64)!
        return data.withUnsafeBytes { raw in (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }

    @Test func dequantizeMatchesGGUFPy() throws {
        let fixture = try Self.load()
        #expect(Set(fixture.dequantize.map(\.dtype)) == ["q4_0", "q4_1", "q5_0", "q8_0", "q4_K", "q5_K", "q6_K"])
        for case_ in fixture.dequantize {
            let dtype = try #require(DType(rawValue: case_.dtype))
            let bytes = [UInt8](Data(base64Encoded: case_.bytes)!)
            #expect(bytes.count == case_.blocks * dtype.bytesPerBlock)
            let expected = Self.floats(case_.f32)
            let got = decode(dtype, bytes)
            #expect(got.count == expected.count)
            let mismatches = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(dtype): \(mismatches) of \(expected.count) values differ")
        }
    }

    @Test func quantizeMatchesGGUFPy() throws {
        let fixture = try Self.load()
        #expect(fixture.quantize.map(\.dtype) == ["q8_0", "q4_0", "q4_1"])
        for case_ in fixture.quantize {
            let dtype = try #require(DType(rawValue: case_.dtype))
            let x = Self.floats(case_.f32)
            let expected = [UInt8](Data(base64Encoded: case_.bytes)!)
            let got = try encode(dtype, x)
            #expect(got == expected, "\(dtype) blocks differ from gguf-py")
        }
    }
}

@Suite struct QuantHalfTests {
    @Test func halfToFloatIsExactForEveryBitPattern() {
        // Bit-identical to the C scalar reference for all 65536 patterns (NaN payloads kept, as numpy does);
        // equal to Float16's conversion except that it does not quiet signalling NaNs.
        var mismatches = 0, differFromFloat16 = 0
        for h in 0...UInt16.max {
            var want: Float = 0
            var hh = h
            finch_f16_to_f32_scalar(&hh, &want, 1)
            let got = halfToFloat(h)
            if got.bitPattern != want.bitPattern { mismatches += 1 }
            let f16 = Float(Float16(bitPattern: h))
            if got.bitPattern != f16.bitPattern && !(got.isSignalingNaN && f16.isNaN) { differFromFloat16 += 1 }
        }
        #expect(mismatches == 0)
        #expect(differFromFloat16 == 0)
        #expect(halfToFloat(0x3C00) == 1 && halfToFloat(0xC000) == -2 && halfToFloat(0x0001) == 0x1p-24 && halfToFloat(0x7C00) == .infinity)
        #expect(halfToFloat(0x8000).bitPattern == 0x8000_0000)
    }

    @Test func floatToHalfRoundsToNearestEven() {
        // Against Swift's Float16 conversion (IEEE round to nearest even) on a spread of 2^32 / 997 patterns,
        // plus the edges: ties, the largest half, overflow, subnormals, NaN.
        var mismatches = 0
        var bits: UInt32 = 0
        while true {
            let f = Float(bitPattern: bits)
            let want = Float16(f)
            let got = floatToHalf(f)
            if want.isNaN ? !Float16(bitPattern: got).isNaN : got != want.bitPattern { mismatches += 1 }
            let (next, overflow) = bits.addingReportingOverflow(997)
            if overflow { break }
            bits = next
        }
        #expect(mismatches == 0)
        #expect(floatToHalf(1 + 0x1p-11) == 0x3C00)          // tie → even (down)
        #expect(floatToHalf(1 + 3 * 0x1p-11) == 0x3C02)      // tie → even (up)
        #expect(floatToHalf(65504) == 0x7BFF && floatToHalf(65520) == 0x7C00 && floatToHalf(-1e9) == 0xFC00)
        #expect(floatToHalf(0x1p-24) == 0x0001 && floatToHalf(0x1p-25) == 0x0000 && floatToHalf(0x1.8p-25) == 0x0001)
    }
}
