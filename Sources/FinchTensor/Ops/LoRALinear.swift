// A linear layer with its LoRA branch as one autograd node:
//
//   y = x·Wᵀ (+ b) + s · (x·Aᵀ)·Bᵀ          x (N,in), W (out,in) frozen, A (r,in), B (out,r), s = alpha/r
//
// Base and branch go to the backend as one pair of products into y (`Backend.gemm(_:…plus:…)`): the CPU
// packs the branch as r more k columns of the base product, [x | xa]·[W | s·B]ᵀ, so y is written once
// (no delta tensor, no separate pass); elsewhere the branch is written first and the base product adds
// onto it through the GEMM's β. The backward adds dx the same way, [dy | dxa]·[W ; A]:
//
//   dxa = s · dy·B (N,r)    dB = s · dyᵀ·xa    dA = dxaᵀ·x    dx += dy·W + dxa·A

extension Ops {
    /// The output (…, out) of x·Wᵀ, uninitialized.
    static func productOutput(_ x: Tensor, _ w: Tensor) -> Tensor {
        var yShape = x.shape
        yShape[yShape.count - 1] = w.shape[0]
        return Tensor(uninitialized: yShape, device: x.device)
    }

    /// y = x·Wᵀ + branch (+ bias) without a graph node, the branch s · xa·Bᵀ described by `p2` (xa (N,·) and
    /// B (out,r) of both LoRA forms): the frozen part both share.
    static func baseAndBranch(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, branch p2: GemmParams, xa: Tensor, b: Tensor,
                              into y: Tensor) {
        let n = x.rows, inF = w.shape[1], outF = w.shape[0]
        // (N,in)·(out,in)ᵀ → (N,out)
        let p = GemmParams(m: n, n: outF, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF)
        x.backend.gemm(p, a: x, b: w, plus: p2, a2: xa, b2: b, c: y)
        if let bias { x.backend.elementwise(.addRow, y, bias, out: y) }
    }

    /// xa (N,r) = x·Aᵀ and y = x·Wᵀ + s · xa·Bᵀ (+ bias): the forward of `loraLinear` and `swigluLoRALinear`.
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, a: Tensor, b: Tensor, scale s: Float) -> (y: Tensor, xa: Tensor) {
        let n = x.rows, inF = w.shape[1], outF = w.shape[0], r = a.shape[0], be = x.backend
        be.prepareSharedOperand(x)
        let xa = Tensor(uninitialized: [n, r], device: x.device)
        be.gemm(GemmParams(m: n, n: r, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: r), a: x, b: a, c: xa)
        let y = productOutput(x, w)
        var p = GemmParams(m: n, n: outF, k: r, transA: false, transB: true, lda: r, ldb: r, ldc: outF)
        p.alpha = s
        baseAndBranch(x, w, bias, branch: p, xa: xa, b: b, into: y)
        return (y, xa)
    }

    static func checkBias(_ bias: Tensor?, _ w: Tensor) throws {
        if let bias, bias.count != w.shape[0] { throw TensorError.shapeMismatch(op: "loraLinear bias", lhs: w.shape, rhs: bias.shape) }
    }

    /// y = x·Wᵀ + bias + scale · (x·Aᵀ)·Bᵀ. W is frozen (any DType); A and B f32.
    public static func loraLinear(_ x: Tensor, weight w: Tensor, bias: Tensor?, a: Tensor, b: Tensor, scale s: Float) throws -> Tensor {
        try requireF32("loraLinear", x, a, b)
        let n = x.rows, inF = w.shape[1], outF = w.shape[0], r = a.shape[0]
        guard w.rank == 2, x.cols == inF, a.shape == [r, inF], b.shape == [outF, r] else {
            throw TensorError.shapeMismatch(op: "loraLinear", lhs: a.shape, rhs: b.shape)
        }
        try checkBias(bias, w)
        let (y, xa) = forward(x, w, bias, a: a, b: b, scale: s)
        var inputs = [x, a, b]
        if let bias { inputs.append(bias) }
        let gx = x.gradSink, ga = a.gradSink, gb = b.gradSink, gbias = bias?.gradSink
        guard gx != nil || ga != nil || gb != nil || gbias != nil else { return y }
        let xs = ga != nil ? x.detached() : nil
        let ws = w.detached(), As = a.detached(), Bs = b.detached(), xaS = xa
        return y.record(inputs) { dy in
            let be = dy.backend
            let dxa = branchBackward(dy, b: Bs, xa: xaS, scale: s, gb: gb)
            if let ga, let xs {
                // dA (r,in) = dxaᵀ (r,N) · x (N,in)
                let da = Tensor(uninitialized: [r, inF], device: dy.device)
                be.gemm(GemmParams(m: r, n: inF, k: n, transA: true, transB: false, lda: r, ldb: inF, ldc: inF), a: dxa, b: xs, c: da)
                ga.accumulate(fresh: da)
            }
            if let gx {
                // dx (N,in) += dy · W + dxa · A, one pair of products
                gx.accumulateProduct { dx, beta in
                    var g = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
                    g.beta = beta
                    let h = GemmParams(m: n, n: inF, k: r, transA: false, transB: false, lda: r, ldb: inF, ldc: inF)
                    be.gemm(g, a: dy, b: ws, plus: h, a2: dxa, b2: As, c: dx)
                }
            }
            if let gbias { gbias.accumulate(fresh: columnSums(dy)) }
        }
    }
}

