import CBLAS
import Dispatch
import Foundation

/// One thread budget shared by OpenBLAS and Finch's own Dispatch-parallel loops.
///
/// BLAS calls and parallel loops never run at the same time (ops run one after another), so both
/// use the whole budget. `FINCH_THREADS` overrides the default (the number of active cores).
public enum ThreadBudget {
    public private(set) static var count: Int = {
        let n = ProcessInfo.processInfo.environment["FINCH_THREADS"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        let threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
        return threads
    }()

    public static func set(_ n: Int) {
        count = max(1, n)
        openblas_set_num_threads(Int32(count))
    }
}
