import CFinchKernels
import Dispatch
import Foundation
import Testing
@testable import FinchTensor

/// The pool behind every parallel loop (CFinchKernels/pool.c): each index exactly once, nested and
/// concurrent callers, many back-to-back jobs, and the caller's ISA level on the workers.
@Suite struct ThreadPoolTests {
    /// Counts how many times each index ran.
    final class Counts: @unchecked Sendable {
        let slots: UnsafeMutablePointer<Int>
        let n: Int
        init(_ n: Int) { self.n = n; slots = .allocate(capacity: max(1, n)); slots.initialize(repeating: 0, count: max(1, n)) }
        deinit { slots.deallocate() }
        var all: [Int] { Array(UnsafeBufferPointer(start: slots, count: n)) }
    }

    @Test(arguments: [0, 1, 2, 3, 7, 100])
    func everyIndexRunsOnce(n: Int) {
        for threads in [1, 2, 3, 4] {
            let counts = Counts(n)
            parallelPerform(n, threads: threads) { i in counts.slots[i] += 1 }
            #expect(counts.all == [Int](repeating: 1, count: n), "n \(n), threads \(threads)")
        }
    }

    @Test func manyJobsInARow() {
        let counts = Counts(3)
        for _ in 0..<20_000 { parallelPerform(3, threads: 2) { i in counts.slots[i] += 1 } }
        #expect(counts.all == [20_000, 20_000, 20_000])
    }

    /// A task that starts its own parallel loop gets it run inline, never waits on itself.
    @Test func nestedCallsRunInline() {
        let counts = Counts(16)
        parallelPerform(4, threads: 2) { outer in
            parallelPerform(4, threads: 2) { inner in counts.slots[outer * 4 + inner] += 1 }
        }
        #expect(counts.all == [Int](repeating: 1, count: 16))
    }

    /// Callers on several threads at once: one holds the pool, the others run inline; all finish.
    @Test func concurrentCallersAllFinish() {
        let callers = 4, jobs = 300
        let counts = Counts(callers * 5)
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for _ in 0..<jobs { parallelPerform(5, threads: 2) { i in counts.slots[c * 5 + i] += 1 } }
        }
        #expect(counts.all == [Int](repeating: jobs, count: callers * 5))
    }

    /// Every task runs at the calling thread's ISA level (a test's `CPUISA.with` override included).
    @Test func workersFollowTheCallersISALevel() {
        for level in CPUISA.runnable {
            let seen = Counts(64)
            CPUISA.with(level) {
                parallelPerform(64, threads: 2) { i in
                    seen.slots[i] = Int(finch_isa_active())
                    usleep(50)  // long enough for a worker to take some of the tasks
                }
            }
            #expect(seen.all == [Int](repeating: level.rawValue, count: 64), "\(level)")
        }
        if !ThreadPool.usesDispatch { #expect(ThreadPool.workers >= 1) }
    }
}
