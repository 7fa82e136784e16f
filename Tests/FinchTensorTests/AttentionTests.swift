import Foundation
import Testing
@testable import FinchTensor

// The CPU attention (GQA groups stacked into one product, causal query blocks of 64, dq/dk/dv
// written without zero-filling) against a naive f64 reference of the forward and the backward, at
// every runnable ISA level. Tolerance: 1e-4 of the largest reference value (f32 sums over ≤ 200
// keys land near 1e-6).

@Suite struct AttentionTests {
    struct Case: Sendable, CustomStringConvertible {
        let b: Int, t: Int, h: Int, kvh: Int, d: Int, offset: Int, extraKeys: Int
        var tk: Int { offset + t + extraKeys }
        var description: String { "b\(b) t\(t) h\(h)/\(kvh) d\(d) offset \(offset) tk \(tk)" }
    }

    static let cases: [Case] = [
        Case(b: 2, t: 130, h: 6, kvh: 2, d: 32, offset: 0, extraKeys: 0),   // groups of 3, a 2-row last block
        Case(b: 1, t: 67, h: 3, kvh: 3, d: 24, offset: 5, extraKeys: 0),    // no grouping, a key cache in front
        Case(b: 1, t: 70, h: 8, kvh: 2, d: 20, offset: 3, extraKeys: 9),    // keys no query sees: zero gradient
        Case(b: 3, t: 9, h: 4, kvh: 1, d: 64, offset: 0, extraKeys: 0),     // one short block, a group of 4
        // A training batch's layout: enough heads that each forward unit takes several blocks over one packed Kᵀ
        // (on up to 11 threads).
        Case(b: 4, t: 100, h: 6, kvh: 3, d: 64, offset: 0, extraKeys: 0),
    ]

    @Test(arguments: cases)
    func matchesNaiveReferenceAtEveryISA(c: Case) throws {
        let (qv, kv, vv, dov, ref, p) = Self.inputs(c, seed: 7)
        for level in CPUISA.runnable {
            try CPUISA.with(level) {
                let q = tensor(qv, [c.b * c.t, c.h * c.d], grad: true)
                let k = tensor(kv, [c.b * c.tk, c.kvh * c.d], grad: true), v = tensor(vv, [c.b * c.tk, c.kvh * c.d], grad: true)
                let out = try Ops.attention(q: q, k: k, v: v, p)
                try out.backward(seed: tensor(dov, out.shape))
                let got = [out, q.grad!, k.grad!, v.grad!].map { $0.toArray().map(Double.init) }
                for (name, (g, r)) in zip(["out", "dq", "dk", "dv"], zip(got, [ref.out, ref.dq, ref.dk, ref.dv])) {
                    let err = maxRelError(g, r)
                    #expect(err < 1e-4, "\(c) \(level): \(name) error \(err)")
                }
            }
        }
    }

