import Foundation

/// Reverse-mode automatic differentiation.
///
/// A tensor that needs a gradient has a `GradNode`. Ops that see such an input give their output
/// a node whose `GradFn` lists the input nodes (the graph) and a closure that, given
/// d(loss)/d(output), accumulates (`+=`) into those nodes. The closure captures only the tensors
/// its backward formula reads (the saved activations), never the inputs themselves, so outputs
/// nobody saves are freed during the forward, and each node's saved tensors are freed as soon
/// as its backward has run. Accumulation makes gradient accumulation over micro-batches and shared
/// weights (tied embeddings) right. Frozen tensors have no node: no gradient buffers, and ops skip
/// their gradients.
public final class GradNode {
    public let shape: [Int]
    public let device: Device
    /// A trainable leaf (a parameter): its gradient is kept after backward.
    public let isLeaf: Bool
    public var grad: Tensor?
    var fn: GradFn?

    init(shape: [Int], device: Device, isLeaf: Bool, fn: GradFn? = nil) {
        self.shape = shape
        self.device = device
        self.isLeaf = isLeaf
        self.fn = fn
    }

    /// grad += g for a tensor its caller made for this gradient alone and drops afterwards: the
    /// first accumulation adopts it instead of copying.
    public func accumulate(fresh g: Tensor) {
        guard grad == nil, g.count == shape.reduce(1, *), g.device == device, g.dtype == .f32 else { return accumulate(g) }
        grad = g.shape == shape ? g : Tensor(shape: shape, storage: g.storage, offset: g.offset)
    }

    /// grad += a product that `write(buffer, beta)` computes with a GEMM: into a new buffer with
    /// β = 0 for the first gradient, straight into the existing one with β = 1 after that — the
    /// GEMM's β does the accumulation, with no separate add pass (x feeds q, k and v, and every
    /// residual branch).
    public func accumulateProduct(_ write: (_ buffer: Tensor, _ beta: Float) -> Void) {
        accumulateInPlace { buffer, accumulate in write(buffer, accumulate ? 1 : 0) }
    }

    /// grad += what a kernel writes in one pass: `write(buffer, accumulate)` fills a new buffer
    /// (accumulate false) for the first gradient and adds onto the existing one after that, so the
    /// residual stream's gradient (x feeds a norm and the residual add) takes no separate add pass
    /// and no fresh buffer.
    public func accumulateInPlace(_ write: (_ buffer: Tensor, _ accumulate: Bool) -> Void) {
        if let existing = grad { return write(existing, true) }
        let buffer = Tensor(uninitialized: shape, device: device)
        write(buffer, false)
        grad = buffer
    }

    /// grad += g (the first accumulation copies, so gradient buffers never alias).
    public func accumulate(_ g: Tensor) {
        if let existing = grad {
            existing.backend.elementwise(.add, existing, g, out: existing)
        } else {
            let copy = Tensor(uninitialized: shape, device: device)
            copy.backend.copy(g, into: copy)
            grad = copy
        }
    }
}

final class GradFn {
    let inputs: [GradNode]
    let backward: (Tensor) -> Void

