import CBLAS
import CFinchKernels
import Dispatch
import Foundation

// Matrix products: `linear` (y = x·Wᵀ + b, the layer every projection uses; W may be stored
// quantized) and `matmul` (general, with transposes and a batch dimension).

extension Ops {
    /// y = x · Wᵀ (+ bias). x (…, in) f32; W (out, in) in any DType; bias (out) f32. → (…, out)
    public static func linear(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try requireF32("linear", x)
        guard w.rank == 2, x.cols == w.shape[1] else {
            throw TensorError.shapeMismatch(op: "linear", lhs: x.shape, rhs: w.shape)
        }
        if let bias { guard bias.count == w.shape[0] else { throw TensorError.shapeMismatch(op: "linear bias", lhs: w.shape, rhs: bias.shape) } }
        let n = x.rows, inF = w.shape[1], outF = w.shape[0]
        var yShape = x.shape
        yShape[yShape.count - 1] = outF
        let y = Tensor(uninitialized: yShape, device: x.device)
        // Decoding and short prompts (a few rows, no gradient): read the quantized weights directly, decoding
        // each block in registers once for all the rows, instead of decoding whole matrices into scratch for a
        // product. `FINCH_DECODE=int8` (8-bit activations) goes row by row, up to 7 rows.
        if n <= ExactMatVec.maxRows, x.device == .cpu, ExactMatVec.hasKernel(w.dtype), inF % 32 == 0,
           !(GradMode.isEnabled && x.needsGrad), !(ExactMatVec.useInt8Activations && n >= 8) {
            if ExactMatVec.useInt8Activations {
                for r in 0..<n {
                    try QuantMatVec.multiply(weights: w.rawBytes, dtype: w.dtype, rows: outF, cols: inF, x: x.data + r * inF, y: y.data + r * outF)
                }
            } else if n == 1 {
                ExactMatVec.multiply(weights: w.rawBytes, dtype: w.dtype, rows: outF, cols: inF, x: x.data, y: y.data)
            } else {
                ExactMatVec.multiplyRows(weights: w.rawBytes, dtype: w.dtype, rows: outF, cols: inF, x: x.data, count: n, y: y.data)
            }
            if let bias { x.backend.elementwise(.addRow, y, bias, out: y) }
            return y
        }
        // (N,in)·(out,in)ᵀ → (N,out)
        x.backend.gemm(GemmParams(m: n, n: outF, k: inF, transA: false, transB: true, lda: inF, ldb: inF, ldc: outF), a: x, b: w, c: y)
        if let bias { x.backend.elementwise(.addRow, y, bias, out: y) }
        var inputs = [x, w]
        if let bias { inputs.append(bias) }
        let gx = x.gradSink, gw = w.gradSink, gb = bias?.gradSink
        // Saved for the backward: W for dx, x for dW (only what is needed).
        let savedW = gx != nil ? w.detached() : nil, savedX = gw != nil ? x.detached() : nil
        let wShape = w.shape
        return y.record(inputs) { dy in
            if let gx, let w = savedW {
                // dx (N,in) += dy (N,out) · W (out,in)
                gx.accumulateProduct { dx, beta in
                    var p = GemmParams(m: n, n: inF, k: outF, transA: false, transB: false, lda: outF, ldb: inF, ldc: inF)
                    p.beta = beta
                    dy.backend.gemm(p, a: dy, b: w, c: dx)
                }
            }
            if let gw, let x = savedX {
                // dW (out,in) = dyᵀ (out,N) · x (N,in)
                let dw = Tensor(uninitialized: wShape, device: dy.device)
                dy.backend.gemm(GemmParams(m: outF, n: inF, k: n, transA: true, transB: false, lda: outF, ldb: inF, ldc: inF), a: dy, b: x, c: dw)
                gw.accumulate(fresh: dw)
            }
            if let gb { gb.accumulate(fresh: columnSums(dy)) }
        }
    }

