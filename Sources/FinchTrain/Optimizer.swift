import Foundation
import FinchTensor

/// Updates parameters from their accumulated gradients. State is per parameter, in order.
public protocol Optimizer: AnyObject {
    var stepCount: Int { get }
    func step(_ params: [Tensor], lr: Float)
    /// State tensors by name, for checkpoints.
    func state() -> [String: [Float]]
    /// Replaces the state with `state` (as `state()` names it), copied straight into tensors on the
    /// devices of `params`; throws, changing nothing, when a tensor it needs is missing.
    func load(state: [String: UnsafeBufferPointer<Float>], stepCount: Int, params: [Tensor]) throws
}

extension Optimizer {
    /// The tensors `prefix.0`, `prefix.1`, … of `state`, one per parameter, each on its parameter's device.
    func restored(_ prefix: String, from state: [String: UnsafeBufferPointer<Float>], params: [Tensor]) throws -> [Tensor] {
        try params.enumerated().map { i, p in
            guard let values = state["\(prefix).\(i)"] else { throw TrainError.checkpoint("optimizer state \(prefix).\(i) missing") }
            let t = Tensor(uninitialized: [values.count], device: p.device)
            try t.assign(values)
            return t
        }
    }
}

/// AdamW as PyTorch implements it (decoupled weight decay applied before the moment update;
/// bias corrections folded into the step size and the denominator).
public final class AdamW: Optimizer {
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var stepCount = 0
    var m: [Tensor] = []
    var v: [Tensor] = []

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    public func step(_ params: [Tensor], lr: Float) {
        if m.isEmpty {
            m = params.map { Tensor.zeros($0.shape, device: $0.device) }
            v = params.map { Tensor.zeros($0.shape, device: $0.device) }
        }
        stepCount += 1
        let bc1 = 1 - powf(beta1, Float(stepCount))
        let bc2 = 1 - powf(beta2, Float(stepCount))
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        let decay = 1 - lr * weightDecay
        let h = AdamWStep(beta1: beta1, beta2: beta2, eps: eps, stepSize: stepSize, bc2Sqrt: bc2Sqrt, decay: decay)
        var work: [AdamWTensors] = []
        for (i, p) in params.enumerated() {
            guard let g = p.grad else { continue }
            // State restored from a checkpoint arrives on the host.
            if m[i].device != p.device, let mm = try? m[i].moved(to: p.device), let vv = try? v[i].moved(to: p.device) { m[i] = mm; v[i] = vv }
            work.append(AdamWTensors(param: p, grad: g, m: m[i], v: v[i]))
        }
        // One call per device: the CPU runs an adapter's hundreds of small tensors as one parallel pass.
        for group in groupedByDevice(work, \.param) { group[0].param.backend.adamwStep(group, h) }
    }

    public func state() -> [String: [Float]] {
        var s: [String: [Float]] = [:]
        for (i, t) in m.enumerated() { s["m.\(i)"] = t.toArray() }
        for (i, t) in v.enumerated() { s["v.\(i)"] = t.toArray() }
        return s
    }

    public func load(state: [String: UnsafeBufferPointer<Float>], stepCount: Int, params: [Tensor]) throws {
        // A checkpoint taken before the first step holds no state: the first step makes it.
        let empty = state.isEmpty
        let newM = empty ? [] : try restored("m", from: state, params: params)
        let newV = empty ? [] : try restored("v", from: state, params: params)
        (m, v, self.stepCount) = (newM, newV, stepCount)
    }
}

/// Plain SGD, with optional momentum and (coupled, as PyTorch's SGD) weight decay.
public final class SGD: Optimizer {
    public let momentum: Float, weightDecay: Float
    public private(set) var stepCount = 0
    var buffers: [Tensor] = []

