import Testing
@testable import FinchModels
@testable import FinchTensor

/// The decoder's attention past one run of keys (decode.c: KEYS = 64 per unit, runs merged by log-sum-exp).
@Suite struct FastDecodeLongContextTests {
    /// 127 prompt tokens: the fed tokens see 128 keys (two full runs), then 129 (a run of one key) up to 133.
    static let prompt: [Int32] = (0..<127).map { Int32(($0 * 37 + 11) % 96) }

    @Test(arguments: [DType.q4_1, .q8_0])
    func runsOfKeysMergeToTheOpsAtEveryISA(dtype: DType) throws {
        let model = try FastDecodeTests.model(dtype, positions: 256)
        let reference = try FastDecodeTests.logits(model, decoder: .ops, prompt: Self.prompt)
        let spread = reference.flatMap { $0 }.map(abs).max()!
        for level in CPUISA.runnable {
            let exact = try CPUISA.with(level) { try FastDecodeTests.logits(model, decoder: .exact, prompt: Self.prompt) }
            #expect(FastDecodeTests.worst(exact, reference) < 2e-4, "\(dtype) \(level) exact: \(FastDecodeTests.worst(exact, reference))")
            let int16 = try CPUISA.with(level) { try FastDecodeTests.logits(model, decoder: .int16, prompt: Self.prompt) }
            #expect(FastDecodeTests.worst(int16, reference) < 1e-3 * spread, "\(dtype) \(level) int16: \(FastDecodeTests.worst(int16, reference))")
        }
    }
}
