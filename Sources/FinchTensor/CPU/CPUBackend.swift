import CBLAS
import CFinchKernels
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
        adamwStep([AdamWTensors(param: param, grad: grad, m: m, v: v)], h)
    }

    /// One parallel pass over all the tensors' elements end to end (finch_adamw_f32): an adapter's 420 tensors
    /// of 3–25 K elements each went one by one, most on one thread, in 14 ms a step of SmolLM2-135M.
    public func adamwStep(_ tensors: [AdamWTensors], _ h: AdamWStep) {
        let hyper = finch_adamw_hyper(beta1: h.beta1, beta2: h.beta2, eps: h.eps, step_size: h.stepSize,
                                      bc2_sqrt: h.bc2Sqrt, decay: h.decay)
        // One read-only copy of the scalars for every thread (an inout `&hyper` would be a write access per call).
        withUnsafePointer(to: hyper) { hp in
            forEachSpan(tensors.map(\.param.count)) { i, r, _ in
                let t = tensors[i]
                finch_adamw_f32(t.param.data + r.lowerBound, t.grad.data + r.lowerBound, t.m.data + r.lowerBound,
                                t.v.data + r.lowerBound, r.count, hp)
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

    public func sumSquares(_ x: Tensor) -> Double { sumSquares([x]) }

    /// Each thread sums its share of all the elements end to end (finch_sum_squares_f32: f32 lanes over blocks,
    /// f64 across them); the shares are added in order.
    public func sumSquares(_ xs: [Tensor]) -> Double {
        let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: ThreadBudget.count)
        defer { partial.deallocate() }
        partial.initialize(repeating: 0)
        forEachSpan(xs.map(\.count)) { i, r, worker in
            partial[worker] += finch_sum_squares_f32(xs[i].data + r.lowerBound, r.count)
        }
        return partial.reduce(0, +)
    }

    /// Runs `body(tensor, range, worker)` over the elements of tensors of `counts` elements laid end to end, split
    /// into one contiguous share per thread (none under 16 K elements): a share may span several tensors and a
    /// tensor several shares. Worker w's calls all run on one thread, in order.
    func forEachSpan(_ counts: [Int], _ body: (Int, Range<Int>, Int) -> Void) {
        let total = counts.reduce(0, +)
        guard total > 0, !DeviceErrors.isPending else { return }  // as parallelFor
        let shares = max(1, min(ThreadBudget.count, total / (1 << 14)))
        let starts = counts.reduce(into: [0]) { $0.append($0.last! + $1) }
        parallelPerform(shares) { w in
            let lo = total * w / shares, hi = total * (w + 1) / shares
            // The first tensor that ends past lo.
            var i = 0
            while i < counts.count && starts[i + 1] <= lo { i += 1 }
            while i < counts.count && starts[i] < hi {
                let r = max(lo, starts[i])..<min(hi, starts[i + 1])
                if !r.isEmpty { body(i, (r.lowerBound - starts[i])..<(r.upperBound - starts[i]), w) }
                i += 1
            }
        }
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