extension Ops {
    /// The branch's backward shared by `loraLinear` and `swigluLoRALinear`: returns dxa (N,r) = s · dy (N,out) · B
    /// (out,r), and adds dB (out,r) = s · dyᵀ (out,N) · xa (N,r) to B's gradient, both in one pass over dy.
    static func branchBackward(_ dy: Tensor, b: Tensor, xa: Tensor, scale s: Float, gb: GradNode?) -> Tensor {
        let n = dy.rows, outF = b.shape[0], r = b.shape[1]
        let dxa = Tensor(uninitialized: [n, r], device: dy.device)
        var q = GemmParams(m: n, n: r, k: outF, transA: false, transB: false, lda: outF, ldb: r, ldc: r)
        q.alpha = s
        if let gb {
            let db = Tensor(uninitialized: [outF, r], device: dy.device)
            var g = GemmParams(m: outF, n: r, k: n, transA: true, transB: false, lda: outF, ldb: r, ldc: r)
            g.alpha = s
            dy.backend.gemm(q, a: dy, b: b, c: dxa, andTransposed: g, b2: xa, c2: db)
            gb.accumulate(fresh: db)
        } else {
            dy.backend.gemm(q, a: dy, b: b, c: dxa)
        }
        return dxa
    }

    /// y = h·Wᵀ + bias + scale · (h·Aᵀ)·Bᵀ with h = silu(gate) ⊙ up: Llama's MLP, its SwiGLU product into a down
    /// projection that carries an adapter, as one node. It keeps gate and up (as `swiglu` does) but not h, which
    /// only dA = dxaᵀ·h needs: the backward rebuilds h there (`Backend.swigluLoRABackward`), a cache-sized block
    /// at a time on the CPU. The values are `loraLinear(swiglu(gate, up), …)`'s; the memory is N × F floats a
    /// layer less (189 MB for SmolLM2-135M at 4 × 256 tokens).
    public static func swigluLoRALinear(gate: Tensor, up: Tensor, weight w: Tensor, bias: Tensor?, a: Tensor, b: Tensor,
                                        scale s: Float) throws -> Tensor {
        try requireF32("swigluLoRALinear", gate, up, a, b)
        try requireSameShape("swigluLoRALinear", gate, up)
        let n = gate.rows, inF = w.shape[1], outF = w.shape[0], r = a.shape[0]
        guard w.rank == 2, gate.rank == 2, gate.cols == inF, a.shape == [r, inF], b.shape == [outF, r] else {
            throw TensorError.shapeMismatch(op: "swigluLoRALinear", lhs: gate.shape, rhs: w.shape)
        }
        try checkBias(bias, w)
        // h (N,F) = silu(gate) ⊙ up, dropped when this returns
        let h = Tensor(uninitialized: gate.shape, device: gate.device)
        gate.backend.swigluForward(gate: gate, up: up, out: h)
        let (y, xa) = forward(h, w, bias, a: a, b: b, scale: s)
        var inputs = [gate, up, a, b]
        if let bias { inputs.append(bias) }
        let gg = gate.gradSink, gu = up.gradSink, ga = a.gradSink, gb = b.gradSink, gbias = bias?.gradSink
        guard gg != nil || gu != nil || ga != nil || gb != nil || gbias != nil else { return y }
        let gs = gate.detached(), us = up.detached(), ws = w.detached(), As = a.detached(), Bs = b.detached(), xaS = xa
        return y.record(inputs) { dy in
            let be = dy.backend
            let dxa = branchBackward(dy, b: Bs, xa: xaS, scale: s, gb: gb)
            if gg != nil || gu != nil || ga != nil {
                // dh (N,F) = dy · W + dxa · A, one pair of products
                let dh = Tensor(uninitialized: [n, inF], device: dy.device)
                let g = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
                let h2 = GemmParams(m: n, n: inF, k: r, transA: false, transB: false, lda: r, ldb: inF, ldc: inF)
                be.gemm(g, a: dy, b: ws, plus: h2, a2: dxa, b2: As, c: dh)
                // dgate, dup from dh; dA (r,F) = dxaᵀ · h with h rebuilt
                let dg = Tensor(uninitialized: gs.shape, device: dy.device)
                let du = Tensor(uninitialized: us.shape, device: dy.device)
                if let ga {
                    let da = Tensor(uninitialized: [r, inF], device: dy.device)
                    be.swigluLoRABackward(gate: gs, up: us, dout: dh, dxa: dxa, dgate: dg, dup: du, da: da)
                    ga.accumulate(fresh: da)
                } else {
                    be.swigluBackward(gate: gs, up: us, dout: dh, dgate: dg, dup: du)
                }
                gg?.accumulate(fresh: dg)
                gu?.accumulate(fresh: du)
            }
            if let gbias { gbias.accumulate(fresh: columnSums(dy)) }
        }
    }
}

