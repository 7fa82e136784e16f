import CBLAS
import Foundation

// Causal scaled-dot-product attention with grouped-query heads, computed a block of 64 queries at
// a time: only keys up to the block's last position are touched (about half the work of a full
// T×T product), and memory holds one (64 × T) score block, never the (T × T) matrix per head.
// The forward saves each row's log-sum-exp so the backward can rebuild the probabilities.

extension Ops {
    /// q (B·T, H·D), k and v (B·Tk, KVH·D) → (B·T, H·D). Query t attends keys 0 … queryOffset + t.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, _ p: AttentionParams) throws -> Tensor {
        try requireF32("attention", q, k, v)
        guard p.heads % p.kvHeads == 0 else {
            throw TensorError.invalidShape(op: "attention", shape: [p.heads, p.kvHeads], expected: "query heads a multiple of key/value heads")
        }
        guard q.shape == [p.batch * p.seqLen, p.heads * p.headDim] else {
            throw TensorError.invalidShape(op: "attention q", shape: q.shape, expected: "(\(p.batch * p.seqLen), \(p.heads * p.headDim))")
        }
        let kvShape = [p.batch * p.keyLen, p.kvHeads * p.headDim]
        guard k.shape == kvShape, v.shape == kvShape, p.keyLen >= p.queryOffset + p.seqLen else {
            throw TensorError.invalidShape(op: "attention k/v", shape: k.shape, expected: "\(kvShape)")
        }
        let out = Tensor(uninitialized: q.shape, device: q.device)
        let lse = Tensor(uninitialized: [p.batch, p.heads, p.seqLen], device: q.device)
        q.backend.attentionForward(p, q: q, k: k, v: v, out: out, lse: lse)
        let gq = q.gradSink, gk = k.gradSink, gv = v.gradSink
        let inputs = [q, k, v]
        let q = q.detached(), k = k.detached(), v = v.detached(), saved = out.detached()
        return out.record(inputs) { dout in
            let dq = Tensor.zeros(q.shape, device: q.device)
            let dk = Tensor.zeros(k.shape, device: k.device)
            let dv = Tensor.zeros(v.shape, device: v.device)
            q.backend.attentionBackward(p, q: q, k: k, v: v, out: saved, lse: lse, dout: dout, dq: dq, dk: dk, dv: dv)
            gq?.accumulate(dq)
            gk?.accumulate(dk)
            gv?.accumulate(dv)
        }
    }
}

