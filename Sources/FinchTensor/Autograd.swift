/// Reverse-mode automatic differentiation.
///
/// Each op that sees an input needing a gradient gives its output a `GradFn`: the inputs and a
/// closure that, given d(loss)/d(output), accumulates (`+=`) into each input's `grad`. `backward`
/// runs those closures in reverse topological order. Accumulation makes gradient accumulation over
/// micro-batches and shared weights (tied embeddings) right. Frozen tensors (`requiresGrad ==
/// false`, no history) never get gradient buffers, and ops skip computing gradients for them.
public final class GradFn {
    let inputs: [Tensor]
    let backward: (Tensor) -> Void

    init(inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record the graph. `noGrad` turns it off for inference and evaluation.
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isEnabled
        isEnabled = false
        defer { isEnabled = saved }
        return try body()
    }

    public static func withGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isEnabled
        isEnabled = true
        defer { isEnabled = saved }
        return try body()
    }
}

extension Tensor {
    /// True when a gradient must flow into this tensor (a trainable leaf, or computed from one).
    public var needsGrad: Bool { requiresGrad || gradFn != nil }

    /// grad += g (the first accumulation copies, so gradient buffers never alias).
    public func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            backend.elementwise(.add, existing, g, out: existing)
        } else {
            let copy = Tensor(uninitialized: shape, device: device)
            backend.copy(g, into: copy)
            grad = copy
        }
    }

    /// Propagates d(self)/d(inputs) from this tensor (a scalar, or given `seed` of the same shape)
    /// to every leaf that requires a gradient. Intermediate gradients are freed as soon as used.
    public func backward(seed: Tensor? = nil) throws {
        guard needsGrad else { throw TensorError.backward("the tensor does not depend on anything that requires a gradient") }
        if let seed {
            try requireSameShape("backward", self, seed)
            accumulateGrad(seed)
        } else {
            guard count == 1 else { throw TensorError.backward("call backward on a scalar or pass a seed gradient (shape \(shape))") }
            accumulateGrad(Tensor.full(shape, 1, device: device))
        }
        for node in topologicalOrder().reversed() {
            guard let fn = node.gradFn, let g = node.grad else { continue }
            fn.backward(g)
            if !node.requiresGrad { node.grad = nil }
        }
    }

    /// Nodes with history reachable from self, inputs before outputs (iterative DFS: deep graphs
    /// must not overflow the stack).
    func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, i) = stack.popLast() {
            let inputs = node.gradFn?.inputs ?? []
            if i < inputs.count {
                stack.append((node, i + 1))
                let child = inputs[i]
                if child.gradFn != nil, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(node)
            }
        }
        return order
    }

    /// Records `backward` as the way gradients leave `self` when grad mode is on and any input needs one.
    @discardableResult
    func record(_ inputs: [Tensor], _ backward: @escaping (Tensor) -> Void) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: { $0.needsGrad }) {
            gradFn = GradFn(inputs: inputs, backward: backward)
        }
        return self
    }
}

/// Gradient checkpointing: runs `body` without recording a graph and keeps only its inputs; in
/// backward it runs `body` again with recording on and backpropagates through that. Activation
/// memory then grows with the number of checkpointed blocks, not with what happens inside them.
public func checkpoint(_ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> Tensor) throws -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.needsGrad }) else { return try body(inputs) }
    let out = try GradMode.noGrad { try body(inputs) }
    let result = out.detached()
    return result.record(inputs) { dout in
        // Fresh leaves stand in for the inputs so the recomputed graph ends here.
        let proxies = inputs.map { t -> Tensor in
            let p = t.detached()
            p.requiresGrad = t.needsGrad
            return p
        }
        do {
            let recomputed = try GradMode.withGrad { try body(proxies) }
            if recomputed.needsGrad { try recomputed.backward(seed: dout) }
        } catch {
            // Recomputing the same function on the same inputs cannot fail where the forward did not.
            assertionFailure("checkpoint recompute failed: \(error)")
        }
        for (t, p) in zip(inputs, proxies) where t.needsGrad {
            if let g = p.grad { t.accumulateGrad(g) }
        }
    }
}