// Projections that read the same input (q/k/v, gate/up) share one product for their LoRA A's:
//
//   xa = x · [A_1; A_2; …]ᵀ   (N, Σr)   — x is read once, not once per projection
//   y_i = x·W_iᵀ (+ b_i) + s_i · xa[:, cols_i]·B_iᵀ
//
// `concatRows` stacks the A's (small) with a backward that splits the gradient back.

extension Ops {
    /// Tensors of equal column count stacked by rows: (Σ rows_i, C).
    public static func concatRows(_ parts: [Tensor]) throws -> Tensor {
        guard let first = parts.first else { throw TensorError.invalidShape(op: "concatRows", shape: [], expected: "at least one tensor") }
        try parts.forEach { try requireF32("concatRows", $0) }
        let c = first.cols
        guard parts.allSatisfy({ $0.cols == c && $0.device == first.device }) else {
            throw TensorError.shapeMismatch(op: "concatRows", lhs: first.shape, rhs: parts.first { $0.cols != c }?.shape ?? [])
        }
        let rows = parts.map(\.rows)
        let out = Tensor(uninitialized: [rows.reduce(0, +), c], device: first.device)
        var r0 = 0
        for (p, n) in zip(parts, rows) {
            first.backend.copy(p, into: try out.rowSlice(r0..<(r0 + n)))
            r0 += n
        }
        let sinks = parts.map(\.gradSink)
        guard sinks.contains(where: { $0 != nil }) else { return out }
        let shapes = parts.map(\.shape)
        return out.record(parts) { dout in
            var r0 = 0
            for ((sink, n), shape) in zip(zip(sinks, rows), shapes) {
                if let sink, let slice = try? dout.rowSlice(r0..<(r0 + n)) {
                    sink.accumulate(Tensor(shape: shape, storage: slice.storage, offset: slice.offset))
                }
                r0 += n
            }
        }
    }

