import CBLAS
import CFinchKernels
import Dispatch
import Foundation

// Causal scaled-dot-product attention with grouped-query heads, computed a block of 32 queries at
// a time: only keys up to the block's last position are touched (about half the work of a full
// T×T product), and memory holds one (32 × T) score block, never the (T × T) matrix per head.
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
            // The CPU backward writes every element of dq, dk and dv; other backends get zeros to add to.
            let fresh = { (shape: [Int]) in
                q.device == .cpu ? Tensor(uninitialized: shape, device: q.device) : Tensor.zeros(shape, device: q.device)
            }
            let dq = fresh(q.shape), dk = fresh(k.shape), dv = fresh(v.shape)
            q.backend.attentionBackward(p, q: q, k: k, v: v, out: saved, lse: lse, dout: dout, dq: dq, dk: dk, dv: dv)
            gq?.accumulate(fresh: dq)
            gk?.accumulate(fresh: dk)
            gv?.accumulate(fresh: dv)
        }
    }
}

extension CPUBackend {
    /// Queries per block: 32 rather than 64 halves the masked half of each diagonal block (the causal work
    /// done and thrown away: 11 % of a 256-token head's products rather than 20 %).
    static let attentionBlock = 32

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

    /// Threads that run attention's units side by side: all of them with the packed
    /// single-threaded kernel, else one (OpenBLAS threads each product instead).
    static var attentionThreads: Int { usePackedGemm ? ThreadBudget.count : 1 }

    /// Floats between two threads' scratch shares of `perThread` floats: whole 64-byte lines, because the packed
    /// kernels load the packed keys at a share's start with aligned loads (a 24-query block made the shares 72
    /// floats longer than a multiple of 16, and the second thread's first load faulted), and so that no two
    /// threads write one line.
    static func scratchStride(_ perThread: Int) -> Int { (perThread + 15) / 16 * 16 }

