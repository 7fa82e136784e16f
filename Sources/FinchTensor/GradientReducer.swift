import Foundation

// The seam for data parallelism (FinchTrain/DataParallel.swift uses it; FinchTrain's
// InProcessGroup and FinchCUDA's NCCLReducer implement it): between backward and the optimizer
// step, the gradients of every rank are summed, so every rank applies the same update.

/// Sums values over the ranks of a data-parallel run. Every rank calls the same methods in the
/// same order with tensors of the same shapes (a collective); each call returns with every rank's
/// inputs replaced by the sum.
public protocol GradientReducer: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// Replaces each tensor (f32, on this rank's device) by its sum over the ranks, in place.
    func allReduceSum(_ tensors: [Tensor]) throws
    /// The sums over the ranks of a few numbers (counts, loss sums; exact for integers below 2^53).
    func allReduceSum(_ values: [Double]) throws -> [Double]
    /// Wakes every rank waiting in (or later entering) a collective with an error: a rank that
    /// failed calls this so the others stop instead of waiting for it for ever.
    func abort(_ reason: String)
}

public enum DataParallelError: Error, CustomStringConvertible, Equatable {
    /// Another rank failed; this one stopped at its next collective.
    case aborted(rank: Int, reason: String)
    case invalidLaunch(String)
    case bootstrap(String)
    case nccl(call: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case let .aborted(rank, reason): return "data-parallel rank \(rank) stopped: \(reason)"
        case let .invalidLaunch(m): return m
        case let .bootstrap(m): return "data-parallel bootstrap: \(m)"
        case let .nccl(call, code, message): return "NCCL \(call) failed: \(message) (\(code))"
        }
    }
}
