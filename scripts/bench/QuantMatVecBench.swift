// Benchmark for QuantMatVec (not a test): GB/s of weight bytes for y = W·x on decode-sized matrices,
// beside a plain streaming read of the same bytes (the memory-bandwidth roof) measured in the same run.
// Built and run by scripts/bench/quant_matvec.sh.
import Dispatch
import Foundation

@main
struct QuantMatVecBench {
    static func time(_ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
        try body()  // warm up
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations { try body() }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(iterations))
        }
        return best
    }

    static func main() throws {
        print("threads: \(ThreadBudget.count)   AVX2 kernels: \(QuantMatVec.hasAVX2)")
        // Dequantize throughput (one thread): the engine's scratch path for frozen weights.
        print("dequantize 1536×576, one thread: dtype, GB/s of weight bytes, G floats/s")
        for dtype in DType.allCases where dtype != .f32 {
            let n = 1536 * 576
            let bytes = [UInt8](repeating: 0x11, count: dtype.byteCount(elements: n)!)
            var out = [Float](repeating: 0, count: n)
            let t = bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { o in time(50) { dequantize(dtype, b.baseAddress!, into: o.baseAddress!, count: n) } } }
            print("  \(dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0))  \(String(format: "%6.2f", Double(bytes.count) / t / 1e9))  \(String(format: "%6.2f", Double(n) / t / 1e9))")
        }
        print("matrix (rows×cols)  dtype  MB      kernel     µs/call   GB/s   | read roof GB/s")
        for (rows, cols) in [(1536, 576), (576, 1536), (49152, 576)] {
            for dtype in [DType.q4_1, .q4_0, .q8_0, .q4_K, .q6_K] where cols % dtype.blockSize == 0 {
                let n = rows * cols
                let x = (0..<cols).map { Float(sin(Double($0))) }
                var w = [UInt8](repeating: 0, count: dtype.byteCount(elements: n)!)
                if [.q4_K, .q6_K].contains(dtype) {
                    // No quantizer for K-quants: pseudo-random blocks with small finite scales.
                    for i in w.indices { w[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
                    for b in 0..<(w.count / dtype.bytesPerBlock) {
                        let o = b * dtype.bytesPerBlock + (dtype == .q6_K ? 208 : 0)
                        w[o] = 0; w[o + 1] = 0x20
                    }
                } else {
                    let wf = (0..<n).map { Float(sin(Double($0) * 0.37)) * 0.1 }
                    try wf.withUnsafeBufferPointer { s in try w.withUnsafeMutableBytes { try quantize(dtype, s.baseAddress!, into: $0.baseAddress!, count: n) } }
                }
                var y = [Float](repeating: 0, count: rows)
                let v = QuantizedVector(capacity: cols)
                let iters = max(1, 200_000_000 / w.count)
                // Roof: every thread sums its share of the same bytes as 64-bit words.
                let roof = w.withUnsafeBytes { ws -> Double in
                    let words = ws.count / 8
                    let p = ws.baseAddress!.assumingMemoryBound(to: UInt64.self)
                    let chunks = ThreadBudget.count
                    return time(iters) {
                        DispatchQueue.concurrentPerform(iterations: chunks) { c in
                            var s: UInt64 = 0
                            for i in (words * c / chunks)..<(words * (c + 1) / chunks) { s &+= p[i] }
                            if s == 42 { print("") }
                        }
                    }
                }
                for kernel in [QuantMatVec.Kernel.scalar, .avx2] {
                    let t = try w.withUnsafeBytes { ws in
                        try x.withUnsafeBufferPointer { xs in
                            try y.withUnsafeMutableBufferPointer { ys in
                                try time(iters) {
                                    try v.quantize(xs.baseAddress!, cols: cols)
                                    try QuantMatVec.multiply(weights: ws.baseAddress!, dtype: dtype, rows: rows, cols: cols, x: v, y: ys.baseAddress!, kernel: kernel)
                                }
                            }
                        }
                    }
                    let name = "\(rows)×\(cols)".padding(toLength: 18, withPad: " ", startingAt: 0)
                    print("\(name)  \(dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0))  \(String(format: "%6.2f", Double(w.count) / 1e6))  \(String(describing: kernel).padding(toLength: 9, withPad: " ", startingAt: 0))  \(String(format: "%8.1f", t * 1e6))  \(String(format: "%6.1f", Double(w.count) / t / 1e9))   | \(String(format: "%6.1f", Double(w.count) / roof / 1e9))")
                }
            }
        }
    }
}