extension CPUBackend {
    static let attentionBlock = 64

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        Profiler.measure("attention fwd") {
        let d = p.headDim, h = p.heads, t = p.seqLen, tk = p.keyLen
        let rep = p.heads / p.kvHeads
        let ldq = h * d, ldk = p.kvHeads * d
        let bq = CPUBackend.attentionBlock
        let scratch = allocate(count: bq * tk)
        let s = scratch.raw.assumingMemoryBound(to: Float.self)
        for b in 0..<p.batch {
            for head in 0..<h {
                let g = head / rep
                let qh = q.data + b * t * ldq + head * d
                let kh = k.data + b * tk * ldk + g * d
                let vh = v.data + b * tk * ldk + g * d
                let oh = out.data + b * t * ldq + head * d
                let lh = lse.data + (b * h + head) * t
                var t0 = 0
                while t0 < t {
                    let t1 = min(t, t0 + bq), rows = t1 - t0
                    let keys = min(tk, p.queryOffset + t1)
                    // S (rows, keys) = scale · Q_blk · K[0:keys]ᵀ
                    CPUBackend.sgemm(transA: false, transB: true, m: rows, n: keys, k: d,
                                alpha: p.scale, qh + t0 * ldq, lda: ldq, kh, ldb: ldk, beta: 0, s, ldc: keys)
                    let qOff = p.queryOffset + t0
                    parallelFor(rows, minChunk: 8) { r in
                        for i in r {
                            let row = s + i * keys
                            let valid = min(keys, qOff + i + 1)
                            var m = -Float.infinity
                            for j in 0..<valid { m = max(m, row[j]) }
                            var sum: Float = 0
                            for j in 0..<valid { let e = expf(row[j] - m); row[j] = e; sum += e }
                            let inv = 1 / sum
                            for j in 0..<valid { row[j] *= inv }
                            for j in valid..<keys { row[j] = 0 }
                            lh[t0 + i] = m + logf(sum)
                        }
                    }
                    // O_blk = P · V[0:keys]
                    CPUBackend.sgemm(transA: false, transB: false, m: rows, n: d, k: keys,
                                alpha: 1, s, lda: keys, vh, ldb: ldk, beta: 0, oh + t0 * ldq, ldc: ldq)
                    t0 = t1
                }
            }
        }
    }
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        Profiler.measure("attention bwd") {
        let d = p.headDim, h = p.heads, t = p.seqLen, tk = p.keyLen
        let rep = p.heads / p.kvHeads
        let ldq = h * d, ldk = p.kvHeads * d
        let bq = CPUBackend.attentionBlock
        let scratch = allocate(count: 2 * bq * tk)
        let pm = scratch.raw.assumingMemoryBound(to: Float.self)
        let dpm = pm + bq * tk
        for b in 0..<p.batch {
            for head in 0..<h {
                let g = head / rep
                let qh = q.data + b * t * ldq + head * d
                let kh = k.data + b * tk * ldk + g * d
                let vh = v.data + b * tk * ldk + g * d
                let oh = out.data + b * t * ldq + head * d
                let doh = dout.data + b * t * ldq + head * d
                let dqh = dq.data + b * t * ldq + head * d
                let dkh = dk.data + b * tk * ldk + g * d
                let dvh = dv.data + b * tk * ldk + g * d
                let lh = lse.data + (b * h + head) * t
                var t0 = 0
                while t0 < t {
                    let t1 = min(t, t0 + bq), rows = t1 - t0
                    let keys = min(tk, p.queryOffset + t1)
                    let qOff = p.queryOffset + t0
                    // Rebuild P = exp(scale · Q Kᵀ − lse), zero above the diagonal.
                    CPUBackend.sgemm(transA: false, transB: true, m: rows, n: keys, k: d,
                                alpha: p.scale, qh + t0 * ldq, lda: ldq, kh, ldb: ldk, beta: 0, pm, ldc: keys)
                    parallelFor(rows, minChunk: 8) { r in
                        for i in r {
                            let row = pm + i * keys
                            let valid = min(keys, qOff + i + 1)
                            let l = lh[t0 + i]
                            for j in 0..<valid { row[j] = expf(row[j] - l) }
                            for j in valid..<keys { row[j] = 0 }
                        }
                    }
                    // dV[0:keys] += Pᵀ · dO_blk
                    CPUBackend.sgemm(transA: true, transB: false, m: keys, n: d, k: rows,
                                alpha: 1, pm, lda: keys, doh + t0 * ldq, ldb: ldq, beta: 1, dvh, ldc: ldk)
                    // dP = dO_blk · V[0:keys]ᵀ
                    CPUBackend.sgemm(transA: false, transB: true, m: rows, n: keys, k: d,
                                alpha: 1, doh + t0 * ldq, lda: ldq, vh, ldb: ldk, beta: 0, dpm, ldc: keys)
                    // dS = P ⊙ (dP − rowsum(dO ⊙ O)), written over dP
                    parallelFor(rows, minChunk: 8) { r in
                        for i in r {
                            let o = oh + (t0 + i) * ldq, dO = doh + (t0 + i) * ldq
                            var di: Float = 0
                            for j in 0..<d { di += o[j] * dO[j] }
                            let prow = pm + i * keys, drow = dpm + i * keys
                            for j in 0..<keys { drow[j] = prow[j] * (drow[j] - di) }
                        }
                    }
                    // dQ_blk = scale · dS · K[0:keys]
                    CPUBackend.sgemm(transA: false, transB: false, m: rows, n: d, k: keys,
                                alpha: p.scale, dpm, lda: keys, kh, ldb: ldk, beta: 1, dqh + t0 * ldq, ldc: ldq)
                    // dK[0:keys] += scale · dSᵀ · Q_blk
                    CPUBackend.sgemm(transA: true, transB: false, m: keys, n: d, k: rows,
                                alpha: p.scale, dpm, lda: keys, qh + t0 * ldq, ldb: ldq, beta: 1, dkh, ldc: ldk)
                    t0 = t1
                }
            }
        }
    }
    }
}
