import CBLAS
import CFinchKernels
import Dispatch
import Foundation

/// One thread budget shared by OpenBLAS and Finch's own parallel loops (its thread pool, `parallelPerform`).
///
/// BLAS calls and parallel loops never run at the same time (ops run one after another), so both
/// use the whole budget. `FINCH_THREADS` overrides the default (the number of active cores).
public enum ThreadBudget {
    nonisolated(unsafe) public private(set) static var count: Int = {
        let n = ProcessInfo.processInfo.environment["FINCH_THREADS"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        let threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
        return threads
    }()

    /// Sets the budget for BLAS and the parallel loops.
    public static func set(_ n: Int) {
        count = max(1, n)
        openblas_set_num_threads(Int32(count))
    }
}

/// Runs `body` over `0..<n` split into at most `ThreadBudget.count` contiguous ranges of at least
/// `minChunk` items. Small problems run inline on the calling thread.
@inlinable
public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    // After a failed allocation the step's results are thrown away: skip the work (see `Backend`).
    guard n > 0, !DeviceErrors.isPending else { return }
    let threads = ThreadBudget.count
    let chunks = max(1, min(threads, n / max(1, minChunk)))
    if chunks == 1 {
        body(0..<n)
        return
    }
    parallelPerform(chunks) { c in
        let start = n * c / chunks
        let end = n * (c + 1) / chunks
        if start < end { body(start..<end) }
    }
}

/// Runs `body(0)` … `body(n − 1)` on the calling thread and up to `threads` − 1 workers of Finch's pool
/// (CFinchKernels/pool.c), each index once, and returns when all are done. The pool's workers spin for a
/// moment between jobs, so back-to-back ops (about 1,700 in a training step) do not each wait for a thread
/// to wake, as `DispatchQueue.concurrentPerform` does. Tasks run at the caller's ISA level. A call from
/// inside a task, or while another thread's job runs, runs inline. `FINCH_POOL=dispatch` uses
/// `concurrentPerform` instead (for comparisons).
public func parallelPerform(_ n: Int, threads: Int = ThreadBudget.count, _ body: (Int) -> Void) {
    guard n > 1, threads > 1 else {
        for i in 0..<max(0, n) { body(i) }
        return
    }
    if ThreadPool.usesDispatch {
        let level = finch_isa_active()  // Dispatch's threads keep the process level unless told
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let override = finch_isa_active() != level
            if override { finch_isa_set_thread(level) }
            body(i)
            if override { finch_isa_set_thread(-1) }
        }
        return
    }
    withoutActuallyEscaping(body) { body in
        var task = body
        withUnsafeMutablePointer(to: &task) { context in
            finch_pool_run(n, Int32(min(threads, Int(Int32.max))), { context, index in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
            }, context)
        }
    }
}

public enum ThreadPool {
    static let usesDispatch = ProcessInfo.processInfo.environment["FINCH_POOL"] == "dispatch"
    /// Workers the pool has started.
    public static var workers: Int { Int(finch_pool_workers()) }
}