    /// y = x·Wᵀ + bias + scale · xa[:, column ..< column + r]·Bᵀ, where xa (N, R) holds several
    /// projections' x·Aᵀ side by side (see `concatRows`). W is frozen.
    public static func loraLinear(_ x: Tensor, weight w: Tensor, bias: Tensor?, sharedXA xa: Tensor, column: Int,
                                  b: Tensor, scale s: Float) throws -> Tensor {
        try requireF32("loraLinear", x, xa, b)
        let n = x.rows, inF = w.shape[1], outF = w.shape[0], r = b.shape[1], width = xa.cols
        guard w.rank == 2, x.cols == inF, xa.rows == n, b.shape == [outF, r], column >= 0, column + r <= width else {
            throw TensorError.shapeMismatch(op: "loraLinear (shared)", lhs: xa.shape, rhs: b.shape)
        }
        try checkBias(bias, w)
        // y = x·Wᵀ + s · xa[:, column…]·Bᵀ (+ bias)
        let y = productOutput(x, w)
        var p = GemmParams(m: n, n: outF, k: r, transA: false, transB: true, lda: width, ldb: r, ldc: outF)
        p.offsetA = column; p.alpha = s
        baseAndBranch(x, w, bias, branch: p, xa: xa, b: b, into: y)
        var inputs = [x, xa, b]
        if let bias { inputs.append(bias) }
        let gx = x.gradSink, gxa = xa.gradSink, gb = b.gradSink, gbias = bias?.gradSink
        guard gx != nil || gxa != nil || gb != nil || gbias != nil else { return y }
        let ws = w.detached(), Bs = b.detached(), xaS = xa.detached()
        return y.record(inputs) { dy in
            let be = dy.backend
            if let gx {
                // dx (N,in) += dy · W — first, so that a backend's low-precision copy of dy made
                // for it serves the two LoRA products below as well.
                gx.accumulateProduct { dx, beta in
                    var g = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
                    g.beta = beta
                    be.gemm(g, a: dy, b: ws, c: dx)
                }
            }
            // dxa[:, column…] += s · dy·B and dB = s · dyᵀ · xa[:, column…], one pass over dy where both are wanted
            var q = GemmParams(m: n, n: r, k: outF, transA: false, transB: false, lda: outF, ldb: r, ldc: width)
            q.offsetC = column; q.alpha = s; q.beta = 1
            var g = GemmParams(m: outF, n: r, k: n, transA: true, transB: false, lda: outF, ldb: width, ldc: r)
            g.offsetB = column; g.alpha = s
            let db = gb != nil ? Tensor(uninitialized: [outF, r], device: dy.device) : nil
            if let gxa {
                // Into xa's gradient, which the projections sharing xa fill column by column: the first one
                // to arrive zeroes it.
                gxa.accumulateInPlace { dxa, accumulate in
                    if !accumulate { be.fill(dxa, 0) }
                    if let db { be.gemm(q, a: dy, b: Bs, c: dxa, andTransposed: g, b2: xaS, c2: db) } else { be.gemm(q, a: dy, b: Bs, c: dxa) }
                }
            } else if let db {
                be.gemm(g, a: dy, b: xaS, c: db)
            }
            if let gb, let db { gb.accumulate(fresh: db) }
            if let gbias { gbias.accumulate(fresh: columnSums(dy)) }
        }
    }
}