    /// Every unit runs once, on a scratch share that starts on a 64-byte line and overlaps no other thread's,
    /// whatever the share's length (the packed kernels read packed keys at its start with aligned loads). How many
    /// threads take part depends on the pool (busy with another test, it runs the units inline), so the stride
    /// between shares is checked directly too.
    @Test func unitScratchIsLineAlignedAndPrivate() {
        for perThread in [72 + 1, 96, 4099] {
            let stride = CPUBackend.scratchStride(perThread)
            #expect(stride >= perThread && stride % 16 == 0 && stride - perThread < 16, "stride \(stride) for \(perThread)")
            let lock = NSLock()
            var seen: [Int] = [], starts: Set<Int> = []
            Backends.cpu.attentionUnits(7, scratch: perThread) { unit, scratch in
                scratch.update(repeating: Float(unit), count: perThread)  // the whole share is writable
                usleep(2000)  // so that, when the pool is free, every thread takes a unit
                lock.lock()
                seen.append(unit)
                starts.insert(Int(bitPattern: scratch))
                lock.unlock()
            }
            #expect(seen.sorted() == Array(0..<7))
            #expect(!starts.isEmpty && starts.count <= min(7, CPUBackend.attentionThreads))
            #expect(starts.allSatisfy { $0 % 64 == 0 })
            let sorted = starts.sorted()
            for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b - a >= perThread * MemoryLayout<Float>.stride) }
        }
    }

    /// The score-like products over a head's Kᵀ packed once (`PackedKeys`), for every prefix of keys a query
    /// block reads, against the same product packing per call (`headGemm`): the same kernel, so within rounding
    /// of the sums (1e-5 of the largest value).
    @Test func packedKeyProductsMatchPerCallProducts() throws {
        var rng = TestRNG(9)
        let d = 64, ldk = 3 * d, total = 130, m = 96
        let k = rng.array(total * ldk, -2, 2).map(Float.init), a = rng.array(m * d).map(Float.init)
        var p = AttentionParams(batch: 1, seqLen: total, heads: 3, kvHeads: 3, headDim: d)
        p.keyLen = total
        for level in CPUISA.runnable where level != .scalar {
            CPUISA.with(level) {
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: CPUBackend.PackedKeys.floats(p) + 16)
                defer { buffer.deallocate() }
                let aligned = UnsafeMutablePointer<Float>(bitPattern: (Int(bitPattern: buffer) + 63) & ~63)!
                k.withUnsafeBufferPointer { kp in
                    a.withUnsafeBufferPointer { ap in
                        let head = kp.baseAddress! + d  // the second key/value head of the row
                        guard let packed = CPUBackend.PackedKeys(head, keys: total, p, ldx: ldk, into: aligned) else {
                            Issue.record("no packed kernel at \(level)")
                            return
                        }
                        for keys in [1, 31, 32, 33, 64, 65, 100, 130] {
                            var got = [Float](repeating: .nan, count: m * keys), want = got
                            CPUBackend.keyProduct(m, keys, d, 0.125, ap.baseAddress!, d, head, ldk, packed, &got)
                            CPUBackend.headGemm(false, true, m, keys, d, 0.125, ap.baseAddress!, d, head, ldk, 0, &want, keys)
                            let scale = want.map(abs).max()!
                            let err = zip(got, want).map { abs($0 - $1) }.max()!
                            #expect(err <= 1e-5 * scale, "\(level), \(keys) keys: \(err)")
                        }
                    }
                }
            }
        }
    }

    /// The backward's runs of query blocks (`backwardSpans`): one run a head while the heads keep the threads busy;
    /// else runs of about equal work (keys seen), each with at least one block, covering every block once.
    @Test func backwardRunsSplitTheBlocksByWork() {
        let keys = { (blk: Int) in 32 * (blk + 1) }  // a 256-token sequence in blocks of 32
        #expect(CPUBackend.backwardSpans(heads: 12, blocks: 8, threads: 2, work: keys) == [0, 8])
        #expect(CPUBackend.backwardSpans(heads: 12, blocks: 8, threads: 6, work: keys) == [0, 8])
        // 16 threads, 12 heads: three runs of 480, 448 and 256 keys.
        #expect(CPUBackend.backwardSpans(heads: 12, blocks: 8, threads: 16, work: keys) == [0, 5, 7, 8])
        // More runs wanted than blocks: one block each.
        #expect(CPUBackend.backwardSpans(heads: 1, blocks: 3, threads: 16, work: keys) == [0, 1, 2, 3])
        #expect(CPUBackend.backwardSpans(heads: 1, blocks: 1, threads: 16, work: keys) == [0, 1])
        for blocks in 1...9 {
            for threads in [1, 3, 8, 16, 64] {
                let bounds = CPUBackend.backwardSpans(heads: 2, blocks: blocks, threads: threads, work: keys)
                #expect(bounds.first == 0 && bounds.last == blocks && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "\(bounds)")
                #expect(bounds.count - 1 == min(blocks, (2 * threads + 1) / 2), "\(blocks) blocks, \(threads) threads: \(bounds)")
            }
        }
    }

    /// The backward on 16 threads for 6 key/value heads: each head's 7 query blocks in 6 runs, all but the last
    /// summing into partial dK/dV added after; keys in front of the queries and keys no query sees. Against the
    /// naive reference at every ISA level with a packed kernel (more threads than heads need one).
    @Test func backwardInRunsMatchesReference() throws {
        let c = Case(b: 2, t: 200, h: 9, kvh: 3, d: 32, offset: 4, extraKeys: 6)
        let (qv, kv, vv, dov, ref, p) = Self.inputs(c, seed: 11)
        #expect(CPUBackend.backwardSpans(heads: 6, blocks: 7, threads: 16) { p.queryBlock($0, CPUBackend.attentionBlock).keys }.count - 1 == 6)
        for level in CPUISA.runnable where level != .scalar {
            CPUISA.with(level) {
                guard CPUBackend.usePackedGemm else { return }
                let q = tensor(qv, [c.b * c.t, c.h * c.d]), k = tensor(kv, [c.b * c.tk, c.kvh * c.d]), v = tensor(vv, [c.b * c.tk, c.kvh * c.d])
                let out = Tensor(uninitialized: q.shape), lse = Tensor(uninitialized: [c.b, c.h, c.t])
                let dq = Tensor(uninitialized: q.shape), dk = Tensor(uninitialized: k.shape), dv = Tensor(uninitialized: v.shape)
                dk.data.update(repeating: .nan, count: dk.count)
                dv.data.update(repeating: .nan, count: dv.count)
                Backends.cpu.attentionForward(p, q: q, k: k, v: v, out: out, lse: lse)
                Backends.cpu.attentionBackward(p, q: q, k: k, v: v, out: out, lse: lse, dout: tensor(dov, q.shape),
                                               dq: dq, dk: dk, dv: dv, threads: 16)
                let got = [out, dq, dk, dv].map { $0.toArray().map(Double.init) }
                for (name, (g, r)) in zip(["out", "dq", "dk", "dv"], zip(got, [ref.out, ref.dq, ref.dk, ref.dv])) {
                    let err = maxRelError(g, r)
                    #expect(err < 1e-4, "\(c) \(level): \(name) error \(err)")
                }
            }
        }
    }

    /// Random q, k, v and dO for `c` (values in [-2, 2] for q and k), their f64 reference, and the parameters.
    static func inputs(_ c: Case, seed: UInt64)
        -> (q: [Double], k: [Double], v: [Double], dout: [Double], ref: (out: [Double], dq: [Double], dk: [Double], dv: [Double]), p: AttentionParams) {
        var rng = TestRNG(seed)
        let qv = rng.array(c.b * c.t * c.h * c.d, -2, 2)
        let kv = rng.array(c.b * c.tk * c.kvh * c.d, -2, 2), vv = rng.array(c.b * c.tk * c.kvh * c.d)
        let dov = rng.array(c.b * c.t * c.h * c.d)
        var p = AttentionParams(batch: c.b, seqLen: c.t, heads: c.h, kvHeads: c.kvh, headDim: c.d)
        p.queryOffset = c.offset
        p.keyLen = c.tk
        return (qv, kv, vv, dov, reference(c, q: qv, k: kv, v: vv, dout: dov), p)
    }

    /// Softmax attention and its gradients, one query row at a time in f64.
    static func reference(_ c: Case, q: [Double], k: [Double], v: [Double], dout: [Double])
        -> (out: [Double], dq: [Double], dk: [Double], dv: [Double]) {
        var out = [Double](repeating: 0, count: q.count), dq = out
        var dk = [Double](repeating: 0, count: k.count), dv = dk
        let scale = 1 / Double(c.d).squareRoot(), ldq = c.h * c.d, ldk = c.kvh * c.d
        for b in 0..<c.b { for head in 0..<c.h { for i in 0..<c.t {
            let qi = (b * c.t + i) * ldq + head * c.d
            let kj = { (j: Int) in (b * c.tk + j) * ldk + head / (c.h / c.kvh) * c.d }
            let valid = c.offset + i + 1
            let s = (0..<valid).map { j in (0..<c.d).reduce(0.0) { $0 + q[qi + $1] * k[kj(j) + $1] } * scale }
            let m = s.max()!, e = s.map { exp($0 - m) }, z = e.reduce(0, +), pr = e.map { $0 / z }
            for l in 0..<c.d { out[qi + l] = (0..<valid).reduce(0.0) { $0 + pr[$1] * v[kj($1) + l] } }
            let dp = (0..<valid).map { j in (0..<c.d).reduce(0.0) { $0 + dout[qi + $1] * v[kj(j) + $1] } }
            let dd = (0..<valid).reduce(0.0) { $0 + pr[$1] * dp[$1] }
            for j in 0..<valid {
                let ds = pr[j] * (dp[j] - dd) * scale
                for l in 0..<c.d {
                    dq[qi + l] += ds * k[kj(j) + l]
                    dk[kj(j) + l] += ds * q[qi + l]
                    dv[kj(j) + l] += pr[j] * dout[qi + l]
                }
            }
        } } }
        return (out, dq, dk, dv)
    }
}
