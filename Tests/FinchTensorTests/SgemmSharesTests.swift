import CFinchKernels
import Foundation
import Testing
@testable import FinchTensor

/// How the threaded products cut C over their threads (CPUBackend.forEachShare / shareGrid): one or two threads keep
/// the side split they always had; more threads take a grid where whole register tiles leave a side split uneven;
/// every element of C belongs to exactly one share, cut at whole 12-row / 32-column tiles; and a product run through
/// a 16-thread grid matches the f64 reference (tolerance: f32 accumulation, 1e-5 of the sum of |terms|).
@Suite struct SgemmSharesTests {
    /// SmolLM2's training products (m × n × k): projections, their input gradients, the LM head's logits.
    static let trainingShapes = [(1024, 1536, 576), (1024, 576, 1536), (1024, 576, 576), (1024, 192, 576), (510, 49152, 576), (256, 576, 576)]

    @Test func oneOrTwoThreadsKeepTheSideSplit() {
        for (m, n, k) in Self.trainingShapes {
            for prepacked in [false, true] {
                for threads in [1, 2] {
                    for splitColumns in [false, true] {
                        let g = CPUBackend.shareGrid(m: m, n: n, k: k, threads: threads, prepacked: prepacked, splitColumns: splitColumns)
                        let expected = splitColumns ? (1, threads) : (threads, 1)
                        #expect(g.rows == expected.0 && g.cols == expected.1, "\(m)×\(n)×\(k) on \(threads): \(g)")
                    }
                }
            }
        }
    }

    /// 1024 rows are 86 tiles of 12: on 16 threads a row split gives some threads 6 and the average is 5⅓, so all
    /// wait for the 6 (89 %). 8 × 2 shares are 11 row tiles × 9 column tiles each (1024 × 576: 97 %).
    @Test func sixteenThreadsTakeAGridWhereRowTilesDoNotDivide() {
        let g = CPUBackend.shareGrid(m: 1024, n: 576, k: 576, threads: 16, prepacked: true, splitColumns: false)
        #expect(g.rows == 8 && g.cols == 2)
        // 96 rows (8 tiles) divide evenly over 8 threads: the side split stands.
        let even = CPUBackend.shareGrid(m: 96, n: 1536, k: 576, threads: 8, prepacked: true, splitColumns: false)
        #expect(even.rows == 8 && even.cols == 1)
        // A wide product split by columns, 1536 columns = 48 tiles on 16 threads: even, so no grid.
        let wide = CPUBackend.shareGrid(m: 510, n: 49152, k: 576, threads: 16, prepacked: true, splitColumns: true)
        #expect(wide.rows == 1 && wide.cols == 16)
        // No share may be narrow (≤ 64 columns or ≤ 16 rows): 1024 × 192 on 16 threads may cut columns in two at most.
        let kv = CPUBackend.shareGrid(m: 1024, n: 192, k: 576, threads: 16, prepacked: true, splitColumns: false)
        #expect(kv.cols <= 2 && kv.rows * kv.cols <= 16)
    }

    @Test(arguments: [2, 3, 5, 8, 12, 16, 64])
    func sharesCoverCOnceAtWholeTiles(threads: Int) {
        let shapes = Self.trainingShapes + [(301, 410, 30), (13, 5000, 64), (5000, 70, 100), (12, 32, 8), (1, 1, 1)]
        for (m, n, k) in shapes {
            for prepacked in [false, true] {
                let lock = NSLock()
                var shares: [(Int, Int, Int, Int)] = []
                CPUBackend.forEachShare(m: m, n: n, k: k, threads: threads, prepacked: prepacked) { m0, m1, n0, n1 in
                    lock.lock(); shares.append((m0, m1, n0, n1)); lock.unlock()
                }
                #expect(shares.count <= threads)
                var area = 0
                for (m0, m1, n0, n1) in shares {
                    #expect(m0 % 12 == 0 && n0 % 32 == 0 && m0 <= m1 && m1 <= m && n0 <= n1 && n1 <= n, "\(m)×\(n) on \(threads): \(shares)")
                    area += (m1 - m0) * (n1 - n0)
                    for (p0, p1, q0, q1) in shares where (p0, p1, q0, q1) != (m0, m1, n0, n1) {
                        let overlaps = max(m0, p0) < min(m1, p1) && max(n0, q0) < min(n1, q1)
                        #expect(!overlaps, "\(m)×\(n) on \(threads): \(shares)")
                    }
                }
                #expect(area == m * n, "\(m)×\(n) on \(threads): \(shares)")
            }
        }
    }

    /// A ragged product on a 16-thread grid (more threads than this machine has cores is fine: the pool starts them),
    /// unpacked and with B pre-packed, at every packed level.
    @Test(arguments: CPUISA.runnable.filter { $0 != .scalar })
    func aGridProductMatchesReference(level: CPUISA) {
        let (m, n, k) = (410, 301, 30), threads = 16
        let g = CPUBackend.shareGrid(m: m, n: n, k: k, threads: threads, prepacked: false, splitColumns: n >= m)
        #expect(g.rows > 1 && g.cols > 1, "\(g)")
        var rng = TestRNG(7)
        let a = (0..<(m * k)).map { _ in Float(rng.uniform()) }, b = (0..<(n * k)).map { _ in Float(rng.uniform()) }
        CPUISA.with(level) {
            let lv = Int32(level.rawValue)
            var plain = [Float](repeating: .nan, count: m * n), packedC = plain
            var packed = [Float](repeating: .nan, count: finch_sgemm_packed_floats(lv, n, k) + 16)
            packed.withUnsafeMutableBufferPointer { pp in
                let aligned = UnsafeMutableRawPointer(pp.baseAddress!).alignedUp(toMultipleOf: 64).assumingMemoryBound(to: Float.self)
                #expect(finch_sgemm_pack_b(lv, 1, n, k, b, k, aligned) == 0)
                plain.withUnsafeMutableBufferPointer { cp in
                    CPUBackend.forEachShare(m: m, n: n, k: k, threads: threads) { m0, m1, n0, n1 in
                        finch_sgemm_tile(0, 1, m, n, k, 1, a, k, b, k, 0, cp.baseAddress!, n, m0, m1, n0, n1)
                    }
                }
                packedC.withUnsafeMutableBufferPointer { cp in
                    CPUBackend.forEachShare(m: m, n: n, k: k, threads: threads, prepacked: true) { m0, m1, n0, n1 in
                        let rc = finch_sgemm_packed_tile(lv, 0, m, n, k, 1, a, k, aligned, 0, 0, 0, 1, nil, 1, nil, 1, 0,
                                                         cp.baseAddress!, n, m0, m1, n0, n1)
                        #expect(rc == 0)
                    }
                }
            }
            var bad = 0
            for i in 0..<m {
                for j in 0..<n {
                    var ref = 0.0, mag = 0.0
                    for p in 0..<k {
                        let t = Double(a[i * k + p]) * Double(b[j * k + p])
                        ref += t
                        mag += abs(t)
                    }
                    for got in [plain[i * n + j], packedC[i * n + j]] where !(abs(Double(got) - ref) <= 1e-5 * mag + 1e-30) {
                        bad += 1
                        if bad < 5 { Issue.record("\(level) [\(i),\(j)]: \(got) vs \(ref)") }
                    }
                }
            }
            #expect(bad == 0)
        }
    }
}
