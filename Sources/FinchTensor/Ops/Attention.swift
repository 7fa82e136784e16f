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

    /// A head's query blocks in `count` sets of about equal work (`work(block)`: the keys it sees), each block,
    /// heaviest first, to the set with the least work so far. Each set lists its blocks heaviest first, and set 0
    /// holds the heaviest block. Sets rather than runs of neighbouring blocks: a causal head's blocks see 1, 2, …
    /// 8 times the first one's keys, so runs of them are uneven (3 runs of 8 blocks: 15, 13 and 8), while the
    /// first and last blocks together weigh what the second and second-to-last do (4 sets of 9).
    static func blockSets(blocks: Int, count: Int, work: (Int) -> Int) -> [[Int]] {
        var sets = [[Int]](repeating: [], count: count), load = [Int](repeating: 0, count: count)
        for blk in (0..<blocks).sorted(by: { (work($0), $0) > (work($1), $1) }) {
            let g = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            sets[g].append(blk)
            load[g] += work(blk)
        }
        return sets
    }

    /// Sets a head's blocks go in (`blockSets`) so that the heads × sets units keep `threads` threads evenly
    /// busy: for 1 up to about four units a thread, the time the last thread finishes when each takes the next
    /// unit, heaviest first (as `attentionUnits` hands them out); the fewest sets within 2 % of the best, because
    /// each set packs its keys again (and in the backward sums into its own partial dK/dV). A training batch of
    /// 4 × 3 heads takes 1 set on 2 or 4 threads, 2 on 8 and 4 on 16 (runs of neighbouring blocks left a quarter
    /// of 16 threads idle).
    static func blockSetCount(heads: Int, blocks: Int, threads: Int, work: (Int) -> Int) -> Int {
        guard heads > 0, blocks > 1, threads > 1 else { return 1 }
        let most = min(blocks, max(1, (4 * threads + heads - 1) / heads))
        var best = Int.max, chosen = 1, finish = [Int](repeating: 0, count: most)
        for count in 1...most {
            let loads = blockSets(blocks: blocks, count: count, work: work).map { $0.reduce(0) { $0 + work($1) } }
            var threadLoad = [Int](repeating: 0, count: min(threads, heads * count))
            for load in loads.sorted(by: >) {
                for _ in 0..<heads {
                    let t = threadLoad.indices.min { threadLoad[$0] < threadLoad[$1] }!
                    threadLoad[t] += load
                }
            }
            finish[count - 1] = threadLoad.max()!
            best = min(best, finish[count - 1])
        }
        while finish[chosen - 1] * 50 > best * 51 { chosen += 1 }
        return chosen
    }

    // The query heads that share a key/value head (a GQA group) run as one product: their rows of a
    // query block are gathered into a (group · rows) × d matrix, head after head, so K and V are
    // packed once for the whole group and the products have 3× the rows (9 heads / 3 KV heads).

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        attentionForward(p, q: q, k: k, v: v, out: out, lse: lse, threads: CPUBackend.attentionThreads)
    }

    /// The forward on `threads` threads (tests ask for more than the machine's to split the heads into sets).
    func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, threads: Int) {
        Profiler.measure("attention fwd") {
        let d = p.headDim, t = p.seqLen, g = p.groupSize
        let ldk = p.keyStride, bq = CPUBackend.attentionBlock
        let blocks = (t + bq - 1) / bq, mMax = g * bq
        // One unit per (batch, key/value head, set of query blocks): blocks are independent in the forward, and a
        // set's share one packed Kᵀ. Scratch: the packed Kᵀ, the gathered Q and O blocks, the score block, 1 / row sums.
        let heads = p.batch * p.kvHeads, keys = { (blk: Int) in p.queryBlock(blk, bq).keys }
        let sets = CPUBackend.blockSets(blocks: blocks, count: CPUBackend.blockSetCount(heads: heads, blocks: blocks, threads: threads, work: keys),
                                            work: keys)
        let packedFloats = PackedKeys.floats(p)
        // A unit's work: the keys its blocks see.
        let work = { (unit: Int) in sets[unit % sets.count].reduce(0) { $0 + keys($1) } }
        attentionUnits(heads * sets.count, threads: threads, scratch: packedFloats + 2 * mMax * d + mMax * p.keyLen + mMax,
                       work: work) { unit, base in
            let qs = base + packedFloats, os = qs + mMax * d, s = os + mMax * d, inv = s + mMax * p.keyLen
            let head = unit / sets.count, b = head / p.kvHeads, kvh = head % p.kvHeads, unitBlocks = sets[unit % sets.count]
            let kh = k.data + p.keyHead(b, kvh), vh = v.data + p.keyHead(b, kvh)
            // Heaviest block first: the packed Kᵀ covers every key the set's blocks see.
            let packedK = packedFloats > 0 && unitBlocks.count > 1 ? PackedKeys(kh, keys: keys(unitBlocks[0]), p, ldx: ldk, into: base) : nil
            for blk in unitBlocks {
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

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        attentionBackward(p, q: q, k: k, v: v, out: out, lse: lse, dout: dout, dq: dq, dk: dk, dv: dv, threads: CPUBackend.attentionThreads)
    }

    /// The backward on `threads` threads (tests ask for more than the machine's to split the heads into sets).
    func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                           dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, threads: Int) {
        Profiler.measure("attention bwd") {
        let d = p.headDim, t = p.seqLen, g = p.groupSize
        let ldk = p.keyStride, bq = CPUBackend.attentionBlock
        let blocks = (t + bq - 1) / bq, mMax = g * bq
        // Keys any query sees; dK/dV rows past it get no gradient.
        let seen = t > 0 ? min(p.keyLen, p.queryOffset + t) : 0
        // One unit per (batch, key/value head, set of query blocks): a set's blocks go in one thread, in turn, so
        // their dK/dV accumulations never race. Set 0 (it holds a head's last block) sums into dK/dV; the others
        // each into their own partial dK/dV (`partial`, as many keys as any of them sees), added to dK/dV after.
        // Scratch: packed Kᵀ and Vᵀ, gathered Q, dO and dQ blocks, P and dP blocks, D.
        let heads = p.batch * p.kvHeads, keys = { (blk: Int) in p.queryBlock(blk, bq).keys }
        let sets = CPUBackend.blockSets(blocks: blocks, count: CPUBackend.blockSetCount(heads: heads, blocks: blocks, threads: threads, work: keys),
                                            work: keys)
        let partialKeys = sets.dropFirst().map { keys($0[0]) }.max() ?? 0
        let partial = sets.count > 1 ? allocate(count: heads * (sets.count - 1) * 2 * partialKeys * d) : nil
        let partials = partial?.raw.assumingMemoryBound(to: Float.self)
        let packedFloats = PackedKeys.floats(p)
        let perThread = 2 * packedFloats + 3 * mMax * d + 2 * mMax * p.keyLen + mMax
        let work = { (unit: Int) in sets[unit % sets.count].reduce(0) { $0 + keys($1) } }
        attentionUnits(heads * sets.count, threads: threads, scratch: perThread, work: sets.count > 1 ? work : nil) { unit, base in
            let qs = base + 2 * packedFloats, dos = qs + mMax * d, dqs = dos + mMax * d
            let pm = dqs + mMax * d, dpm = pm + mMax * p.keyLen, dd = dpm + mMax * p.keyLen
            let head = unit / sets.count, index = unit % sets.count, unitBlocks = sets[index]
            let b = head / p.kvHeads, kvh = head % p.kvHeads
            let kh = k.data + p.keyHead(b, kvh), vh = v.data + p.keyHead(b, kvh)
            let packs = packedFloats > 0 && unitBlocks.count > 1
            let packedK = packs ? PackedKeys(kh, keys: keys(unitBlocks[0]), p, ldx: ldk, into: base) : nil
            let packedV = packs ? PackedKeys(vh, keys: keys(unitBlocks[0]), p, ldx: ldk, into: base + packedFloats) : nil
            let dkh: UnsafeMutablePointer<Float>, dvh: UnsafeMutablePointer<Float>, ldo: Int
            if index == 0 {
                (dkh, dvh, ldo) = (dk.data + p.keyHead(b, kvh), dv.data + p.keyHead(b, kvh), ldk)
                for r in seen..<p.keyLen {
                    (dkh + r * ldk).update(repeating: 0, count: d)
                    (dvh + r * ldk).update(repeating: 0, count: d)
                }
            } else {
                let own = partials! + (head * (sets.count - 1) + index - 1) * 2 * partialKeys * d  // sets > 1: allocated
                (dkh, dvh, ldo) = (own, own + partialKeys * d, d)
            }
            // Heaviest block first: it sees every key the set does, so it writes dK/dV (β = 0) and the rest add.
            for blk in unitBlocks {
                let (t0, rows, keys) = p.queryBlock(blk, bq)
                let m = g * rows, beta: Float = blk == unitBlocks[0] ? 0 : 1
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
        // The other sets' partial dK/dV onto the heads' (in set order, the same for any thread count that sets alike).
        if let partials {
            parallelPerform(heads, threads: threads) { head in
                let b = head / p.kvHeads, kvh = head % p.kvHeads
                let dkh = dk.data + p.keyHead(b, kvh), dvh = dv.data + p.keyHead(b, kvh)
                for index in 1..<sets.count {
                    let own = partials + (head * (sets.count - 1) + index - 1) * 2 * partialKeys * d
                    for r in 0..<keys(sets[index][0]) {
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
