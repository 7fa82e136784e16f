import CFinchKernels
import Testing
@testable import FinchTensor

/// Pre-packed B (finch_sgemm_pack_b / finch_sgemm_packed_tile, CPUBackend's PackedWeights): a frozen weight packed
/// once gives the products the unpacked path gives.
/// - The C kernel at every packed level against an f64 reference of C = α·op(A)·op(B) + α·α₂·op(A2)·op(B2) + β·C:
///   both orientations of B, op(A) both ways, a fused branch (k2 ≤ 64), a wider one (run as a second product), none;
///   several k blocks with a ragged last one, ragged register tiles, C in four tiles (columns split at a panel
///   boundary). Tolerance: f32 accumulation, 1e-5 of the sum of |terms| per element; C's padding never written.
/// - Through the backend: a LoRA linear's output and gradients with its weight registered equal those without
///   (2e-5 absolute on values of order 1), and releasing the weights empties the registry.
@Suite struct SgemmPackedTests {
    static var packedLevels: [CPUISA] { CPUISA.runnable.filter { $0 != .scalar } }

    @Test func theScalarLevelPacksNothing() {
        #expect(finch_sgemm_packed_floats(Int32(CPUISA.scalar.rawValue), 64, 64) == 0)
        #expect(finch_sgemm_packed_panel(Int32(CPUISA.scalar.rawValue)) == 0)
    }

    @Test(arguments: packedLevels)
    func packedTilesMatchReference(level: CPUISA) {
        // (m, n, k, k2)
        let shapes = [(37, 109, 331, 16), (100, 96, 300, 0), (13, 33, 600, 8), (60, 130, 513, 80), (25, 40, 20, 5), (150, 64, 256, 64)]
        CPUISA.with(level) {
            for (si, (m, n, k, k2)) in shapes.enumerated() {
                for transA in [false, true] {
                    for transB in [false, true] {
                        check(level, m, n, k, k2, transA: transA, transB: transB, beta: si % 2 == 0 ? 0 : 0.5, seed: UInt64(si * 4 + (transA ? 2 : 0) + (transB ? 1 : 0)))
                    }
                }
            }
        }
    }