    public init(momentum: Float = 0, weightDecay: Float = 0) {
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public func step(_ params: [Tensor], lr: Float) {
        stepCount += 1
        if momentum != 0 && buffers.isEmpty { buffers = params.map { Tensor.zeros($0.shape, device: $0.device) } }
        for (i, p) in params.enumerated() {
            guard let g = p.grad else { continue }
            if momentum != 0 && buffers[i].device != p.device, let b = try? buffers[i].moved(to: p.device) { buffers[i] = b }
            p.backend.sgdStep(param: p, grad: g, buffer: momentum != 0 ? buffers[i] : nil, lr: lr,
                              momentum: momentum, weightDecay: weightDecay, first: stepCount == 1)
        }
    }

    public func state() -> [String: [Float]] {
        var s: [String: [Float]] = [:]
        for (i, t) in buffers.enumerated() { s["momentum.\(i)"] = t.toArray() }
        return s
    }

    public func load(state: [String: UnsafeBufferPointer<Float>], stepCount: Int, params: [Tensor]) throws {
        buffers = state.isEmpty ? [] : try restored("momentum", from: state, params: params)
        self.stepCount = stepCount
    }
}

/// Learning-rate schedules as transformers defines them (`get_*_schedule_with_warmup`): the
/// multiplier for optimizer step `step` (0-based), so the first warm-up step has lr 0.
public enum Schedule: String, Sendable, CaseIterable {
    case linear, cosine, constant

    public func multiplier(step: Int, warmup: Int, total: Int) -> Float {
        if step < warmup { return Float(step) / Float(max(1, warmup)) }
        switch self {
        case .constant: return 1
        case .linear: return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case .cosine:
            let progress = Float(step - warmup) / Float(max(1, total - warmup))
            return max(0, 0.5 * (1 + cosf(Float.pi * progress)))
        }
    }
}

/// Scales gradients so their global L2 norm is at most `maxNorm` (PyTorch's clip_grad_norm_,
/// including its 1e-6). Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float?) -> Float {
    var total: Double = 0
    for grads in groupedByDevice(params.compactMap(\.grad), \.self) { total += grads[0].backend.sumSquares(grads) }
    let norm = Float(total.squareRoot())
    if let maxNorm, norm.isFinite {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 {
            for p in params { if let g = p.grad { g.backend.elementwise(.scale(coef), g, nil, out: g) } }
        }
    }
    return norm
}

/// `items` in groups of one device each (by `tensor`'s), in order of first appearance.
func groupedByDevice<T>(_ items: [T], _ tensor: KeyPath<T, Tensor>) -> [[T]] {
    var groups: [[T]] = []
    var index: [Device: Int] = [:]
    for item in items {
        let device = item[keyPath: tensor].device
        if let i = index[device] { groups[i].append(item) } else { index[device] = groups.count; groups.append([item]) }
    }
    return groups
}

public enum TrainError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    case nonFiniteLoss(step: Int, value: Float)
    case checkpoint(String)
    case noData(String)
    /// A device failed during `phase` of step `step`; the adapter holds the values of step `kept`
    /// (in host memory when `onHost`: the device's context was lost).
    case device(step: Int, phase: String, kept: Int, error: DeviceError, hint: String, onHost: Bool)

    public var description: String {
        switch self {
        case let .invalidArgument(m): return m
        case let .nonFiniteLoss(step, value):
            return "training stopped at step \(step): the loss became \(value). The adapter keeps the weights of the last good step; try a lower lr or max_grad_norm=1.0"
        case let .checkpoint(m): return "checkpoint: \(m)"
        case let .noData(m): return m
        case let .device(step, phase, kept, error, hint, onHost):
            let adapter = kept < 0 ? "the adapter on \(error.device) is lost with it"
                : kept == 0 ? "the adapter keeps the values it had before train()" : "the adapter keeps the values of step \(kept)"
            let host = onHost ? " (copied to host memory: save it with save(model, \"adapter\"), then restart finch)" : ""
            return "training stopped at step \(step), in \(phase): \(error). \(adapter.prefix(1).uppercased() + adapter.dropFirst())\(host); \(hint)"
        }
    }
}