    /// Runs `body(unit, scratch)` for attention's `count` units on `attentionThreads` threads, each with its own
    /// `scratch` floats (kept alive until all are done). Each thread takes the next unit as it finishes one, the
    /// heaviest first by `work` where given. The causal forward's units differ in work (a query block sees more
    /// keys the later it is), and equal shares of a 256-token prompt's units left one thread 35 % more than the other.
    func attentionUnits(_ count: Int, threads: Int = CPUBackend.attentionThreads, scratch perThread: Int, work: ((Int) -> Int)? = nil,
                        _ body: (_ unit: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
        let threads = min(threads, count)
        let stride = CPUBackend.scratchStride(perThread)
        let scratch = allocate(count: threads * stride)
        let base = scratch.raw.assumingMemoryBound(to: Float.self)
        let order = work.map { w in (0..<count).sorted { w($0) > w($1) } } ?? Array(0..<count)
        let next = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        next.initialize(to: 0)
        defer { next.deallocate() }
        let lock = NSLock()
        // The pool runs workers at the calling thread's ISA level (a test's `CPUISA.with` override included).
        parallelPerform(threads, threads: threads) { worker in
            while true {
                lock.lock()
                let i = next.pointee
                next.pointee += 1
                lock.unlock()
                guard i < count else { return }
                body(order[i], base + worker * stride)
            }
        }
        withExtendedLifetime(scratch) {}
    }

    /// Gathers group `g`'s query rows t0 ..< t0+rows into `qs` and writes S = scale · Q_grp · K[0:keys]ᵀ,
    /// a (group · rows) × keys block, reading Kᵀ from `packedK` where given.
    static func groupScores(_ p: AttentionParams, _ q: UnsafePointer<Float>, _ kh: UnsafePointer<Float>, packedK: PackedKeys?,
                            _ b: Int, _ g: Int, _ t0: Int, _ rows: Int, _ keys: Int, qs: UnsafeMutablePointer<Float>,
                            into s: UnsafeMutablePointer<Float>) {
        p.gatherGroup(q, b, g, t0, rows, into: qs)
        keyProduct(p.groupSize * rows, keys, p.headDim, p.scale, qs, p.headDim, kh, p.keyStride, packedK, s)
    }

    /// C (m × keys) = alpha · A (m × d) · X[0:keys]ᵀ for X a head's keys or values (rows `ldx` apart): from `packed`
    /// (Xᵀ packed once for the unit's query blocks) where given and m is above the narrow kernels' rows, else
    /// `headGemm`, which packs X[0:keys]ᵀ again for this block alone.
    @inline(__always)
    static func keyProduct(_ m: Int, _ keys: Int, _ d: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                           _ x: UnsafePointer<Float>, _ ldx: Int, _ packed: PackedKeys?, _ c: UnsafeMutablePointer<Float>) {
        if let packed, m > 16, keys <= packed.keys,
           finch_sgemm_packed_tile(packed.level, 0, m, packed.keys, d, alpha, a, lda, packed.floats, 0, 0, 0, 0, nil, 1,
                                   nil, 1, 0, c, keys, 0, m, 0, keys) == 0 { return }
        headGemm(false, true, m, keys, d, alpha, a, lda, x, ldx, 0, c, keys)
    }

    /// Xᵀ of a head's first `keys` keys or values, packed once (finch_sgemm_pack_b) for the score-like products
    /// (S = Q·Kᵀ, dP = dO·Vᵀ) of all the query blocks of a unit, each of which reads a prefix of its panels: packing
    /// it again for every block cost as much as a third of those products (keys × d floats transposed for each
    /// 96 × keys × d product).
    struct PackedKeys {
        let floats: UnsafeMutablePointer<Float>
        let keys: Int
        let level: Int32

        /// Floats one packed head of `p` takes at the calling thread's level; 0 where products are not packed.
        static func floats(_ p: AttentionParams) -> Int {
            guard CPUBackend.usePackedGemm else { return 0 }
            // Whole cache lines, so that what follows in the scratch stays aligned as the packed panels must be.
            return (finch_sgemm_packed_floats(finch_isa_active(), p.keyLen, p.headDim) + 15) / 16 * 16
        }

        /// Packs X[0:keys]ᵀ (X rows `ldx` apart) into `buffer` (`floats(p)` of it, 64-byte aligned); nil where
        /// the level has no packed kernel.
        init?(_ x: UnsafePointer<Float>, keys: Int, _ p: AttentionParams, ldx: Int, into buffer: UnsafeMutablePointer<Float>) {
            let level = finch_isa_active()
            guard keys > 0, finch_sgemm_packed_floats(level, keys, p.headDim) > 0,
                  finch_sgemm_pack_b(level, 1, keys, p.headDim, x, ldx, buffer) == 0 else { return nil }
            (floats, self.keys, self.level) = (buffer, keys, level)
        }
    }

    /// Query blocks per forward unit: a key/value head's blocks share one packed Kᵀ, so a unit takes as many of
    /// them as still leaves about four units a thread (all of a head's blocks for a training batch on a few cores;
    /// one block a unit for a single sequence on many).
    static func forwardSpan(heads: Int, blocks: Int) -> Int {
        let perHead = min(blocks, max(1, (4 * attentionThreads + heads - 1) / heads))
        return (blocks + perHead - 1) / perHead
    }

    // The query heads that share a key/value head (a GQA group) run as one product: their rows of a
    // query block are gathered into a (group · rows) × d matrix, head after head, so K and V are
    // packed once for the whole group and the products have 3× the rows (9 heads / 3 KV heads).

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        Profiler.measure("attention fwd") {
        let d = p.headDim, t = p.seqLen, g = p.groupSize
        let ldk = p.keyStride, bq = CPUBackend.attentionBlock
        let blocks = (t + bq - 1) / bq, mMax = g * bq
        // One unit per (batch, key/value head, run of `span` query blocks): blocks are independent in the
        // forward. Scratch: the packed Kᵀ, the gathered Q and O blocks, the score block, 1 / row sums.
        let span = CPUBackend.forwardSpan(heads: p.batch * p.kvHeads, blocks: blocks), spans = (blocks + span - 1) / span
        let packedFloats = PackedKeys.floats(p)
        // A unit's work: the keys its blocks see.
        let work = { (unit: Int) in
            let first = unit % spans * span
            return (first..<min(blocks, first + span)).reduce(0) { $0 + p.queryBlock($1, bq).keys }
        }
        attentionUnits(p.batch * p.kvHeads * spans, scratch: packedFloats + 2 * mMax * d + mMax * p.keyLen + mMax,
                       work: work) { unit, base in
            let qs = base + packedFloats, os = qs + mMax * d, s = os + mMax * d, inv = s + mMax * p.keyLen
            let bg = unit / spans, b = bg / p.kvHeads, kvh = bg % p.kvHeads
            let first = unit % spans * span, last = min(blocks, first + span)
            let kh = k.data + p.keyHead(b, kvh), vh = v.data + p.keyHead(b, kvh)
            let packedK = packedFloats > 0 && last - first > 1
                ? PackedKeys(kh, keys: p.queryBlock(last - 1, bq).keys, p, ldx: ldk, into: base) : nil
            for blk in first..<last {
                let (t0, rows, keys) = p.queryBlock(blk, bq)
                let m = g * rows
                CPUBackend.groupScores(p, q.data, kh, packedK: packedK, b, kvh, t0, rows, keys, qs: qs, into: s)
                // exp(S − max) at the visible keys (row i of a head sees keys 0 … queryOffset + t0 + i), 0 past
                // them; 1 / row sums and the log-sum-exp for the backward.
                finch_attention_softmax_rows_f32(s, g, rows, keys, p.queryOffset + t0 + 1, inv,
                                                 lse.data + (b * p.heads + kvh * g) * t + t0, t)
                // O_grp = (exp(S − max) · V[0:keys]) / row sums: the normalisation is applied to the
                // d-wide output rows as they are scattered, not to the keys-wide score rows.
                CPUBackend.headGemm(false, false, m, d, keys, 1, s, keys, vh, ldk, 0, os, d)
                p.scatterGroup(os, rowScale: inv, into: out.data, b, kvh, t0, rows)
            }
        }
    }
    }