    func check(_ level: CPUISA, _ m: Int, _ n: Int, _ k: Int, _ k2: Int, transA: Bool, transB: Bool, beta: Float, seed: UInt64) {
        var rng = TestRNG(seed)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.uniform()) } }
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 3
        let a = values((transA ? k : m) * lda), b = values((transB ? n : k) * ldb)
        let lda2 = k2 + 1, ldb2 = k2 + 2  // branch: A2 m × k2 untransposed, B2 stored n × k2 (the forward's x·A ᵀ, Bᵀ)
        let a2 = values(m * lda2), b2 = values(n * ldb2)
        let c0 = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : Float(rng.uniform()) }
        let alpha: Float = 0.75, alpha2: Float = 1.5
        let lv = Int32(level.rawValue)
        let floats = finch_sgemm_packed_floats(lv, n, k)
        #expect(floats > 0)
        var packed = [Float](repeating: .nan, count: floats + 16)
        var c = c0
        packed.withUnsafeMutableBufferPointer { pp in
            // 64-byte alignment, as the backend's buffers have.
            let base = UnsafeMutableRawPointer(pp.baseAddress!)
            let aligned = base.alignedUp(toMultipleOf: 64).assumingMemoryBound(to: Float.self)
            #expect(finch_sgemm_pack_b(lv, transB ? 1 : 0, n, k, b, ldb, aligned) == 0)
            let panel = finch_sgemm_packed_panel(lv)
            let mSplit = m / 3, nSplit = max(1, n / 2 / panel) * panel
            c.withUnsafeMutableBufferPointer { cp in
                for (m0, m1, n0, n1) in [(0, mSplit, 0, nSplit), (0, mSplit, nSplit, n), (mSplit, m, 0, nSplit), (mSplit, m, nSplit, n)] {
                    let rc = finch_sgemm_packed_tile(lv, transA ? 1 : 0, m, n, k, alpha, a, lda, aligned, 0, 1, k2, alpha2, a2, lda2,
                                                     b2, ldb2, beta, cp.baseAddress!, ldc, m0, m1, n0, n1)
                    #expect(rc == 0)
                }
                // A column offset off the panel grid is refused, writing nothing.
                let before = Array(cp)
                #expect(finch_sgemm_packed_tile(lv, transA ? 1 : 0, m, n, k, alpha, a, lda, aligned, 0, 1, k2, alpha2, a2, lda2,
                                                b2, ldb2, beta, cp.baseAddress!, ldc, 0, m, 1, n) == -1)
                #expect(zip(before, cp).allSatisfy { $0.bitPattern == $1.bitPattern })
            }
        }
        func at(_ x: [Float], _ ld: Int, _ trans: Bool, _ i: Int, _ j: Int) -> Double { Double(trans ? x[j * ld + i] : x[i * ld + j]) }
        var bad = 0, touched = 0
        for i in 0..<m {
            for j in 0..<n {
                var ref = 0.0, mag = 0.0
                for p in 0..<k { let t = Double(alpha) * at(a, lda, transA, i, p) * at(b, ldb, transB, p, j); ref += t; mag += abs(t) }
                for p in 0..<k2 { let t = Double(alpha * alpha2) * Double(a2[i * lda2 + p]) * Double(b2[j * ldb2 + p]); ref += t; mag += abs(t) }
                if beta != 0 { ref += Double(beta) * Double(c0[i * ldc + j]); mag += abs(Double(c0[i * ldc + j])) }
                if !(abs(Double(c[i * ldc + j]) - ref) <= 1e-5 * mag + 1e-30) {
                    bad += 1
                    if bad < 5 { Issue.record("\(level) \(m)×\(n)×\(k)+\(k2) tA \(transA) tB \(transB) [\(i),\(j)]: \(c[i * ldc + j]) vs \(ref)") }
                }
            }
            for j in n..<ldc where c[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern { touched += 1 }
        }
        #expect(bad == 0)
        #expect(touched == 0)
    }

    /// A LoRA linear over `w` and a plain linear beside it, summed and run backward: [y, the plain product, dx, dA, dB].
    static func loraProducts(_ w: Tensor, x xv: [Float], a av: [Float], b bv: [Float], dy dyv: [Float], rank r: Int) throws -> [[Float]] {
        let outF = w.shape[0], inF = w.shape[1], n = xv.count / inF
        let x = try Tensor(xv, shape: [n, inF]); x.requiresGrad = true
        let a = try Tensor(av, shape: [r, inF]); a.requiresGrad = true
        let b = try Tensor(bv, shape: [outF, r]); b.requiresGrad = true
        let y = try Ops.loraLinear(x, weight: w, bias: nil, a: a, b: b, scale: 1.25)
        let plain = try Ops.linear(x, w)
        try Ops.add(y, plain).backward(seed: try Tensor(dyv, shape: [n, outF]))
        return [y.toArray(), plain.toArray(), x.grad!.toArray(), a.grad!.toArray(), b.grad!.toArray()]
    }

    /// A LoRA linear over a registered (packed) weight: forward y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ and backward dx = dy·W + …
    /// through the packed kernels, the same as over the weight unregistered, at every packed level. Shapes above a
    /// million multiply-adds, so the threaded split runs too.
    @Test(arguments: packedLevels)
    func registeredWeightsGiveTheSameLoRAProducts(level: CPUISA) throws {
        var rng = TestRNG(77)
        func values(_ count: Int, _ scale: Float = 1) -> [Float] { (0..<count).map { _ in Float(rng.uniform() * 2 - 1) * scale } }
        let (n, inF, outF, r) = (96, 200, 136, 8)  // n·in·out ≈ 2.6 M multiply-adds
        let xv = values(n * inF), wv = values(outF * inF, 0.3), av = values(r * inF, 0.3), bv = values(outF * r, 0.3), dyv = values(n * outF)
        let backend = Backends.cpu
        try CPUISA.with(level) {
            let w = try Tensor(wv, shape: [outF, inF])
            func run() throws -> [[Float]] { try Self.loraProducts(w, x: xv, a: av, b: bv, dy: dyv, rank: r) }
            let unpacked = try run()
            let bytes = backend.packFrozenWeights(transposed: [w], plain: [w], budgetBytes: 1 << 30)
            #expect(bytes == PackedWeights.bytes(rows: outF, cols: inF, transposed: true) + PackedWeights.bytes(rows: outF, cols: inF, transposed: false))
            var forward = GemmParams(m: n, n: outF, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF)
            #expect(backend.packedWeights.lookup(forward, b: w) != nil)
            let backward = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
            #expect(backend.packedWeights.lookup(backward, b: w) != nil)
            forward.ldb = inF + 1  // not the registered layout
            #expect(backend.packedWeights.lookup(forward, b: w) == nil)
            let packed = try run()
            backend.releasePackedWeights([w])
            #expect(backend.packedWeights.lookup(backward, b: w) == nil)
            for (i, (got, want)) in zip(packed, unpacked).enumerated() {
                let err = zip(got, want).map { abs($0 - $1) }.max()!, scale = want.map { abs($0) }.max()!
                #expect(err <= 1e-5 * scale, "\(level) output \(i): max |Δ| \(err), largest |value| \(scale)")
            }
        }
    }

    /// A stored (16-bit or quantized) weight registered as it is: packing decodes it, its products read the packed
    /// forms, and a LoRA linear's output and gradients over it equal those over its f32 decoding unregistered (the
    /// unpacked path), 1e-5 of the largest value; releasing it sends its products back to the stored path
    /// (`gemmStoredB`), with the same results.
    @Test(arguments: packedLevels, [DType.f16, .q8_0])
    func storedWeightsArePackedWithoutAnF32Copy(level: CPUISA, dtype: DType) throws {
        var rng = TestRNG(91)
        func values(_ count: Int, _ scale: Float = 1) -> [Float] { (0..<count).map { _ in Float(rng.uniform() * 2 - 1) * scale } }
        let (n, inF, outF, r) = (96, 224, 136, 8)  // in a multiple of q8_0's 32-element blocks
        let xv = values(n * inF), wv = values(outF * inF, 0.3), av = values(r * inF, 0.3), bv = values(outF * r, 0.3), dyv = values(n * outF)
        let bytes = try #require(dtype.byteCount(elements: outF * inF))
        let storage = TensorStorage(pooledBytes: bytes, dtype: dtype)
        try wv.withUnsafeBufferPointer { try quantize(dtype, $0.baseAddress!, into: storage.raw, count: outF * inF) }
        let stored = Tensor(shape: [outF, inF], storage: storage)
        var decoded = [Float](repeating: 0, count: outF * inF)
        decoded.withUnsafeMutableBufferPointer { dequantize(dtype, UnsafeRawPointer(storage.raw), into: $0.baseAddress!, count: outF * inF) }
        let backend = Backends.cpu
        try CPUISA.with(level) {
            func run(_ w: Tensor) throws -> [[Float]] { try Self.loraProducts(w, x: xv, a: av, b: bv, dy: dyv, rank: r) }
            let want = try run(try Tensor(decoded, shape: [outF, inF]))
            let taken = backend.packFrozenWeights(transposed: [stored], plain: [stored], budgetBytes: 1 << 30)
            #expect(taken == PackedWeights.bytes(rows: outF, cols: inF, transposed: true) + PackedWeights.bytes(rows: outF, cols: inF, transposed: false))
            let forward = GemmParams(m: n, n: outF, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF)
            let backward = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
            #expect(backend.packedWeights.lookup(forward, b: stored) != nil)
            #expect(backend.packedWeights.lookup(backward, b: stored) != nil)
            #expect(stored.dtype == dtype)  // registered as it is: no f32 copy replaces it
            let packed = try run(stored)
            backend.releasePackedWeights([stored])
            #expect(backend.packedWeights.lookup(forward, b: stored) == nil)
            let unpacked = try run(stored)
            #expect(DeviceErrors.pending == nil)
            for (label, got) in [("packed", packed), ("stored path", unpacked)] {
                for (i, (g, w)) in zip(got, want).enumerated() {
                    let err = zip(g, w).map { abs($0 - $1) }.max()!, scale = w.map { abs($0) }.max()!
                    #expect(err <= 1e-5 * scale, "\(level) \(dtype) \(label) output \(i): max |Δ| \(err), largest |value| \(scale)")
                }
            }
        }
    }

    /// The budget is kept (forward orientations first), trainable weights are never packed, and the plan
    /// (what the memory estimate counts) is what packing takes.
    @Test func packingKeepsToTheBudgetAndSkipsTrainableWeights() throws {
        guard CPUBackend.usePackedGemm else { return }
        let backend = Backends.cpu
        let w1 = try Tensor([Float](repeating: 0.5, count: 64 * 48), shape: [64, 48])
        let w2 = try Tensor([Float](repeating: 0.25, count: 64 * 48), shape: [64, 48])
        let trainable = try Tensor([Float](repeating: 1, count: 64 * 48), shape: [64, 48]); trainable.requiresGrad = true
        let one = PackedWeights.bytes(rows: 64, cols: 48, transposed: true)
        #expect(one > 0)
        // Room for three: both forward orientations, then w1's plain one; the trainable weight never.
        let budget = one * 3 + PackedWeights.bytes(rows: 64, cols: 48, transposed: false) - 1
        let planned = backend.packedWeightBytes(transposed: [w1, trainable, w2], plain: [w1, w2], budgetBytes: budget)
        let taken = backend.packFrozenWeights(transposed: [w1, trainable, w2], plain: [w1, w2], budgetBytes: budget)
        defer { backend.releasePackedWeights([w1, w2, trainable]) }
        #expect(taken == planned)
        #expect(taken == 2 * one + PackedWeights.bytes(rows: 64, cols: 48, transposed: false))
        #expect(taken <= budget)
        let fwd = GemmParams(m: 32, n: 64, k: 48, transA: false, transB: true, lda: 48, ldb: 48, ldc: 64)
        let bwd = GemmParams(m: 32, n: 48, k: 64, transA: false, transB: false, lda: 64, ldb: 48, ldc: 48)
        #expect(backend.packedWeights.lookup(fwd, b: w2) != nil)
        #expect(backend.packedWeights.lookup(bwd, b: w1) != nil)
        #expect(backend.packedWeights.lookup(bwd, b: w2) == nil)
        #expect(backend.packedWeights.lookup(fwd, b: trainable) == nil)
    }
}
