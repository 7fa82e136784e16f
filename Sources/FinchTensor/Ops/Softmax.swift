import CBLAS
import CFinchKernels
import Foundation

// Log-softmax over the last dimension, and cross-entropy fused with the LM head.

extension Ops {
    /// x (…, V) → log softmax over V.
    public static func logSoftmax(_ x: Tensor) throws -> Tensor {
        try requireF32("logSoftmax", x)
        let out = Tensor(uninitialized: x.shape, device: x.device)
        x.backend.logSoftmaxForward(x: x, out: out)
        let gx = x.gradSink, saved = out.detached()
        return out.record([x]) { dout in
            let dx = Tensor(uninitialized: saved.shape, device: saved.device)
            saved.backend.logSoftmaxBackward(out: saved, dout: dout, dx: dx)
            gx?.accumulate(fresh: dx)
        }
    }

    /// The summed cross-entropy of `labels` under logits = hidden · weightᵀ, without ever holding
    /// all (N, V) logits: rows go through in chunks. Rows labelled `ignoreIndex` add nothing.
    /// hidden (N, C) f32, weight (V, C) any DType. Returns the sum (a 1-element tensor) and the
    /// number of counted rows. d(sum)/d(hidden) is computed during the forward (it needs the same
    /// logits) and scaled by the incoming gradient in the backward.
    public static func linearCrossEntropy(hidden: Tensor, weight: Tensor, labels: [Int32],
                                          ignoreIndex: Int32 = -100) throws -> (loss: Tensor, count: Int) {
        try requireF32("linearCrossEntropy", hidden)
        guard weight.rank == 2, hidden.cols == weight.shape[1], labels.count == hidden.rows else {
            throw TensorError.shapeMismatch(op: "linearCrossEntropy", lhs: hidden.shape, rhs: weight.shape)
        }
        let vocab = weight.shape[0]
        if let bad = labels.first(where: { $0 != ignoreIndex && ($0 < 0 || Int($0) >= vocab) }) {
            throw TensorError.outOfRange(op: "linearCrossEntropy label", value: Int(bad), range: 0..<vocab)
        }
        let wantGrad = GradMode.isEnabled && (hidden.needsGrad || weight.needsGrad)
        let dh = wantGrad && hidden.needsGrad ? Tensor(uninitialized: hidden.shape, device: hidden.device) : nil
        let dw = wantGrad && weight.needsGrad && weight.dtype == .f32 ? Tensor.zeros(weight.shape, device: weight.device) : nil
        let total = chunkedLinearCrossEntropy(hidden: hidden, weight: weight, labels: labels, ignoreIndex: ignoreIndex,
                                              dhidden: dh, dweight: dw)
        let loss = try Tensor([Float(total)], shape: [1])
        let count = labels.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let gh = hidden.gradSink, gw = weight.gradSink
        loss.record([hidden, weight]) { dout in
            let s = dout.data[0]
            if let dh {
                // dh is this closure's alone (it runs once): scaled in place, then adopted.
                dh.backend.elementwise(.scale(s), dh, nil, out: dh)
                gh?.accumulate(fresh: dh)
            }
            if let dw { gw?.accumulate(fresh: scaledCopy(dw, s)) }
        }
        return (loss, count)
    }

    /// Rows per chunk of the LM-head cross-entropy: at most `chunkBytes` of f32 logits, and chunks of equal
    /// size (1024 rows at 512 a chunk, not 682 + 342), so that the products of every chunk are alike.
    public static func crossEntropyChunkRows(rows n: Int, vocab: Int, chunkBytes: Int) -> Int {
        let most = max(1, min(n, chunkBytes / (vocab * 4)))
        let chunks = (n + most - 1) / most
        return (n + chunks - 1) / chunks
    }

