import CBLAS
import Foundation

/// The CPU backend: OpenBLAS for matrix products, Dispatch-parallel loops over unsafe buffers for
/// everything else. Kernels for each op live in `Ops/` beside the op's autograd wiring.
public final class CPUBackend: Backend {
    public let device = Device.cpu
    /// Frozen weights packed for the products of a training run (PackedWeights.swift).
    let packedWeights = PackedWeights()

    public func allocate(count: Int) -> TensorStorage {
        TensorStorage(pooledBytes: count * MemoryLayout<Float>.stride)
    }

    public func allocate(bytes: Int, dtype: DType) -> TensorStorage {
        TensorStorage(pooledBytes: bytes, dtype: dtype)
    }

    public func upload(_ bytes: UnsafeRawPointer, byteCount: Int, into dst: Tensor) {
        dst.rawBytes.copyMemory(from: bytes, byteCount: byteCount)
    }

    public func download(_ src: Tensor, into bytes: UnsafeMutableRawPointer, byteCount: Int) {
        bytes.copyMemory(from: src.rawBytes, byteCount: byteCount)
    }

    public func synchronize() {}

    public var memoryCapacity: Int {
        if let s = ProcessInfo.processInfo.environment["FINCH_MEMORY_LIMIT"], let n = Int(s) { return n }
        return Int(ProcessInfo.processInfo.physicalMemory)
    }
    public var peakBytesInUse: Int { BufferPool.shared.peakBytesInUse }
    public func resetPeak() { BufferPool.shared.resetPeak() }

    public func adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, _ h: AdamWStep) {
        let pp = param.data, pg = grad.data, pm = m.data, pv = v.data
        parallelFor(param.count, minChunk: 1 << 14) { r in
            for j in r {
                pp[j] *= h.decay
                pm[j] = h.beta1 * pm[j] + (1 - h.beta1) * pg[j]
                pv[j] = h.beta2 * pv[j] + (1 - h.beta2) * pg[j] * pg[j]
                let denom = pv[j].squareRoot() / h.bc2Sqrt + h.eps
                pp[j] -= h.stepSize * pm[j] / denom
            }
        }
    }

    public func sgdStep(param: Tensor, grad: Tensor, buffer: Tensor?, lr: Float, momentum mu: Float, weightDecay wd: Float, first: Bool) {
        let pp = param.data, pg = grad.data
        let pb = buffer?.data
        parallelFor(param.count, minChunk: 1 << 14) { r in
            for j in r {
                var d = pg[j] + wd * pp[j]
                if let pb {
                    pb[j] = first ? d : mu * pb[j] + d
                    d = pb[j]
                }
                pp[j] -= lr * d
            }
        }
    }

    public func fill(_ x: Tensor, _ value: Float) {
        Profiler.measure(CPUBackend.profileShapes ? "fill \(x.shape)" : "fill") {
        let p = x.data
        parallelFor(x.count, minChunk: 1 << 16) { r in
            (p + r.lowerBound).update(repeating: value, count: r.count)
        }
    }
    }

    public func copy(_ src: Tensor, into dst: Tensor) {
        Profiler.measure(CPUBackend.profileShapes ? "copy \(dst.shape)" : "copy") {
        let n = dst.count
        if src.dtype == .f32 {
            let s = src.data, d = dst.data
            parallelFor(n, minChunk: 1 << 16) { r in
                (d + r.lowerBound).update(from: s + r.lowerBound, count: r.count)
            }
        } else {
            dequantizeRows(src, rows: 0..<src.rows, into: dst.data)
        }
    }
    }

    public func sumSquares(_ x: Tensor) -> Double {
        let p = x.data
        let n = x.count
        let chunks = max(1, min(ThreadBudget.count, n / (1 << 14)))
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let outBase = out.baseAddress!
            parallelFor(chunks) { cr in
                for c in cr {
                    let start = n * c / chunks, end = n * (c + 1) / chunks
                    var acc: Float = 0
                    var total: Double = 0
                    var i = start
                    // Sum in f32 blocks, then in f64, so long vectors keep their precision.
                    while i < end {
                        let blockEnd = Swift.min(end, i + 4096)
                        acc = 0
                        while i < blockEnd { acc += p[i] * p[i]; i += 1 }
                        total += Double(acc)
                    }
                    outBase[c] = total
                }
            }
        }
        return partial.reduce(0, +)
    }

    /// Decodes whole rows of a (rows × cols) tensor stored in any dtype into f32 at `dst`.
    func dequantizeRows(_ t: Tensor, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let cols = t.cols
        let dtype = t.dtype
        let rowBytes = dtype.byteCount(elements: cols)!
        let base = UnsafeRawPointer(t.rawBytes)
        parallelFor(rows.count, minChunk: 8) { r in
            for i in r {
                dequantize(dtype, base + (rows.lowerBound + i) * rowBytes, into: dst + i * cols, count: cols)
            }
        }
    }
}

/// Runs `body(worker, range)` over `0..<n` split into at most `threads` contiguous ranges, with the
/// worker index (0 ..< threads) so each can use its own slice of scratch. One range runs inline.
func parallelChunks(_ n: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
    guard n > 0 else { return }
    let chunks = max(1, min(threads, n))
    if chunks == 1 {
        body(0, 0..<n)
        return
    }
    parallelPerform(chunks) { c in
        let start = n * c / chunks, end = n * (c + 1) / chunks
        if start < end { body(c, start..<end) }
    }
}
