// y = W·x for decode, reading quantized weights directly (llama.cpp's way): x is quantized once to
// 8-bit blocks (`QuantizedVector`), then each GGUF weight row is dotted block by block in integers by
// the C kernels in CFinchKernels (AVX-512 VNNI, AVX2 or the scalar reference, per `CPUISA.active`). Rows are split
// into `ThreadBudget.count` ranges run on the thread pool (`parallelPerform`).
//
// Fast paths: Q4_0, Q4_1, Q8_0, Q4_K, Q6_K. Every other storage type works through dequantize-row + f32 dot.
// Accuracy: the result differs from dequantize(W)·x only by quantizing x — per block at most
// Σ|w_j| · d_x / 2 with d_x = max|x_block| / 127 — plus f32 rounding.
import CFinchKernels
import Dispatch

public enum QuantMatVecError: Error, Equatable, CustomStringConvertible {
    case notWholeBlocks(cols: Int, dtype: DType)
    case vectorTooShort(cols: Int, capacity: Int)

    public var description: String {
        switch self {
        case let .notWholeBlocks(cols, dtype): return "matvec: \(cols) columns is not a whole number of \(dtype) blocks of \(max(32, dtype.blockSize))"
        case let .vectorTooShort(cols, capacity): return "matvec: vector of \(cols) values does not fit a buffer of \(capacity)"
        }
    }
}

/// The activation vector quantized to 8-bit blocks of 32 (reusable: no allocation per token).
public final class QuantizedVector: @unchecked Sendable {
    public let capacity: Int
    public private(set) var cols = 0
    @usableFromInline let blocks: UnsafeMutablePointer<finch_q8x_block>
    /// The f32 values too, for storage types without an integer kernel.
    @usableFromInline let values: UnsafeMutablePointer<Float>

    public init(capacity: Int) {
        self.capacity = max(32, (capacity + 31) / 32 * 32)
        blocks = .allocate(capacity: self.capacity / 32)
        values = .allocate(capacity: self.capacity)
    }

    deinit {
        blocks.deallocate()
        values.deallocate()
    }

    /// Quantizes `cols` values (a multiple of 32): d = max|x| / 127, q = round(x / d).
    public func quantize(_ x: UnsafePointer<Float>, cols: Int) throws {
        guard cols % 32 == 0 else { throw QuantMatVecError.notWholeBlocks(cols: cols, dtype: .q8_0) }
        guard cols <= capacity else { throw QuantMatVecError.vectorTooShort(cols: cols, capacity: capacity) }
        finch_quantize_q8x(x, blocks, cols)
        values.update(from: x, count: cols)
        self.cols = cols
    }

    /// Block b's scale and values (for tests).
    public func block(_ b: Int) -> (d: Float, s: Float, qs: [Int8]) {
        let blk = blocks[b]
        return (blk.d, blk.s, withUnsafeBytes(of: blk.qs) { Array($0.bindMemory(to: Int8.self)) })
    }
}

public enum QuantMatVec {
    /// `.automatic` follows `CPUISA.active`; the others name one implementation (falling back to the next
    /// lower one on CPUs without it).
    public enum Kernel: Sendable, CaseIterable { case automatic, scalar, avx2, avx512 }

    /// Whether the AVX2 kernels run on this CPU (else `.avx2` falls back to the scalar ones).
    public static var hasAVX2: Bool { finch_quant_has_avx2() != 0 }

    /// Whether `dtype` has an integer kernel (others use dequantize-row + dot).
    public static func hasKernel(_ dtype: DType) -> Bool { [.q4_0, .q4_1, .q8_0, .q4_K, .q6_K].contains(dtype) }

    /// y[0..<rows] = W·x for a row-major `rows × cols` matrix stored as `dtype` at `weights`.
    public static func multiply(weights: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int,
                                x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, kernel: Kernel = .automatic) throws {
        let v = QuantizedVector(capacity: cols)
        try v.quantize(x, cols: cols)
        try multiply(weights: weights, dtype: dtype, rows: rows, cols: cols, x: v, y: y, kernel: kernel)
    }