    /// The chunks behind `linearCrossEntropy`, the same on every backend: the rows whose label counts
    /// are gathered (prompt tokens and padding cost nothing); per chunk, logits = h·Wᵀ, the backend's
    /// row kernel turns them into losses (and softmax − onehot for a gradient), and dh = dlogits·W
    /// (each chunk writes its own rows, so `dhidden` needs no zeros: it is overwritten, uncounted rows
    /// with 0), dW += dlogitsᵀ·h through the GEMM's β; dh is scattered back. Per-row losses stay where
    /// the backend computes them until the one read at the end. Returns the summed loss.
    static func chunkedLinearCrossEntropy(hidden: Tensor, weight: Tensor, labels: [Int32], ignoreIndex: Int32,
                                          dhidden: Tensor?, dweight: Tensor?) -> Double {
        let be = hidden.backend, dev = hidden.device
        let counted = labels.indices.filter { labels[$0] != ignoreIndex }
        guard !counted.isEmpty else {
            if let dhidden { be.fill(dhidden, 0) }
            return 0
        }
        return Profiler.measure("linear cross-entropy") {
            let n = counted.count, c = hidden.cols, vocab = weight.shape[0]
            let rowIDs = counted.map { Int32($0) }, countedLabels = counted.map { labels[$0] }
            var h = hidden, dh = dhidden
            if n < labels.count {
                h = Tensor(uninitialized: [n, c], device: dev)
                be.gatherRows(hidden, rows: rowIDs, into: h)
                if let dhidden {
                    dh = Tensor(uninitialized: [n, c], device: dev)
                    be.fill(dhidden, 0)  // uncounted rows: no gradient
                }
            }
            let losses = Tensor(uninitialized: [n], device: dev)
            let chunk = crossEntropyChunkRows(rows: n, vocab: vocab, chunkBytes: be.crossEntropyChunkBytes)
            let logits = Tensor(uninitialized: [chunk, vocab], device: dev)
            var r0 = 0
            while r0 < n {
                let r1 = min(n, r0 + chunk), rows = r1 - r0
                let block = rows == chunk ? logits : Tensor(shape: [rows, vocab], storage: logits.storage, offset: 0)
                // logits (rows,V) = h[r0:r1] (rows,C) · Wᵀ
                var p = GemmParams(m: rows, n: vocab, k: c, transA: false, transB: true, lda: c, ldb: c, ldc: vocab)
                p.offsetA = r0 * c
                be.gemm(p, a: h, b: weight, c: block)
                be.crossEntropyRows(logits: block, labels: Array(countedLabels[r0..<r1]),
                                    losses: Tensor(shape: [rows], storage: losses.storage, offset: r0), gradient: dh != nil || dweight != nil)
                if let dh {
                    // dh[r0:r1] (rows,C) = dlogits (rows,V) · W (V,C)
                    var q = GemmParams(m: rows, n: c, k: vocab, transA: false, transB: false, lda: vocab, ldb: c, ldc: c)
                    q.offsetC = r0 * c
                    be.gemm(q, a: block, b: weight, c: dh)
                }
                if let dweight {
                    // dW (V,C) += dlogitsᵀ (V,rows) · h[r0:r1] (rows,C)
                    var q = GemmParams(m: vocab, n: c, k: rows, transA: true, transB: false, lda: vocab, ldb: c, ldc: c)
                    q.offsetB = r0 * c; q.beta = 1
                    be.gemm(q, a: block, b: h, c: dweight)
                }
                r0 = r1
            }
            if n < labels.count, let dhidden, let dh { be.scatterAddRows(dh, rows: rowIDs, into: dhidden) }
            return losses.toArray().reduce(0.0) { $0 + Double($1) }
        }
    }
}

extension CPUBackend {
    public func logSoftmaxForward(x: Tensor, out: Tensor) {
        let v = x.cols
        let px = x.data, po = out.data
        parallelFor(x.rows, minChunk: 1) { rows in
            for r in rows {
                let xr = px + r * v, orow = po + r * v
                let m = finch_max_f32(xr, v)
                let sum = finch_sum_exp_shift_f32(xr, v, m)
                let l = m + logf(sum)
                for j in 0..<v { orow[j] = xr[j] - l }
            }
        }
    }

    // dx = dout − softmax · Σ dout
    public func logSoftmaxBackward(out: Tensor, dout: Tensor, dx: Tensor) {
        let v = out.cols
        let po = out.data, pd = dout.data, px = dx.data
        parallelFor(out.rows, minChunk: 1) { rows in
            for r in rows {
                let orow = po + r * v, drow = pd + r * v, xrow = px + r * v
                var s: Float = 0
                for j in 0..<v { s += drow[j] }
                finch_exp_f32(orow, xrow, v)
                for j in 0..<v { xrow[j] = drow[j] - xrow[j] * s }
            }
        }
    }

    /// About 96 MB of logits a chunk (512 rows of a 49152-token vocabulary): each chunk packs the LM head's
    /// weight for its two products (and decodes a stored one), so fewer, taller chunks spend less on that;
    /// 192 MB bought little more. The training memory estimate counts the same chunk.
    public static let crossEntropyChunkBytes = 96 << 20
    public var crossEntropyChunkBytes: Int { CPUBackend.crossEntropyChunkBytes }

    public func crossEntropyRows(logits: Tensor, labels: [Int32], losses: Tensor, gradient: Bool) {
        Profiler.measure("cross-entropy rows") {
        let vocab = logits.cols, pl = logits.data, pLoss = losses.data
        parallelFor(logits.rows, minChunk: 1) { rows in
            for i in rows {
                let label = Int(labels[i]), row = pl + i * vocab
                let m = finch_max_f32(row, vocab)
                let xLabel = row[label]
                if gradient {
                    // Keep e = exp(x − m) in place; d(loss)/d(logits) = e / Σe − onehot.
                    let sum = finch_exp_shift_sum_f32(row, row, vocab, m)
                    pLoss[i] = m + logf(sum) - xLabel
                    let inv = 1 / sum
                    for j in 0..<vocab { row[j] *= inv }
                    row[label] -= 1
                } else {
                    pLoss[i] = m + logf(finch_sum_exp_shift_f32(row, vocab, m)) - xLabel
                }
            }
        }
    }
    }

    public func gatherRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let c = src.cols
        for (i, r) in rows.enumerated() { (dst.data + i * c).update(from: src.data + Int(r) * c, count: c) }
    }

    public func scatterAddRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let c = src.cols
        for (i, r) in rows.enumerated() {
            let d = dst.data + Int(r) * c, s = src.data + i * c
            for j in 0..<c { d[j] += s[j] }
        }
    }
}
