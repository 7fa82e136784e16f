import Foundation
import Testing
import FinchModels
import FinchTensor

/// `quantize="nf4"` at load converts a projection as one tensor: NF4's double quantization groups
/// block scales across rows and takes one mean per tensor, as bitsandbytes does over the flattened
/// weight, so a row-at-a-time conversion (the GGUF formats' path) would store other scales.
@Test func nf4ConversionQuantizesTheWholeTensor() throws {
    var rng = SplitMix64(seed: 5)
    let rows = 40, cols = 512    // 320 blocks: one full group of 256 scales and a partial one
    let values = (0..<(rows * cols)).map { _ in (rng.nextFloat() * 2 - 1) * 0.05 }
    let t = try Tensor(values, shape: [rows, cols])
    let converted = try ModelLoader.convertTensor(t, to: .nf4)
    #expect(converted.dtype == .nf4 && converted.shape == [rows, cols])
    var whole = [UInt8](repeating: 0, count: DType.nf4.byteCount(elements: values.count)!)
    try values.withUnsafeBufferPointer { src in
        try whole.withUnsafeMutableBytes { try quantize(.nf4, src.baseAddress!, into: $0.baseAddress!, count: values.count) }
    }
    let stored = [UInt8](UnsafeRawBufferPointer(start: converted.rawBytes, count: whole.count))
    #expect(stored == whole)
    // Decoded through the engine's generic path (what products on the CPU read).
    let decoded = try converted.moved(to: .cpu, dtype: .f32).toArray()
    var worst: Float = 0
    for (a, b) in zip(decoded, values) { worst = max(worst, abs(a - b)) }
    #expect(worst < 0.05 * 0.15 + 1e-3, "largest error \(worst)")
}
