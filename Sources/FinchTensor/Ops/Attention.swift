import CBLAS
import CFinchKernels
import Dispatch
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
            gq?.accumulate(fresh: dq)
            gk?.accumulate(fresh: dk)
            gv?.accumulate(fresh: dv)
        }
    }
}

extension CPUBackend {
    static let attentionBlock = 64

    /// One thread's matrix product inside attention's per-head loop (the heads are what run in
    /// parallel): the packed kernel single-threaded, or OpenBLAS (threaded) when heads run serially.
    @inline(__always)
    static func headGemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                         _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                         _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if usePackedGemm {
            finch_sgemm_avx512(ta ? 1 : 0, tb ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        } else {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// Threads that run attention's (batch, head) units side by side: all of them with the packed
    /// single-threaded kernel, else one (OpenBLAS threads each product instead).
    static var attentionThreads: Int { usePackedGemm ? ThreadBudget.count : 1 }

    /// Runs `body(units, scratch)` over attention's `count` units on `attentionThreads` threads, each
    /// with its own `scratch` floats (kept alive until all are done).
    func attentionUnits(_ count: Int, scratch perThread: Int,
                        _ body: (_ units: Range<Int>, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
        let threads = CPUBackend.attentionThreads
        let scratch = allocate(count: threads * perThread)
        let base = scratch.raw.assumingMemoryBound(to: Float.self)
        parallelChunks(count, threads: threads) { worker, units in body(units, base + worker * perThread) }
        withExtendedLifetime(scratch) {}
    }

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        Profiler.measure("attention fwd") {
        let d = p.headDim, h = p.heads, t = p.seqLen
        let ldq = p.queryStride, ldk = p.keyStride
        let bq = CPUBackend.attentionBlock
        // One unit per (batch, query head); each thread owns a score block.
        attentionUnits(p.batch * h, scratch: bq * p.keyLen) { units, s in
            for unit in units {
                let b = unit / h, head = unit % h
                let g = head / p.groupSize
                let qh = q.data + p.queryHead(b, head), oh = out.data + p.queryHead(b, head)
                let kh = k.data + p.keyHead(b, g), vh = v.data + p.keyHead(b, g)
                let lh = lse.data + (b * h + head) * t
                p.forEachQueryBlock(bq) { t0, rows, keys in
                    // S (rows, keys) = scale · Q_blk · K[0:keys]ᵀ
                    CPUBackend.headGemm(false, true, rows, keys, d, p.scale, qh + t0 * ldq, ldq, kh, ldk, 0, s, keys)
                    for i in 0..<rows {
                        let row = s + i * keys
                        let valid = p.visibleKeys(t0 + i, keys)
                        let m = finch_max_f32(row, valid)
                        let sum = finch_exp_shift_sum_f32(row, row, valid, m)
                        let inv = 1 / sum
                        for j in 0..<valid { row[j] *= inv }
                        maskScores(row, valid: valid, keys: keys)
                        lh[t0 + i] = m + logf(sum)
                    }
                    // O_blk = P · V[0:keys]
                    CPUBackend.headGemm(false, false, rows, d, keys, 1, s, keys, vh, ldk, 0, oh + t0 * ldq, ldq)
                }
            }
        }
    }
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        Profiler.measure("attention bwd") {
        let d = p.headDim, h = p.heads, t = p.seqLen
        let ldq = p.queryStride, ldk = p.keyStride
        let bq = CPUBackend.attentionBlock
        // One unit per (batch, key/value head): the query heads that share it run in one thread,
        // so their dK/dV accumulations never race. Each thread owns a P and a dP block.
        attentionUnits(p.batch * p.kvHeads, scratch: 2 * bq * p.keyLen) { units, pm in
            let dpm = pm + bq * p.keyLen
            for unit in units {
                let b = unit / p.kvHeads, g = unit % p.kvHeads
                let kh = k.data + p.keyHead(b, g), vh = v.data + p.keyHead(b, g)
                let dkh = dk.data + p.keyHead(b, g), dvh = dv.data + p.keyHead(b, g)
                for head in (g * p.groupSize)..<((g + 1) * p.groupSize) {
                    let qh = q.data + p.queryHead(b, head), oh = out.data + p.queryHead(b, head)
                    let doh = dout.data + p.queryHead(b, head), dqh = dq.data + p.queryHead(b, head)
                    let lh = lse.data + (b * h + head) * t
                    p.forEachQueryBlock(bq) { t0, rows, keys in
                        // Rebuild P = exp(scale · Q Kᵀ − lse), zero above the diagonal.
                        CPUBackend.headGemm(false, true, rows, keys, d, p.scale, qh + t0 * ldq, ldq, kh, ldk, 0, pm, keys)
                        for i in 0..<rows {
                            let row = pm + i * keys
                            let valid = p.visibleKeys(t0 + i, keys)
                            _ = finch_exp_shift_sum_f32(row, row, valid, lh[t0 + i])
                            maskScores(row, valid: valid, keys: keys)
                        }
                        // dV[0:keys] += Pᵀ · dO_blk
                        CPUBackend.headGemm(true, false, keys, d, rows, 1, pm, keys, doh + t0 * ldq, ldq, 1, dvh, ldk)
                        // dP = dO_blk · V[0:keys]ᵀ
                        CPUBackend.headGemm(false, true, rows, keys, d, 1, doh + t0 * ldq, ldq, vh, ldk, 0, dpm, keys)
                        // dS = P ⊙ (dP − rowsum(dO ⊙ O)), written over dP
                        for i in 0..<rows {
                            let o = oh + (t0 + i) * ldq, dO = doh + (t0 + i) * ldq
                            var di: Float = 0
                            for j in 0..<d { di += o[j] * dO[j] }
                            let prow = pm + i * keys, drow = dpm + i * keys
                            for j in 0..<keys { drow[j] = prow[j] * (drow[j] - di) }
                        }
                        // dQ_blk = scale · dS · K[0:keys]
                        CPUBackend.headGemm(false, false, rows, d, keys, p.scale, dpm, keys, kh, ldk, 1, dqh + t0 * ldq, ldq)
                        // dK[0:keys] += scale · dSᵀ · Q_blk
                        CPUBackend.headGemm(true, false, keys, d, rows, p.scale, dpm, keys, qh + t0 * ldq, ldq, 1, dkh, ldk)
                    }
                }
            }
        }
    }
    }
}

/// The row layout both CPU loops walk, q/out (B·T, H·D) and k/v (B·Tk, KVH·D), and the causal blocks.
extension AttentionParams {
    /// Query heads per key/value head.
    var groupSize: Int { heads / kvHeads }
    /// Row strides: of q, out and their gradients; of k, v and theirs.
    var queryStride: Int { heads * headDim }
    var keyStride: Int { kvHeads * headDim }
    /// Where query head `head` of batch `b` starts (in q, out, dout and dq).
    func queryHead(_ b: Int, _ head: Int) -> Int { b * seqLen * queryStride + head * headDim }
    /// Where key/value head `g` of batch `b` starts (in k, v, dk and dv).
    func keyHead(_ b: Int, _ g: Int) -> Int { b * keyLen * keyStride + g * headDim }

    /// Calls `body(t0, rows, keys)` for each block of at most `block` queries from t0; `keys` is
    /// how many keys the block's last query sees (only those are touched).
    @inline(__always)
    func forEachQueryBlock(_ block: Int, _ body: (_ t0: Int, _ rows: Int, _ keys: Int) -> Void) {
        var t0 = 0
        while t0 < seqLen {
            let t1 = min(seqLen, t0 + block)
            body(t0, t1 - t0, min(keyLen, queryOffset + t1))
            t0 = t1
        }
    }

    /// How many of a block's `keys` query `t` sees (the rest of its score row is masked).
    func visibleKeys(_ t: Int, _ keys: Int) -> Int { min(keys, queryOffset + t + 1) }
}

/// Zeroes the masked tail of a score row: probabilities of keys past `valid`.
@inline(__always)
private func maskScores(_ row: UnsafeMutablePointer<Float>, valid: Int, keys: Int) {
    if valid < keys { (row + valid).update(repeating: 0, count: keys - valid) }
}