    init(inputs: [GradNode], backward: @escaping (Tensor) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record the graph. `noGrad` turns it off for inference and evaluation. The flag is
/// per thread, so concurrent work (tests, a REPL evaluating while a trainer runs) cannot turn
/// recording off for each other.
public enum GradMode {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    private static let disabledMarker = UnsafeMutableRawPointer(bitPattern: 1)!

    public private(set) static var isEnabled: Bool {
        get { pthread_getspecific(key) == nil }
        set { pthread_setspecific(key, newValue ? nil : disabledMarker) }
    }

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
    /// Parameters set this: the tensor becomes a trainable leaf.
    public var requiresGrad: Bool {
        get { node?.isLeaf ?? false }
        set {
            if newValue { if !(node?.isLeaf ?? false) { node = GradNode(shape: shape, device: device, isLeaf: true) } }
            else if node?.isLeaf ?? false { node = nil }
        }
    }

    /// The accumulated gradient of a trainable leaf.
    /// Setting one makes the tensor a trainable leaf (optimizers read it from there).
    public var grad: Tensor? {
        get { node?.grad }
        set {
            if newValue != nil && node == nil { requiresGrad = true }
            node?.grad = newValue
        }
    }

    /// True when a gradient must flow into this tensor (a trainable leaf, or computed from one).
    public var needsGrad: Bool { node != nil }
    public var isLeaf: Bool { node?.fn == nil }

    /// Where this tensor's gradient goes, or nil when it needs none (what backward closures capture).
    public var gradSink: GradNode? { node }

    public func accumulateGrad(_ g: Tensor) { node?.accumulate(g) }

    /// Propagates d(self)/d(inputs) from this tensor (a scalar, or given `seed` of the same shape)
    /// to every leaf that requires a gradient. Saved tensors and intermediate gradients are freed
    /// as soon as they are used.
    public func backward(seed: Tensor? = nil) throws {
        guard let root = node else { throw TensorError.backward("the tensor does not depend on anything that requires a gradient") }
        if let seed {
            try requireSameShape("backward", self, seed)
            root.accumulate(seed)
        } else {
            guard count == 1 else { throw TensorError.backward("call backward on a scalar or pass a seed gradient (shape \(shape))") }
            root.accumulate(fresh: Tensor.full(shape, 1, device: device))
        }
        var order = GradNode.topologicalOrder(from: root)
        while let n = order.popLast() {
            guard let fn = n.fn else { continue }
            n.fn = nil
            if let g = n.grad { fn.backward(g) }
            if !n.isLeaf { n.grad = nil }
        }
    }

    /// Gives `self` a node whose backward is `backward` when grad mode is on and any input needs one.
    @discardableResult
    func record(_ inputs: [Tensor], _ backward: @escaping (Tensor) -> Void) -> Tensor {
        guard GradMode.isEnabled else { return self }
        let nodes = inputs.compactMap(\.node)
        if !nodes.isEmpty {
            node = GradNode(shape: shape, device: device, isLeaf: false, fn: GradFn(inputs: nodes, backward: backward))
        }
        return self
    }
}

extension GradNode {
    /// Nodes with history reachable from `root`, inputs before outputs (iterative DFS: deep graphs
    /// must not overflow the stack).
    static func topologicalOrder(from root: GradNode) -> [GradNode] {
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>([ObjectIdentifier(root)])
        var stack: [(GradNode, Int)] = [(root, 0)]
        while let (node, i) = stack.popLast() {
            let inputs = node.fn?.inputs ?? []
            if i < inputs.count {
                stack.append((node, i + 1))
                let child = inputs[i]
                if child.fn != nil, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(node)
            }
        }
        return order
    }
}

/// Gradient checkpointing: runs `body` without recording a graph and keeps only its inputs; in
/// backward it runs `body` again with recording on and backpropagates through that. Activation
/// memory then grows with the number of checkpointed blocks, not with what happens inside them.
public func checkpoint(_ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> Tensor) throws -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.needsGrad }) else { return try body(inputs) }
    let out = try GradMode.noGrad { try body(inputs) }
    let saved = inputs.map { $0.detached() }
    let sinks = inputs.map(\.gradSink)
    return out.record(inputs) { dout in
        // Fresh leaves stand in for the inputs so the recomputed graph ends here.
        let proxies = zip(saved, sinks).map { t, sink -> Tensor in
            let p = t.detached()
            p.requiresGrad = sink != nil
            return p
        }
        do {
            let recomputed = try GradMode.withGrad { try body(proxies) }
            if recomputed.needsGrad { try recomputed.backward(seed: dout) }
        } catch {
            // Recomputing the same function on the same inputs cannot fail where the forward did not.
            assertionFailure("checkpoint recompute failed: \(error)")
        }
        for (sink, p) in zip(sinks, proxies) { if let sink, let g = p.grad { sink.accumulate(g) } }
    }
}