    /// C = op(A) · op(B) for 2-D operands, or batched over the first dimension of 3-D operands.
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) throws -> Tensor {
        try requireF32("matmul", a, b)
        guard (a.rank == 2 && b.rank == 2) || (a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0]) else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: a.shape, rhs: b.shape)
        }
        let batched = a.rank == 3
        let batch = batched ? a.shape[0] : 1
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transA ? (ac, ar) : (ar, ac)
        let (k2, n) = transB ? (bc, br) : (br, bc)
        guard k == k2 else { throw TensorError.shapeMismatch(op: "matmul", lhs: a.shape, rhs: b.shape) }
        let c = Tensor(uninitialized: batched ? [batch, m, n] : [m, n], device: a.device)
        func params(_ m: Int, _ n: Int, _ k: Int, _ ta: Bool, _ tb: Bool, _ lda: Int, _ ldb: Int, _ ldc: Int,
                    _ sa: Int, _ sb: Int, _ sc: Int) -> GemmParams {
            var p = GemmParams(m: m, n: n, k: k, transA: ta, transB: tb, lda: lda, ldb: ldb, ldc: ldc)
            p.batch = batch; p.strideA = sa; p.strideB = sb; p.strideC = sc
            return p
        }
        a.backend.gemm(params(m, n, k, transA, transB, ac, bc, n, ar * ac, br * bc, m * n), a: a, b: b, c: c)
        let ga = a.gradSink, gb = b.gradSink
        let inputs = [a, b]
        let a = gb != nil ? a.detached() : nil, b = ga != nil ? b.detached() : nil
        let aShape = inputs[0].shape, bShape = inputs[1].shape
        return c.record(inputs) { dc in
            if let ga, let b {
                let da = Tensor(uninitialized: aShape, device: dc.device)
                if !transA {
                    // dA (m,k) = dC (m,n) · op(B)ᵀ
                    dc.backend.gemm(params(m, k, n, false, !transB, n, bc, ac, m * n, br * bc, ar * ac), a: dc, b: b, c: da)
                } else {
                    // A stored (k,m): dA = op(B) · dCᵀ
                    dc.backend.gemm(params(k, m, n, transB, true, bc, n, ac, br * bc, m * n, ar * ac), a: b, b: dc, c: da)
                }
                ga.accumulate(fresh: da)
            }
            if let gb, let a {
                let db = Tensor(uninitialized: bShape, device: dc.device)
                if !transB {
                    // dB (k,n) = op(A)ᵀ · dC
                    dc.backend.gemm(params(k, n, m, !transA, false, ac, n, bc, ar * ac, m * n, br * bc), a: a, b: dc, c: db)
                } else {
                    // B stored (n,k): dB = dCᵀ · op(A)
                    dc.backend.gemm(params(n, k, m, true, transA, n, ac, bc, m * n, ar * ac, br * bc), a: dc, b: a, c: db)
                }
                gb.accumulate(fresh: db)
            }
        }
    }
}

