/// How a tensor's elements are stored. Computation is always f32; frozen weights may stay in
/// their stored precision (16-bit floats or a GGUF block-quantized format) and are converted at use.
///
/// One row per format in the traits table below (the ggml way): elements per block and bytes per
/// block. Block formats store `blockSize` consecutive elements of a row in `bytesPerBlock` bytes;
/// a row's length must be a multiple of `blockSize`.
public enum DType: String, CaseIterable, Sendable, CustomStringConvertible {
    case f32, f16, bf16
    case q4_0, q4_1, q5_0, q8_0
    case q4_K, q5_K, q6_K
    /// bitsandbytes' NF4 (QLoRA), for `quantize="nf4"`; not a GGUF type.
    case nf4

    /// Elements per block (1 for plain floats).
    @inlinable public var blockSize: Int { traits.blockSize }
    /// Bytes per block.
    @inlinable public var bytesPerBlock: Int { traits.bytesPerBlock }
    /// True for GGUF block-quantized formats.
    public var isQuantized: Bool { blockSize > 1 }
    /// The GGUF `ggml_type` id (`notGGUF` for nf4).
    public var ggmlType: UInt32 { traits.ggmlType }
    /// True for the types a GGUF file can hold.
    public var isGGUFType: Bool { ggmlType != DType.notGGUF }
    @usableFromInline static let notGGUF = UInt32.max

    public var description: String { rawValue }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    public init?(ggmlType: UInt32) {
        guard ggmlType != DType.notGGUF, let match = DType.allCases.first(where: { $0.ggmlType == ggmlType }) else { return nil }
        self = match
    }

    @usableFromInline struct Traits {
        @usableFromInline let blockSize: Int, bytesPerBlock: Int, ggmlType: UInt32
        @inlinable init(blockSize: Int, bytesPerBlock: Int, ggmlType: UInt32) {
            self.blockSize = blockSize; self.bytesPerBlock = bytesPerBlock; self.ggmlType = ggmlType
        }
    }

    /// The traits table: (elements per block, bytes per block, ggml type id). A switch rather than a
    /// dictionary so that a block decoder's sizes are constants where it is inlined.
    @inlinable var traits: Traits {
        switch self {
        case .f32: return Traits(blockSize: 1, bytesPerBlock: 4, ggmlType: 0)
        case .f16: return Traits(blockSize: 1, bytesPerBlock: 2, ggmlType: 1)
        case .bf16: return Traits(blockSize: 1, bytesPerBlock: 2, ggmlType: 30)
        case .q4_0: return Traits(blockSize: 32, bytesPerBlock: 18, ggmlType: 2)
        case .q4_1: return Traits(blockSize: 32, bytesPerBlock: 20, ggmlType: 3)
        case .q5_0: return Traits(blockSize: 32, bytesPerBlock: 22, ggmlType: 6)
        case .q8_0: return Traits(blockSize: 32, bytesPerBlock: 34, ggmlType: 8)
        case .q4_K: return Traits(blockSize: 256, bytesPerBlock: 144, ggmlType: 12)
        case .q5_K: return Traits(blockSize: 256, bytesPerBlock: 176, ggmlType: 13)
        case .q6_K: return Traits(blockSize: 256, bytesPerBlock: 210, ggmlType: 14)
        case .nf4: return Traits(blockSize: 64, bytesPerBlock: 36, ggmlType: DType.notGGUF)
        }
    }
}