    /// The query blocks of each backward unit: `[0, blocks]` (a key/value head's blocks in one unit) unless the heads
    /// are too few to keep the threads busy (4 × 3 for a training batch on 16 threads: 12 units, each as long as a
    /// head's whole backward, left a quarter of the threads idle), then runs of blocks of about equal work (the keys
    /// they see), as many as make about two units a thread. The bounds are the runs' first blocks, then `blocks`.
    static func backwardSpans(heads: Int, blocks: Int, threads: Int, work: (Int) -> Int) -> [Int] {
        let spans = min(blocks, max(1, (2 * threads + heads - 1) / max(1, heads)))
        guard spans > 1 else { return [0, blocks] }
        let total = (0..<blocks).reduce(0) { $0 + work($1) }
        var bounds = [0], sum = 0
        for blk in 0..<blocks - 1 where bounds.count < spans {
            sum += work(blk)
            // Close a run at its share of the work, or when every run still to come needs one of the blocks left.
            if sum * spans >= total * bounds.count || blocks - blk - 1 == spans - bounds.count { bounds.append(blk + 1) }
        }
        return bounds + [blocks]
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        attentionBackward(p, q: q, k: k, v: v, out: out, lse: lse, dout: dout, dq: dq, dk: dk, dv: dv, threads: CPUBackend.attentionThreads)
    }

