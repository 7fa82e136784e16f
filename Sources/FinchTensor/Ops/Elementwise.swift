import Foundation
// Element-wise ops: add, sub, mul (same shape), a row vector broadcast over rows, scaling, SiLU.
// Forward and backward side by side.

extension Ops {
    /// a + b (same shape), or a (…, C) + b (C) broadcast over the leading dimensions.
    public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try requireF32("add", a, b)
        let ga = a.gradSink, gb = b.gradSink
        if a.shape == b.shape {
            let out = Tensor(uninitialized: a.shape, device: a.device)
            a.backend.elementwise(.add, a, b, out: out)
            return recordAdd(out, a, b)
        }
        guard b.rank == 1, b.count == a.cols else { throw TensorError.shapeMismatch(op: "add", lhs: a.shape, rhs: b.shape) }
        let out = Tensor(uninitialized: a.shape, device: a.device)
        a.backend.elementwise(.addRow, a, b, out: out)
        return out.record([a, b]) { dout in
            ga?.accumulate(dout)
            gb?.accumulate(fresh: columnSums(dout))
        }
    }

    /// out = a + b (same shape) in the graph.
    static func recordAdd(_ out: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let ga = a.gradSink, gb = b.gradSink
        return out.record([a, b]) { dout in
            // d(a+b) = dout for both: a copy for a, and b takes dout itself (the node's own
            // buffer, released after this; for a + a it adds instead).
            ga?.accumulate(dout)
            gb?.accumulate(fresh: dout)
        }
    }

    /// a − b (same shape).
    public static func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try linearCombination("sub", .sub, a, b, bScale: -1)
    }

    /// a ⊙ b (same shape).
    public static func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try requireF32("mul", a, b)
        try requireSameShape("mul", a, b)
        let out = Tensor(uninitialized: a.shape, device: a.device)
        a.backend.elementwise(.mul, a, b, out: out)
        let ga = a.gradSink, gb = b.gradSink
        let savedA = gb != nil ? a.detached() : nil, savedB = ga != nil ? b.detached() : nil
        return out.record([a, b]) { dout in
            // da = dout ⊙ b, db = dout ⊙ a
            if let ga, let savedB { ga.accumulate(fresh: product(dout, savedB)) }
            if let gb, let savedA { gb.accumulate(fresh: product(dout, savedA)) }
        }
    }

    /// dout ⊙ saved, a fresh tensor on saved's device (a gradient of mul).
    private static func product(_ dout: Tensor, _ saved: Tensor) -> Tensor {
        let g = Tensor(uninitialized: saved.shape, device: saved.device)
        saved.backend.elementwise(.mul, dout, saved, out: g)
        return g
    }

    /// a + s · b (same shape): how a LoRA branch joins its base layer.
    public static func addScaled(_ a: Tensor, _ b: Tensor, _ s: Float) throws -> Tensor {
        try linearCombination("addScaled", .addScaled(s), a, b, bScale: s)
    }

    /// a + s·b computed by `op` (sub is s = −1): da = dout, db = s · dout.
    private static func linearCombination(_ name: String, _ op: ElementwiseOp, _ a: Tensor, _ b: Tensor, bScale s: Float) throws -> Tensor {
        try requireF32(name, a, b)
        try requireSameShape(name, a, b)
        let out = Tensor(uninitialized: a.shape, device: a.device)
        a.backend.elementwise(op, a, b, out: out)
        let ga = a.gradSink, gb = b.gradSink
        return out.record([a, b]) { dout in
            ga?.accumulate(dout)
            if let gb { gb.accumulate(fresh: scaledCopy(dout, s)) }
        }
    }

    /// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1−p).
    /// The mask is a pure function of `seed` and the element index, so recomputation under
    /// gradient checkpointing draws the same mask.
    public static func dropout(_ x: Tensor, p: Float, seed: UInt64) throws -> Tensor {
        try requireF32("dropout", x)
        guard p > 0 else { return x }
        guard p < 1 else { throw TensorError.invalidShape(op: "dropout", shape: x.shape, expected: "p < 1") }
        // The mask is drawn on the host (the same bits on every device) and moved to x's device.
        let hostMask = Tensor(uninitialized: x.shape)
        let pm = hostMask.data
        let keep = 1 / (1 - p)
        let threshold = UInt64(Double(p) * Double(UInt64.max))
        parallelFor(x.count, minChunk: 1 << 14) { r in
            for i in r {
                var z = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                pm[i] = z < threshold ? 0 : keep
            }
        }
        let mask = try hostMask.moved(to: x.device)
        let out = Tensor(uninitialized: x.shape, device: x.device)
        x.backend.elementwise(.mul, x, mask, out: out)
        let gx = x.gradSink
        return out.record([x]) { dout in
            let dx = Tensor(uninitialized: mask.shape, device: mask.device)
            mask.backend.elementwise(.mul, dout, mask, out: dx)
            gx?.accumulate(fresh: dx)
        }
    }

    /// x · s
    public static func scale(_ x: Tensor, _ s: Float) throws -> Tensor {
        try requireF32("scale", x)
        let out = scaledCopy(x, s)
        let gx = x.gradSink
        return out.record([x]) { dout in gx?.accumulate(fresh: scaledCopy(dout, s)) }
    }

    /// silu(x) = x · σ(x)
    public static func silu(_ x: Tensor) throws -> Tensor {
        try requireF32("silu", x)
        let out = Tensor(uninitialized: x.shape, device: x.device)
        x.backend.elementwise(.silu, x, nil, out: out)
        let gx = x.gradSink, saved = x.detached()
        return out.record([x]) { dout in
            // d silu = σ(x) · (1 + x · (1 − σ(x)))
            // (Host arithmetic: silu's own backward is not on the model's path; accelerators copy.)
            let host = saved.device == .cpu ? saved : (try? saved.moved(to: .cpu)) ?? saved
            let dh = dout.device == .cpu ? dout : (try? dout.moved(to: .cpu)) ?? dout
            let dx = Tensor(uninitialized: saved.shape)
            let px = host.data, pd = dh.data, po = dx.data
            parallelFor(saved.count, minChunk: 1 << 14) { r in
                for i in r {
                    let s = 1 / (1 + expf(-px[i]))
                    po[i] = pd[i] * s * (1 + px[i] * (1 - s))
                }
            }
            gx?.accumulate(saved.device == .cpu ? dx : (try? dx.moved(to: saved.device)) ?? dx)
        }
    }

    /// Sum of all elements, as a 1-element tensor (on the CPU).
    public static func sum(_ x: Tensor) throws -> Tensor {
        try requireF32("sum", x)
        let out = Tensor(uninitialized: [1])
        var total: Double = 0
        if x.device == .cpu {
            let p = x.data
            for i in 0..<x.count { total += Double(p[i]) }
        } else {
            total = x.toArray().reduce(0.0) { $0 + Double($1) }
        }
        out.data[0] = Float(total)
        let gx = x.gradSink, shape = x.shape, device = x.device
        return out.record([x]) { dout in
            gx?.accumulate(Tensor.full(shape, dout.toArray()[0], device: device))
        }
    }

    static func scaledCopy(_ x: Tensor, _ s: Float) -> Tensor {
        let out = Tensor(uninitialized: x.shape, device: x.device)
        x.backend.elementwise(.scale(s), x, nil, out: out)
        return out
    }

    /// Sums a (R, C) tensor over rows → (C).
    static func columnSums(_ x: Tensor) -> Tensor {
        if x.device != .cpu, let host = try? x.moved(to: .cpu), let out = try? columnSums(host).moved(to: x.device) { return out }
        let cols = x.cols, rows = x.rows
        let out = Tensor.zeros([cols], device: x.device)
        let p = x.data, o = out.data
        for r in 0..<rows {
            let row = p + r * cols
            for c in 0..<cols { o[c] += row[c] }
        }
        return out
    }
}

extension CPUBackend {
    public func elementwise(_ op: ElementwiseOp, _ x: Tensor, _ y: Tensor?, out: Tensor) {
        Profiler.measure(CPUBackend.profileShapes ? "elementwise \(op) \(out.shape)" : "elementwise") {
        let px = x.data, po = out.data
        let py = y?.data
        let n = out.count
        let chunk = 1 << 14
        switch op {
        case .add:
            let py = py!
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] + py[i] } }
        case .sub:
            let py = py!
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] - py[i] } }
        case .mul:
            let py = py!
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] * py[i] } }
        case .addRow:
            let py = py!
            let cols = y!.count
            parallelFor(out.rows, minChunk: max(1, chunk / cols)) { r in
                for row in r {
                    let base = row * cols
                    for c in 0..<cols { po[base + c] = px[base + c] + py[c] }
                }
            }
        case let .scale(s):
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] * s } }
        case let .addScaled(s):
            let py = py!
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] + s * py[i] } }
        case .silu:
            parallelFor(n, minChunk: chunk) { r in for i in r { po[i] = px[i] / (1 + expf(-px[i])) } }
        }
    }
    }
}

/// The autograd-aware operations. Each lives in its own file under `Ops/` with its CPU kernels.
public enum Ops {}
