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
        let dh = wantGrad && hidden.needsGrad ? Tensor.zeros(hidden.shape, device: hidden.device) : nil
        let dw = wantGrad && weight.needsGrad && weight.dtype == .f32 ? Tensor.zeros(weight.shape, device: weight.device) : nil
        let total = hidden.backend.linearCrossEntropy(hidden: hidden, weight: weight, labels: labels, ignoreIndex: ignoreIndex,
                                                      dhidden: dh, dweight: dw)
        let loss = try Tensor([Float(total)], shape: [1])
        let count = labels.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let gh = hidden.gradSink, gw = weight.gradSink
        loss.record([hidden, weight]) { dout in
            let s = dout.data[0]
            if let dh { gh?.accumulate(fresh: scaledCopy(dh, s)) }
            if let dw { gw?.accumulate(fresh: scaledCopy(dw, s)) }
        }
        return (loss, count)
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

    public func linearCrossEntropy(hidden: Tensor, weight: Tensor, labels: [Int32], ignoreIndex: Int32,
                                   dhidden: Tensor?, dweight: Tensor?) -> Double {
        // Rows whose label is ignored (prompt tokens, padding) need no logits at all: compute on the
        // counted rows only and scatter their gradient back.
        let counted = labels.indices.filter { labels[$0] != ignoreIndex }
        if counted.count < labels.count {
            let c = hidden.cols
            guard !counted.isEmpty else { return 0 }
            let compact = Tensor(uninitialized: [counted.count, c])
            for (i, r) in counted.enumerated() { (compact.data + i * c).update(from: hidden.data + r * c, count: c) }
            let dcompact = dhidden != nil ? Tensor.zeros([counted.count, c]) : nil
            let total = linearCrossEntropy(hidden: compact, weight: weight, labels: counted.map { labels[$0] },
                                           ignoreIndex: ignoreIndex, dhidden: dcompact, dweight: dweight)
            if let dhidden, let dcompact {
                for (i, r) in counted.enumerated() {
                    let dst = dhidden.data + r * c, src = dcompact.data + i * c
                    for j in 0..<c { dst[j] += src[j] }
                }
            }
            return total
        }
        return Profiler.measure("linear cross-entropy") {
        let n = hidden.rows, c = hidden.cols, vocab = weight.shape[0]
        // Chunks of rows: a few tens of MB of logits at a time; a stored weight is decoded once per chunk.
        let chunk = max(1, min(n, (48 << 20) / (vocab * 4)))
        let logits = Tensor(uninitialized: [chunk, vocab])
        let pl = logits.data
        var total: Double = 0
        var r0 = 0
        while r0 < n {
            let r1 = min(n, r0 + chunk), rows = r1 - r0
            // Skip chunks with nothing to count.
            if !(r0..<r1).contains(where: { labels[$0] != ignoreIndex }) { r0 = r1; continue }
            var p = GemmParams(m: rows, n: vocab, k: c, transA: false, transB: true, lda: c, ldb: c, ldc: vocab)
            p.offsetA = r0 * c
            gemm(p, a: hidden, b: weight, c: logits)
            var partial = [Double](repeating: 0, count: rows)
            partial.withUnsafeMutableBufferPointer { part in
                let pp = part.baseAddress!
                parallelFor(rows, minChunk: 1) { rr in
                    for i in rr {
                        let label = labels[r0 + i]
                        let row = pl + i * vocab
                        if label == ignoreIndex {
                            if dhidden != nil || dweight != nil { row.update(repeating: 0, count: vocab) }
                            continue
                        }
                        let m = finch_max_f32(row, vocab)
                        let xLabel = row[Int(label)]
                        if dhidden != nil || dweight != nil {
                            // Keep e = exp(x − m) in place; d(loss)/d(logits) = e / Σe − onehot.
                            let sum = finch_exp_shift_sum_f32(row, row, vocab, m)
                            pp[i] = Double(m + logf(sum) - xLabel)
                            let inv = 1 / sum
                            for j in 0..<vocab { row[j] *= inv }
                            row[Int(label)] -= 1
                        } else {
                            let sum = finch_sum_exp_shift_f32(row, vocab, m)
                            pp[i] = Double(m + logf(sum) - xLabel)
                        }
                    }
                }
            }
            total += partial.reduce(0, +)
            if let dhidden {
                // dh[r0:r1] += dlogits · W
                var q = GemmParams(m: rows, n: c, k: vocab, transA: false, transB: false, lda: vocab, ldb: c, ldc: c)
                q.offsetC = r0 * c
                q.beta = 1
                gemm(q, a: logits, b: weight, c: dhidden)
            }
            if let dweight {
                // dW += dlogitsᵀ · h[r0:r1]
                CPUBackend.sgemm(transA: true, transB: false, m: vocab, n: c, k: rows, alpha: 1,
                                 pl, lda: vocab, hidden.data + r0 * c, ldb: c, beta: 1, dweight.data, ldc: c)
            }
            r0 = r1
        }
        return total
    }
    }
}