    /// The backward on `threads` threads (tests ask for more than the machine's to split the heads into runs).
    func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                           dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, threads: Int) {
        Profiler.measure("attention bwd") {
        let d = p.headDim, t = p.seqLen, g = p.groupSize
        let ldk = p.keyStride, bq = CPUBackend.attentionBlock
        let blocks = (t + bq - 1) / bq, mMax = g * bq
        // Keys any query sees; dK/dV rows past it get no gradient.
        let seen = t > 0 ? min(p.keyLen, p.queryOffset + t) : 0
        // One unit per (batch, key/value head, run of query blocks): a run's blocks go in one thread, in turn, so
        // their dK/dV accumulations never race. The run with a head's last block sums into dK/dV; the others each
        // into their own partial dK/dV (`partial`, as many keys as their last block sees), added to dK/dV after.
        // Scratch: packed Kᵀ and Vᵀ, gathered Q, dO and dQ blocks, P and dP blocks, D.
        let heads = p.batch * p.kvHeads
        let bounds = CPUBackend.backwardSpans(heads: heads, blocks: blocks, threads: threads) { p.queryBlock($0, bq).keys }
        let spans = bounds.count - 1
        let spanKeys = (0..<spans).map { p.queryBlock(bounds[$0 + 1] - 1, bq).keys }
        let partialKeys = spans > 1 ? spanKeys[spans - 2] : 0
        let partial = spans > 1 ? allocate(count: heads * (spans - 1) * 2 * partialKeys * d) : nil
        let partials = partial?.raw.assumingMemoryBound(to: Float.self)
        let packedFloats = PackedKeys.floats(p)
        let perThread = 2 * packedFloats + 3 * mMax * d + 2 * mMax * p.keyLen + mMax
        let work = { (unit: Int) in
            let span = unit % spans
            return (bounds[span]..<bounds[span + 1]).reduce(0) { $0 + p.queryBlock($1, bq).keys }
        }
        attentionUnits(heads * spans, threads: threads, scratch: perThread, work: spans > 1 ? work : nil) { unit, base in
            let qs = base + 2 * packedFloats, dos = qs + mMax * d, dqs = dos + mMax * d
            let pm = dqs + mMax * d, dpm = pm + mMax * p.keyLen, dd = dpm + mMax * p.keyLen
            let head = unit / spans, span = unit % spans, b = head / p.kvHeads, kvh = head % p.kvHeads
            let first = bounds[span], last = bounds[span + 1], isLast = span == spans - 1
            let kh = k.data + p.keyHead(b, kvh), vh = v.data + p.keyHead(b, kvh)
            let packs = packedFloats > 0 && last - first > 1
            let packedK = packs ? PackedKeys(kh, keys: spanKeys[span], p, ldx: ldk, into: base) : nil
            let packedV = packs ? PackedKeys(vh, keys: spanKeys[span], p, ldx: ldk, into: base + packedFloats) : nil
            let dkh: UnsafeMutablePointer<Float>, dvh: UnsafeMutablePointer<Float>, ldo: Int
            if isLast {
                (dkh, dvh, ldo) = (dk.data + p.keyHead(b, kvh), dv.data + p.keyHead(b, kvh), ldk)
                for r in seen..<p.keyLen {
                    (dkh + r * ldk).update(repeating: 0, count: d)
                    (dvh + r * ldk).update(repeating: 0, count: d)
                }
            } else {
                let own = partials! + (head * (spans - 1) + span) * 2 * partialKeys * d  // spans > 1: allocated
                (dkh, dvh, ldo) = (own, own + partialKeys * d, d)
            }
            // The run's last block first: it sees every key the run does, so it writes dK/dV (β = 0) and the rest add.
            for blk in stride(from: last - 1, through: first, by: -1) {
                let (t0, rows, keys) = p.queryBlock(blk, bq)
                let m = g * rows, beta: Float = blk == last - 1 ? 0 : 1
                p.gatherGroup(dout.data, b, kvh, t0, rows, into: dos)
                // S = scale · Q Kᵀ; D = rowsum(dO ⊙ O); dP = dO_grp · V[0:keys]ᵀ.
                CPUBackend.groupScores(p, q.data, kh, packedK: packedK, b, kvh, t0, rows, keys, qs: qs, into: pm)
                for r in 0..<m {
                    let i = r % rows, qh = kvh * g + r / rows
                    dd[r] = dotF32(dos + r * d, out.data + p.queryHead(b, qh) + (t0 + i) * p.queryStride, d)
                }
                CPUBackend.keyProduct(m, keys, d, 1, dos, d, vh, ldk, packedV, dpm)
                // One sweep over both blocks: P = exp(S − lse) over S, dS = P ⊙ (dP − D) over dP, both zero
                // above the diagonal (row i of a head sees keys 0 … queryOffset + t0 + i).
                finch_attention_grad_rows_f32(pm, dpm, g, rows, keys, p.queryOffset + t0 + 1,
                                              lse.data + (b * p.heads + kvh * g) * t + t0, t, dd)
                // dV[0:keys] (+)= Pᵀ · dO_grp
                CPUBackend.headGemm(true, false, keys, d, m, 1, pm, keys, dos, d, beta, dvh, ldo)
                // dQ_grp = scale · dS · K[0:keys] (each query row once, so written, not added)
                CPUBackend.headGemm(false, false, m, d, keys, p.scale, dpm, keys, kh, ldk, 0, dqs, d)
                p.scatterGroup(dqs, rowScale: nil, into: dq.data, b, kvh, t0, rows)
                // dK[0:keys] (+)= scale · dSᵀ · Q_grp
                CPUBackend.headGemm(true, false, keys, d, m, p.scale, dpm, keys, qs, d, beta, dkh, ldo)
            }
        }
        // The other runs' partial dK/dV onto the heads' (in run order, the same for any thread count that splits alike).
        if let partials {
            parallelPerform(heads, threads: threads) { head in
                let b = head / p.kvHeads, kvh = head % p.kvHeads
                let dkh = dk.data + p.keyHead(b, kvh), dvh = dv.data + p.keyHead(b, kvh)
                for span in 0..<spans - 1 {
                    let own = partials + (head * (spans - 1) + span) * 2 * partialKeys * d
                    for r in 0..<spanKeys[span] {
                        for c in 0..<d {
                            dkh[r * ldk + c] += own[r * d + c]
                            dvh[r * ldk + c] += own[partialKeys * d + r * d + c]
                        }
                    }
                }
            }
        }
        withExtendedLifetime(partial) {}
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

    /// Query block `index` of at most `block` queries: its first query, its rows, and how many keys
    /// its last query sees (only those are touched).
    @inline(__always)
    func queryBlock(_ index: Int, _ block: Int) -> (t0: Int, rows: Int, keys: Int) {
        let t0 = index * block, t1 = min(seqLen, t0 + block)
        return (t0, t1 - t0, min(keyLen, queryOffset + t1))
    }

    /// Copies rows t0 ..< t0+rows of the query heads of group `g` (batch `b`) out of a (B·T, H·D)
    /// tensor into `dst` as a (group · rows) × headDim matrix, head after head.
    @inline(__always)
    func gatherGroup(_ src: UnsafePointer<Float>, _ b: Int, _ g: Int, _ t0: Int, _ rows: Int,
                     into dst: UnsafeMutablePointer<Float>) {
        for j in 0..<groupSize {
            let head = src + queryHead(b, g * groupSize + j) + t0 * queryStride
            for i in 0..<rows { (dst + (j * rows + i) * headDim).update(from: head + i * queryStride, count: headDim) }
        }
    }

    /// The inverse of `gatherGroup`, each row times `rowScale[row]` when given.
    @inline(__always)
    func scatterGroup(_ src: UnsafePointer<Float>, rowScale: UnsafePointer<Float>?, into dst: UnsafeMutablePointer<Float>,
                      _ b: Int, _ g: Int, _ t0: Int, _ rows: Int) {
        for j in 0..<groupSize {
            let head = dst + queryHead(b, g * groupSize + j) + t0 * queryStride
            for i in 0..<rows {
                let r = j * rows + i, from = src + r * headDim, to = head + i * queryStride
                if let scale = rowScale?[r] {
                    for c in 0..<headDim { to[c] = from[c] * scale }
                } else {
                    to.update(from: from, count: headDim)
                }
            }
        }
    }
}

/// Σ a[i] · b[i] in 16 f32 lanes (a scalar loop would not vectorise: the sum's order is fixed).
@inline(__always)
private func dotF32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(), i = 0
    while i + 16 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var sum = acc.sum()
    while i < n { sum += a[i] * b[i]; i += 1 }
    return sum
}
