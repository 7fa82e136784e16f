import Foundation
import Testing
@testable import FinchTensor

// Every differentiable op against its f64 reference: forward within 1e-4 (relative to the largest
// output), gradients within 2e-3 of central finite differences computed in f64 (relative to the
// largest gradient). f32 arithmetic over these small sizes lands around 1e-6..1e-5.

@Suite struct GradCheckTests {
    func expectClose(_ r: (fwd: Double, grads: [Double]), fwdTol: Double = 1e-4, gradTol: Double = 2e-3) {
        #expect(r.fwd < fwdTol, "forward error \(r.fwd)")
        for (i, g) in r.grads.enumerated() { #expect(g < gradTol, "gradient \(i) error \(g)") }
    }

    @Test func linearWithBias() throws {
        let (n, i, o) = (5, 7, 3)
        expectClose(try gradCheck(shapes: [[n, i], [o, i], [o]], op: { try Ops.linear($0[0], $0[1], bias: $0[2]) },
                                  ref: { Ref.linear($0[0], $0[1], $0[2], n: n, inF: i, outF: o) }))
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulTransposes(ta: Bool, tb: Bool) throws {
        let (m, k, n) = (4, 6, 5)
        let aShape = ta ? [k, m] : [m, k], bShape = tb ? [n, k] : [k, n]
        expectClose(try gradCheck(shapes: [aShape, bShape], op: { try Ops.matmul($0[0], $0[1], transA: ta, transB: tb) },
                                  ref: { Ref.matmul($0[0], $0[1], batch: 1, ar: aShape[0], ac: aShape[1], br: bShape[0], bc: bShape[1], ta: ta, tb: tb) }))
    }

    @Test func matmulBatched() throws {
        expectClose(try gradCheck(shapes: [[3, 4, 5], [3, 6, 5]], op: { try Ops.matmul($0[0], $0[1], transB: true) },
                                  ref: { Ref.matmul($0[0], $0[1], batch: 3, ar: 4, ac: 5, br: 6, bc: 5, ta: false, tb: true) }))
    }

    @Test func addSubMulScale() throws {
        expectClose(try gradCheck(shapes: [[3, 4], [3, 4]], op: { try Ops.add($0[0], $0[1]) }, ref: { zip($0[0], $0[1]).map(+) }))
        expectClose(try gradCheck(shapes: [[3, 4], [3, 4]], op: { try Ops.sub($0[0], $0[1]) }, ref: { zip($0[0], $0[1]).map(-) }))
        expectClose(try gradCheck(shapes: [[3, 4], [3, 4]], op: { try Ops.mul($0[0], $0[1]) }, ref: { zip($0[0], $0[1]).map(*) }))
        expectClose(try gradCheck(shapes: [[3, 4]], op: { try Ops.scale($0[0], 0.37) }, ref: { $0[0].map { $0 * 0.37 } }))
        expectClose(try gradCheck(shapes: [[3, 4]], op: { try Ops.sum($0[0]) }, ref: { [$0[0].reduce(0, +)] }))
    }

    @Test func addBroadcastRow() throws {
        expectClose(try gradCheck(shapes: [[3, 4], [4]], op: { try Ops.add($0[0], $0[1]) },
                                  ref: { v in (0..<12).map { v[0][$0] + v[1][$0 % 4] } }))
    }

    @Test func siluAndSwiglu() throws {
        expectClose(try gradCheck(shapes: [[2, 9]], range: 4, op: { try Ops.silu($0[0]) }, ref: { $0[0].map(Ref.silu) }))
        expectClose(try gradCheck(shapes: [[2, 9], [2, 9]], range: 4, op: { try Ops.swiglu(gate: $0[0], up: $0[1]) },
                                  ref: { zip($0[0], $0[1]).map { Ref.silu($0) * $1 } }))
    }

    @Test func rmsNorm() throws {
        expectClose(try gradCheck(shapes: [[4, 8], [8]], op: { try Ops.rmsNorm($0[0], weight: $0[1], eps: 1e-5) },
                                  ref: { Ref.rmsNorm($0[0], $0[1], cols: 8, eps: 1e-5) }))
    }

    @Test(arguments: [RopeTable.Scaling.none,
                      .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16)])
    func rope(scaling: RopeTable.Scaling) throws {
        let (heads, d) = (3, 8)
        let table = RopeTable(headDim: d, maxPositions: 64, theta: 10_000, scaling: scaling)
        let positions: [Int32] = [0, 1, 5, 17, 63]
        // The reference recomputes the frequencies in f64 from the formula, including llama3 scaling.
        var inv = (0..<(d / 2)).map { 1 / pow(10_000.0, Double(2 * $0) / Double(d)) }
        if case let .llama3(f, lo, hi, orig) = scaling {
            inv = inv.map { w in
                let wave = 2 * Double.pi / w
                if wave < Double(orig) / Double(hi) { return w }
                if wave > Double(orig) / Double(lo) { return w / Double(f) }
                let s = (Double(orig) / wave - Double(lo)) / Double(hi - lo)
                return (1 - s) * w / Double(f) + s * w
            }
        }
        expectClose(try gradCheck(shapes: [[positions.count, heads * d]],
                                  op: { try Ops.rope($0[0], table: table, positions: positions, heads: heads) },
                                  ref: { Ref.rope($0[0], positions: positions.map(Int.init), heads: heads, headDim: d, invFreq: inv) }))
    }

    @Test(arguments: [(1, 5, 2, 2, 0), (2, 7, 4, 2, 0), (1, 70, 2, 1, 0), (2, 3, 4, 2, 4)])
    func attention(b: Int, t: Int, h: Int, kvh: Int, offset: Int) throws {
        let d = 4, tk = t + offset
        var p = AttentionParams(batch: b, seqLen: t, heads: h, kvHeads: kvh, headDim: d)
        p.queryOffset = offset
        p.keyLen = tk
        expectClose(try gradCheck(shapes: [[b * t, h * d], [b * tk, kvh * d], [b * tk, kvh * d]], range: 2,
                                  op: { try Ops.attention(q: $0[0], k: $0[1], v: $0[2], p) },
                                  ref: { Ref.attention(q: $0[0], k: $0[1], v: $0[2], b: b, t: t, tk: tk, h: h, kvh: kvh, d: d, offset: offset) }))
    }

    @Test func embedding() throws {
        let ids: [Int32] = [3, 0, 3, 2]
        expectClose(try gradCheck(shapes: [[5, 3]], op: { try Ops.embedding($0[0], ids: ids) },
                                  ref: { v in ids.flatMap { id in (0..<3).map { v[0][Int(id) * 3 + $0] } } }))
    }

    @Test func logSoftmax() throws {
        expectClose(try gradCheck(shapes: [[3, 7]], range: 3, op: { try Ops.logSoftmax($0[0]) }, ref: { Ref.logSoftmax($0[0], cols: 7) }))
    }

    @Test func linearCrossEntropyIgnoresPositions() throws {
        let (n, c, v) = (6, 5, 11)
        let labels: [Int32] = [3, -100, 10, 0, -100, 7]
        let r = try gradCheck(shapes: [[n, c], [v, c]], range: 1.5,
                              op: { try Ops.linearCrossEntropy(hidden: $0[0], weight: $0[1], labels: labels).loss },
                              ref: { vals in
                                  let logits = Ref.linear(vals[0], vals[1], nil, n: n, inF: c, outF: v)
                                  let lsm = Ref.logSoftmax(logits, cols: v)
                                  var s = 0.0
                                  for (i, l) in labels.enumerated() where l != -100 { s -= lsm[i * v + Int(l)] }
                                  return [s]
                              })
        expectClose(r)
        let counted = try Ops.linearCrossEntropy(hidden: tensor([Double](repeating: 0.1, count: n * c), [n, c]),
                                                 weight: tensor([Double](repeating: 0.2, count: v * c), [v, c]), labels: labels).count
        #expect(counted == 4)
    }

    /// Every row counted (no gather), and none: d(hidden) is written without a zero-filled buffer, so
    /// the pool's last contents (NaN here) must not show through.
    @Test func linearCrossEntropyDenseAndAllIgnored() throws {
        let (n, c, v) = (4, 5, 11)
        let dense: [Int32] = [3, 10, 0, 7]
        func dirtyPool() { for _ in 0..<4 { _ = Tensor.full([n, c], .nan) } }
        dirtyPool()
        expectClose(try gradCheck(shapes: [[n, c], [v, c]], range: 1.5,
                                  op: { try Ops.linearCrossEntropy(hidden: $0[0], weight: $0[1], labels: dense).loss },
                                  ref: { vals in
                                      let lsm = Ref.logSoftmax(Ref.linear(vals[0], vals[1], nil, n: n, inF: c, outF: v), cols: v)
                                      return [dense.enumerated().reduce(0.0) { $0 - lsm[$1.offset * v + Int($1.element)] }]
                                  }))
        dirtyPool()
        let h = tensor([Double](repeating: 0.3, count: n * c), [n, c], grad: true)
        let none = try Ops.linearCrossEntropy(hidden: h, weight: tensor([Double](repeating: 0.2, count: v * c), [v, c]),
                                              labels: [Int32](repeating: -100, count: n))
        try none.loss.backward()
        #expect(none.count == 0 && none.loss.item == 0)
        #expect(h.grad?.toArray() == [Float](repeating: 0, count: n * c))
    }

    /// The LM-head chunks: at most the byte budget each, all of one size (the last no smaller than needed).
    @Test func crossEntropyChunksAreEqualAndWithinBudget() {
        let vocab = 49152, budget = 96 << 20
        #expect(Ops.crossEntropyChunkRows(rows: 1024, vocab: vocab, chunkBytes: budget) == 512)
        #expect(Ops.crossEntropyChunkRows(rows: 1025, vocab: vocab, chunkBytes: budget) == 342)
        #expect(Ops.crossEntropyChunkRows(rows: 300, vocab: vocab, chunkBytes: budget) == 300)
        #expect(Ops.crossEntropyChunkRows(rows: 5, vocab: 1 << 30, chunkBytes: budget) == 1)
        for rows in [1, 7, 511, 512, 513, 1000, 4096] {
            let chunk = Ops.crossEntropyChunkRows(rows: rows, vocab: vocab, chunkBytes: budget)
            let chunks = (rows + chunk - 1) / chunk
            #expect(chunk * vocab * 4 <= budget && chunks * chunk - rows < chunks, "rows \(rows): chunk \(chunk)")
        }
    }

    @Test func reshapePassesGradients() throws {
        expectClose(try gradCheck(shapes: [[2, 6]], op: { try Ops.scale(try $0[0].reshaped([3, -1]), 2) }, ref: { $0[0].map { $0 * 2 } }))
    }
}
