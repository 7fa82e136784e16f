import CBLAS
import Dispatch
import Foundation

/// One thread budget shared by OpenBLAS and Finch's own Dispatch-parallel loops.
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
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let start = n * c / chunks
        let end = n * (c + 1) / chunks
        if start < end { body(start..<end) }
    }
}