extension CPUBackend {
    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        if DeviceErrors.isPending { return }  // an allocation failed: its result is thrown away (Backend)
        Profiler.measure(CPUBackend.profileShapes ? "gemm \(p.m)×\(p.n)×\(p.k) \(p.transA ? "T" : "N")\(p.transB ? "T" : "N")\(p.batch > 1 ? " ×\(p.batch)" : "")\(a.dtype == .f32 && b.dtype == .f32 ? "" : " stored")" : "gemm") {
        // A registered frozen weight, f32 or stored, is read from its packed form.
        if let packed = packedB(p, a: a, b: b) {
            return CPUBackend.sgemmPacked(packed, p, a.data + p.offsetA, b.dtype == .f32 ? b.data + p.offsetB : nil, branch: nil, c.data + p.offsetC)
        }
        if a.dtype == .f32 && b.dtype == .f32 {
            for i in 0..<p.batch {
                sgemm(p, a.data + p.offsetA + i * p.strideA, b.data + p.offsetB + i * p.strideB, c.data + p.offsetC + i * p.strideC,
                      m: p.m, n: p.n, k: p.k, beta: p.beta)
            }
        } else if b.dtype != .f32 {
            gemmStoredB(p, a: a, b: b, c: c)
        } else {
            gemmStoredA(p, a: a, b: b, c: c)
        }
    }
    }

    /// The branch as more k columns of the base product where all four operands are f32 (`CPUBackend.sgemm2`), or
    /// W is stored (quantized or 16-bit) and packed (PackedWeights); another stored W goes through `gemmStoredB`,
    /// so the products run in turn there.
    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, plus p2: GemmParams, a2: Tensor, b2: Tensor, c: Tensor) {
        let packed = packedB(p, a: a, b: b, k2: p2.k)
        guard [a, a2, b2].allSatisfy({ $0.dtype == .f32 }), b.dtype == .f32 || packed != nil,
              p.batch == 1, p2.batch == 1, p.alpha != 0, p2.m == p.m, p2.n == p.n, p2.ldc == p.ldc, p2.offsetC == p.offsetC else {
            return gemmInTurn(p, a: a, b: b, plus: p2, a2: a2, b2: b2, c: c)
        }
        if DeviceErrors.isPending { return }
        Profiler.measure(CPUBackend.profileShapes ? "gemm \(p.m)×\(p.n)×\(p.k)+\(p2.k) \(p.transA ? "T" : "N")\(p.transB ? "T" : "N")" : "gemm") {
            if let packed {
                return CPUBackend.sgemmPacked(packed, p, a.data + p.offsetA, b.dtype == .f32 ? b.data + p.offsetB : nil,
                                              branch: (p2, UnsafePointer(a2.data + p2.offsetA), UnsafePointer(b2.data + p2.offsetB)), c.data + p.offsetC)
            }
            CPUBackend.sgemm2(transA: p.transA, transB: p.transB, m: p.m, n: p.n, k: p.k, alpha: p.alpha,
                              a.data + p.offsetA, lda: p.lda, b.data + p.offsetB, ldb: p.ldb,
                              transA2: p2.transA, transB2: p2.transB, k2: p2.k, alpha2: p2.alpha,
                              a2.data + p2.offsetA, lda2: p2.lda, b2.data + p2.offsetB, ldb2: p2.ldb,
                              beta: p.beta, c.data + p.offsetC, ldc: p.ldc)
        }
    }

    /// One pass over A (`CPUBackend.sgemmRowsPair`) where A is (m, k) untransposed and f32, B and B2 f32 and
    /// untransposed, and both products narrow (n ≤ 48, the LoRA rank); else the two products in turn.
    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor, andTransposed q: GemmParams, b2: Tensor, c2: Tensor) {
        guard CPUBackend.usePackedGemm, [a, b, b2].allSatisfy({ $0.dtype == .f32 }), p.batch == 1, q.batch == 1,
              !p.transA, !p.transB, q.transA, !q.transB, q.m == p.k, q.k == p.m, q.lda == p.lda, q.offsetA == p.offsetA,
              q.alpha == p.alpha, p.n <= 48, q.n == p.n else {
            gemm(p, a: a, b: b, c: c)
            gemm(q, a: a, b: b2, c: c2)
            return
        }
        if DeviceErrors.isPending { return }
        Profiler.measure(CPUBackend.profileShapes ? "gemm \(p.m)×\(p.n)×\(p.k) NN & TN" : "gemm") {
            CPUBackend.sgemmRowsPair(m: p.m, n: p.k, r: p.n, alpha: p.alpha, a.data + p.offsetA, ldd: p.lda,
                                     b.data + p.offsetB, ldf: p.ldb, betaE: p.beta, c.data + p.offsetC, lde: p.ldc,
                                     b2.data + q.offsetB, ldh: q.ldb, betaG: q.beta, c2.data + q.offsetC, ldg: q.ldc)
        }
    }

    @inline(__always)
    func sgemm(_ p: GemmParams, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
               m: Int, n: Int, k: Int, beta: Float, lda: Int? = nil, ldb: Int? = nil, transB: Bool? = nil) {
        CPUBackend.sgemm(transA: p.transA, transB: transB ?? p.transB, m: m, n: n, k: k, alpha: p.alpha,
                         a, lda: lda ?? p.lda, b, ldb: ldb ?? p.ldb, beta: beta, c, ldc: p.ldc)
    }

    /// Finch's packed SGEMM (CFinchKernels/sgemm.c) where the active ISA level is avx512 or avx2, else
    /// OpenBLAS. `FINCH_GEMM=blas` forces OpenBLAS (for comparisons).
    public static let usePackedGemm: Bool =
        finch_sgemm_has_packed() != 0 && ProcessInfo.processInfo.environment["FINCH_GEMM"] != "blas"

    /// `FINCH_PROFILE=shapes`: the profile lists matrix products by shape and transposes.
    static let profileShapes = ProcessInfo.processInfo.environment["FINCH_PROFILE"] == "shapes"

    /// Row-major C = alpha · op(A) · op(B) + beta · C over the thread budget.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        guard usePackedGemm else {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        let ta: Int32 = transA ? 1 : 0, tb: Int32 = transB ? 1 : 0
        let threads = ThreadBudget.count
        // Below about a million multiply-adds a thread hand-off costs more than it saves.
        if threads == 1 || m * n * k < 1 << 20 {
            finch_sgemm_avx512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // A long k against a small C (the LM head's dh = dlogits·W, 256×576×49152): split k, so that no thread
        // packs all of the operand the other splits (here 50 MB of dlogits); the partial C's are summed after.
        if k >= 4 * max(m, n), finch_sgemm_takes_narrow(ta, tb, m, n, k) == 0 {
            sgemmSplitK(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parts: threads)
            return
        }
        forEachShare(m: m, n: n, threads: threads) { m0, m1, n0, n1 in
            finch_sgemm_tile(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, m0, m1, n0, n1)
        }
    }

    /// The pre-packed B of `p` (PackedWeights) where the packed path takes the product: f32 A, a shape the
    /// narrow kernels would not take (`k2`: a fused branch's columns).
    func packedB(_ p: GemmParams, a: Tensor, b: Tensor, k2: Int = 0) -> PackedWeights.Packed? {
        guard CPUBackend.usePackedGemm, a.dtype == .f32, p.alpha != 0, p.m > 0, p.n > 0, p.k > 0,
              finch_sgemm_is_narrow(p.m, p.n, p.k + k2) == 0 else { return nil }
        return packedWeights.lookup(p, b: b)
    }

    /// C = α·op(A)·B + (the branch's α)·op(A2)·op(B2) + β·C over the thread budget, B pre-packed. C is split by
    /// rows, so that no thread packs all of A (none packs B), unless it is far wider than tall (the LM head's
    /// logits), where columns keep each thread to its half of the packed weight. A tile the packed kernel
    /// refuses (it checks the level and alignment again) runs unpacked from `b`, B's f32 elements; a stored B
    /// (`b` nil) has none, but `packedB` only offers its packed form where no tile is refused: the level is
    /// the active one, k > 0, α ≠ 0, and `forEachShare` splits columns at multiples of every level's panel.
    static func sgemmPacked(_ packed: PackedWeights.Packed, _ p: GemmParams, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
                            branch: (GemmParams, UnsafePointer<Float>, UnsafePointer<Float>)?, _ c: UnsafeMutablePointer<Float>) {
        let m = p.m, n = p.n, k = p.k, ta: Int32 = p.transA ? 1 : 0, tb: Int32 = p.transB ? 1 : 0
        let (q, a2, b2) = branch ?? (GemmParams(m: m, n: n, k: 0, transA: false, transB: false, lda: 1, ldb: 1, ldc: p.ldc), a, b)
        let ta2: Int32 = q.transA ? 1 : 0, tb2: Int32 = q.transB ? 1 : 0, ratio = q.alpha / p.alpha
        let threads = ThreadBudget.count == 1 || m * n * (k + q.k) < 1 << 20 ? 1 : ThreadBudget.count
        let level = packed.level, floats = packed.floats
        // Should a stored B's tile be refused all the same, the product fails as a device call would (on this
        // thread, where the caller's boundary takes it) rather than return a wrong C.
        let refused = b == nil ? UnsafeMutablePointer<Bool>.allocate(capacity: 1) : nil
        refused?.initialize(to: false)
        defer {
            if let refused, refused.pointee {
                DeviceErrors.record(DeviceError(device: .cpu, kind: .failed("the packed product \(m)×\(n)×\(k) refused a tile of its stored weight (level \(level))")))
            }
            refused?.deallocate()
        }
        forEachShare(m: m, n: n, threads: threads, splitColumns: n >= 8 * m) { m0, m1, n0, n1 in
            if finch_sgemm_packed_tile(level, ta, m, n, k, p.alpha, a, p.lda, floats, ta2, tb2, q.k, ratio, a2, q.lda,
                                       b2, q.ldb, p.beta, c, p.ldc, m0, m1, n0, n1) == 0 { return }
            guard let b else { refused?.pointee = true; return }
            if q.k > 0 {
                finch_sgemm2_tile(ta, tb, m, n, k, p.alpha, a, p.lda, b, p.ldb, ta2, tb2, q.k, ratio, a2, q.lda, b2, q.ldb,
                                  p.beta, c, p.ldc, m0, m1, n0, n1)
            } else {
                finch_sgemm_tile(ta, tb, m, n, k, p.alpha, a, p.lda, b, p.ldb, p.beta, c, p.ldc, m0, m1, n0, n1)
            }
        }
    }

    /// Runs `tile(m0, m1, n0, n1)` for shares of C side by side: the larger of m and n split in whole 12-row /
    /// 32-column register tiles (whole 6×16 ones at avx2), or as `splitColumns` says. Each thread packs its own
    /// share of that operand and all of the other, so this duplicates the smaller one.
    static func forEachShare(m: Int, n: Int, threads: Int, splitColumns: Bool? = nil, _ tile: (Int, Int, Int, Int) -> Void) {
        let splitN = splitColumns ?? (n >= m)
        let unit = splitN ? 32 : 12
        let units = ((splitN ? n : m) + unit - 1) / unit
        let parts = min(threads, units)
        if parts == 1 { return tile(0, m, 0, n) }
        parallelPerform(parts) { part in
            let lo = min(units * part / parts * unit, splitN ? n : m)
            let hi = min(units * (part + 1) / parts * unit, splitN ? n : m)
            if splitN { tile(0, m, lo, hi) } else { tile(lo, hi, 0, n) }
        }
    }

    /// C = alpha · op(A)·op(B) + alpha2 · op(A2)·op(B2) + beta · C (op(A2) m × k2) over the thread budget as one
    /// packed product (finch_sgemm2): a LoRA branch's product as k2 more columns of its base product's.
    public static func sgemm2(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                              _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                              transA2: Bool, transB2: Bool, k2: Int, alpha2: Float,
                              _ a2: UnsafePointer<Float>, lda2: Int, _ b2: UnsafePointer<Float>, ldb2: Int,
                              beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        let threads = ThreadBudget.count, kk = k + k2
        // OpenBLAS, and the shapes sgemm splits by k or sends to the narrow kernels: the products in turn.
        guard usePackedGemm, alpha != 0, kk < 4 * max(m, n) || threads == 1, finch_sgemm_is_narrow(m, n, kk) == 0 else {
            sgemm(transA: transA2, transB: transB2, m: m, n: n, k: k2, alpha: alpha2, a2, lda: lda2, b2, ldb: ldb2,
                  beta: beta, c, ldc: ldc)
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb, beta: 1, c, ldc: ldc)
            return
        }
        let ta: Int32 = transA ? 1 : 0, tb: Int32 = transB ? 1 : 0, ta2: Int32 = transA2 ? 1 : 0, tb2: Int32 = transB2 ? 1 : 0
        let ratio = alpha2 / alpha
        forEachShare(m: m, n: n, threads: threads == 1 || m * n * kk < 1 << 20 ? 1 : threads) { m0, m1, n0, n1 in
            finch_sgemm2_tile(ta, tb, m, n, k, alpha, a, lda, b, ldb, ta2, tb2, k2, ratio, a2, lda2, b2, ldb2, beta, c, ldc,
                              m0, m1, n0, n1)
        }
    }

    /// E = alpha · D·F + betaE · E (m × r) and G = alpha · Dᵀ·H + betaG · G (n × r) in one pass over D (m × n)
    /// (finch_sgemm_rows_pair), its rows split over the thread budget in whole 16-row tiles: each thread but the
    /// first sums its share of G into scratch, added to G after.
    static func sgemmRowsPair(m: Int, n: Int, r: Int, alpha: Float, _ d: UnsafePointer<Float>, ldd: Int,
                              _ f: UnsafePointer<Float>, ldf: Int, betaE: Float, _ e: UnsafeMutablePointer<Float>, lde: Int,
                              _ h: UnsafePointer<Float>, ldh: Int, betaG: Float, _ g: UnsafeMutablePointer<Float>, ldg: Int) {
        let tiles = (m + 15) / 16
        let parts = max(1, min(ThreadBudget.count, tiles, 2 * m * n * r < 1 << 20 ? 1 : tiles))
        guard parts > 1 else {
            return finch_sgemm_rows_pair(m, n, r, alpha, d, ldd, f, ldf, betaE, e, lde, h, ldh, betaG, g, ldg)
        }
        let partial = TensorStorage(pooledBytes: (parts - 1) * n * r * MemoryLayout<Float>.stride)
        let t = partial.raw.assumingMemoryBound(to: Float.self)
        parallelPerform(parts) { part in
            let i0 = min(m, tiles * part / parts * 16), i1 = min(m, tiles * (part + 1) / parts * 16)
            let (gp, ld, beta) = part == 0 ? (g, ldg, betaG) : (t + (part - 1) * n * r, r, Float(0))
            finch_sgemm_rows_pair(i1 - i0, n, r, alpha, d + i0 * ldd, ldd, f, ldf, betaE, e + i0 * lde, lde,
                                  h + i0 * ldh, ldh, beta, gp, ld)
        }
        // The partial G's added in order, G's rows split over the threads as well: on 16 threads one thread adding
        // 15 partials of 1536 × 16 was about a quarter of the pair's time (a 16-core Xeon, SmolLM2's gate/up pairs:
        // 0.053–0.063 → 0.041–0.042 s over 3 steps; BENCHMARKS.md, session 15).
        parallelFor(n, minChunk: max(1, 4096 / max(1, r))) { rows in
            for q in 1..<parts {
                let tq = t + (q - 1) * n * r
                for i in rows {
                    for j in 0..<r { g[i * ldg + j] += tq[i * r + j] }
                }
            }
        }
        withExtendedLifetime(partial) {}
    }

    /// C = alpha · op(A) · op(B) + beta · C as `parts` products over slices of k run side by side: the first
    /// into C (with beta), the others into scratch (m × n each), which is then added to C.
    static func sgemmSplitK(_ ta: Int32, _ tb: Int32, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                            _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, parts: Int) {
        let partial = TensorStorage(pooledBytes: (parts - 1) * m * n * MemoryLayout<Float>.stride)
        let t = partial.raw.assumingMemoryBound(to: Float.self)
        parallelPerform(parts) { part in
            let k0 = k * part / parts, k1 = k * (part + 1) / parts
            let ap = ta != 0 ? a + k0 * lda : a + k0, bp = tb != 0 ? b + k0 : b + k0 * ldb
            if part == 0 {
                finch_sgemm_avx512(ta, tb, m, n, k1 - k0, alpha, ap, lda, bp, ldb, beta, c, ldc)
            } else {
                finch_sgemm_avx512(ta, tb, m, n, k1 - k0, alpha, ap, lda, bp, ldb, 0, t + (part - 1) * m * n, n)
            }
        }
        parallelPerform(parts) { part in
            for i in (m * part / parts)..<(m * (part + 1) / parts) {
                let ci = c + i * ldc
                for q in 1..<parts {
                    let ti = t + (q - 1) * m * n + i * n
                    for j in 0..<n { ci[j] += ti[j] }
                }
            }
        }
        withExtendedLifetime(partial) {}
    }

    /// Rows of stored (quantized or 16-bit) B are decoded a chunk at a time into scratch, so the
    /// whole f32 matrix never exists. Chunks are sized to stay in cache.
    func gemmStoredB(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        precondition(p.batch == 1, "batched products need f32 operands")
        let bRows = p.transB ? p.n : p.k
        let bCols = p.transB ? p.k : p.n
        let chunk = max(16, min(bRows, (1 << 19) / max(1, bCols)))
        let scratch = allocate(count: chunk * bCols)
        let s = scratch.raw.assumingMemoryBound(to: Float.self)
        let aBase = a.data + p.offsetA, cBase = c.data + p.offsetC
        let firstRow = p.offsetB / max(1, bCols)
        var r0 = 0
        while r0 < bRows {
            let r1 = min(bRows, r0 + chunk)
            dequantizeRows(b, rows: (firstRow + r0)..<(firstRow + r1), into: s)
            if p.transB {
                // C[:, r0:r1] = op(A) · chunkᵀ
                sgemm(p, aBase, s, cBase + r0, m: p.m, n: r1 - r0, k: p.k, beta: p.beta, ldb: bCols)
            } else {
                // C += op(A)[:, r0:r1] · chunk
                let aPtr = p.transA ? aBase + r0 * p.lda : aBase + r0
                sgemm(p, aPtr, s, cBase, m: p.m, n: p.n, k: r1 - r0, beta: r0 == 0 ? p.beta : 1, ldb: bCols)
            }
            r0 = r1
        }
    }

    func gemmStoredA(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        precondition(p.batch == 1 && !p.transA, "a stored A operand must be untransposed and unbatched")
        let chunk = max(16, min(p.m, (1 << 19) / max(1, p.k)))
        let scratch = allocate(count: chunk * p.k)
        let s = scratch.raw.assumingMemoryBound(to: Float.self)
        let firstRow = p.offsetA / max(1, p.k)
        var r0 = 0
        while r0 < p.m {
            let r1 = min(p.m, r0 + chunk)
            dequantizeRows(a, rows: (firstRow + r0)..<(firstRow + r1), into: s)
            sgemm(p, s, b.data + p.offsetB, c.data + p.offsetC + r0 * p.ldc, m: r1 - r0, n: p.n, k: p.k, beta: p.beta, lda: p.k)
            r0 = r1
        }
    }
}
