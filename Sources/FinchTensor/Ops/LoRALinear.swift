// A linear layer with its LoRA branch as one autograd node:
//
//   y = x·Wᵀ (+ b) + s · (x·Aᵀ)·Bᵀ          x (N,in), W (out,in) frozen, A (r,in), B (out,r), s = alpha/r
//
// The branch's product lands in y through the GEMM's β (no delta tensor, no separate scaled add),
// and the backward writes dx with two products into one buffer:
//
//   dxa = s · dy·B (N,r)    dB = s · dyᵀ·xa    dA = dxaᵀ·x    dx = dy·W + dxa·A

extension Ops {
    /// y = x·Wᵀ + bias + scale · (x·Aᵀ)·Bᵀ. W is frozen (any DType); A and B f32.
    public static func loraLinear(_ x: Tensor, weight w: Tensor, bias: Tensor?, a: Tensor, b: Tensor, scale s: Float) throws -> Tensor {
        try requireF32("loraLinear", x, a, b)
        let n = x.rows, inF = w.shape[1], outF = w.shape[0], r = a.shape[0]
        guard w.rank == 2, x.cols == inF, a.shape == [r, inF], b.shape == [outF, r] else {
            throw TensorError.shapeMismatch(op: "loraLinear", lhs: a.shape, rhs: b.shape)
        }
        if let bias { guard bias.count == outF else { throw TensorError.shapeMismatch(op: "loraLinear bias", lhs: w.shape, rhs: bias.shape) } }
        var yShape = x.shape
        yShape[yShape.count - 1] = outF
        let y = Tensor(uninitialized: yShape, device: x.device)
        let be = x.backend
        // (N,in)·(out,in)ᵀ → (N,out)
        be.gemm(GemmParams(m: n, n: outF, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF), a: x, b: w, c: y)
        if let bias { be.elementwise(.addRow, y, bias, out: y) }
        // xa (N,r) = x·Aᵀ ; y += s · xa·Bᵀ
        let xa = Tensor(uninitialized: [n, r], device: x.device)
        be.gemm(GemmParams(m: n, n: r, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: r), a: x, b: a, c: xa)
        var p = GemmParams(m: n, n: outF, k: r, transA: false, transB: true, lda: r, ldb: r, ldc: outF)
        p.alpha = s; p.beta = 1
        be.gemm(p, a: xa, b: b, c: y)
        var inputs = [x, a, b]
        if let bias { inputs.append(bias) }
        let gx = x.gradSink, ga = a.gradSink, gb = b.gradSink, gbias = bias?.gradSink
        guard gx != nil || ga != nil || gb != nil || gbias != nil else { return y }
        let xs = ga != nil ? x.detached() : nil
        let ws = w.detached(), As = a.detached(), Bs = b.detached(), xaS = xa
        let xShape = x.shape
        return y.record(inputs) { dy in
            let be = dy.backend
            // dxa (N,r) = s · dy (N,out) · B (out,r)
            let dxa = Tensor(uninitialized: [n, r], device: dy.device)
            var q = GemmParams(m: n, n: r, k: outF, transA: false, transB: false, lda: outF, ldb: r, ldc: r)
            q.alpha = s
            be.gemm(q, a: dy, b: Bs, c: dxa)
            if let gb {
                // dB (out,r) = s · dyᵀ (out,N) · xa (N,r)
                let db = Tensor(uninitialized: [outF, r], device: dy.device)
                var g = GemmParams(m: outF, n: r, k: n, transA: true, transB: false, lda: outF, ldb: r, ldc: r)
                g.alpha = s
                be.gemm(g, a: dy, b: xaS, c: db)
                gb.accumulate(fresh: db)
            }
            if let ga, let xs {
                // dA (r,in) = dxaᵀ (r,N) · x (N,in)
                let da = Tensor(uninitialized: [r, inF], device: dy.device)
                be.gemm(GemmParams(m: r, n: inF, k: n, transA: true, transB: false, lda: r, ldb: inF, ldc: inF), a: dxa, b: xs, c: da)
                ga.accumulate(fresh: da)
            }
            if let gx {
                // dx (N,in) = dy · W + dxa · A
                let dx = Tensor(uninitialized: xShape, device: dy.device)
                be.gemm(GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF), a: dy, b: ws, c: dx)
                var h = GemmParams(m: n, n: inF, k: r, transA: false, transB: false, lda: r, ldb: inF, ldc: inF)
                h.beta = 1
                be.gemm(h, a: dxa, b: As, c: dx)
                gx.accumulate(fresh: dx)
            }
            if let gbias { gbias.accumulate(fresh: columnSums(dy)) }
        }
    }
}