    /// Same with x already quantized (quantize once, multiply by Q, K and V).
    public static func multiply(weights: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int,
                                x: QuantizedVector, y: UnsafeMutablePointer<Float>, kernel: Kernel = .automatic) throws {
        guard cols % 32 == 0, cols % dtype.blockSize == 0 else { throw QuantMatVecError.notWholeBlocks(cols: cols, dtype: dtype) }
        guard cols == x.cols else { throw QuantMatVecError.vectorTooShort(cols: cols, capacity: x.cols) }
        guard rows > 0 else { return }
        typealias Fn = @convention(c) (UnsafeRawPointer?, UnsafePointer<finch_q8x_block>?, UnsafeMutablePointer<Float>?, Int, Int, Int) -> Void
        let fn: Fn?
        switch (dtype, kernel) {
        case (.q4_0, .scalar): fn = finch_matvec_q4_0_scalar
        case (.q4_0, .avx2): fn = finch_matvec_q4_0_avx2
        case (.q4_0, .avx512): fn = finch_matvec_q4_0_avx512
        case (.q4_0, .automatic): fn = finch_matvec_q4_0
        case (.q4_1, .scalar): fn = finch_matvec_q4_1_scalar
        case (.q4_1, .avx2): fn = finch_matvec_q4_1_avx2
        case (.q4_1, .avx512): fn = finch_matvec_q4_1_avx512
        case (.q4_1, .automatic): fn = finch_matvec_q4_1
        case (.q8_0, .scalar): fn = finch_matvec_q8_0_scalar
        case (.q8_0, .avx2): fn = finch_matvec_q8_0_avx2
        case (.q8_0, .avx512): fn = finch_matvec_q8_0_avx512
        case (.q8_0, .automatic): fn = finch_matvec_q8_0
        case (.q4_K, .scalar): fn = finch_matvec_q4_K_scalar
        case (.q4_K, _): fn = finch_matvec_q4_K_avx2
        case (.q6_K, .scalar): fn = finch_matvec_q6_K_scalar
        case (.q6_K, _): fn = finch_matvec_q6_K_avx2
        default: fn = nil
        }
        let chunks = max(1, min(ThreadBudget.count, rows / 64))
        let blocks = UnsafePointer(x.blocks)
        let xs = UnsafePointer(x.values)
        let rowBytes = dtype.byteCount(elements: cols)!
        parallelPerform(chunks) { c in
            let begin = rows * c / chunks, end = rows * (c + 1) / chunks
            if let fn {
                fn(weights, blocks, y, begin, end, cols)
                return
            }
            let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { row.deallocate() }
            for r in begin..<end {
                dequantize(dtype, weights + r * rowBytes, into: row, count: cols)
                y[r] = dot(row, xs, cols)
            }
        }
    }

    /// Σ a[j]·b[j] with 8-wide vector accumulators (cols is a multiple of 32).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let va = UnsafeRawPointer(a), vb = UnsafeRawPointer(b)
        var j = 0
        while j < n {
            acc0 += va.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) * vb.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
            acc1 += va.loadUnaligned(fromByteOffset: 4 * (j + 8), as: SIMD8<Float>.self) * vb.loadUnaligned(fromByteOffset: 4 * (j + 8), as: SIMD8<Float>.self)
            acc2 += va.loadUnaligned(fromByteOffset: 4 * (j + 16), as: SIMD8<Float>.self) * vb.loadUnaligned(fromByteOffset: 4 * (j + 16), as: SIMD8<Float>.self)
            acc3 += va.loadUnaligned(fromByteOffset: 4 * (j + 24), as: SIMD8<Float>.self) * vb.loadUnaligned(fromByteOffset: 4 * (j + 24), as: SIMD8<Float>.self)
            j += 32
        }
        return ((acc0 + acc1) + (acc2 + acc3)).sum()
    }
}
