import Foundation
import FinchTensor

// Causal GQA attention.
extension CUDABackend {
    static let attentionRows = 8, attentionKeys = 32
    static let flashKernels = ["flash_attention_fwd", "flash_attention_bwd_dq", "flash_attention_bwd_dkdv"].flatMap { [$0, $0 + "_d64", $0 + "_d128"] }

    /// Attention over few queries (decoding) runs in one fused kernel; longer sequences go through
    /// the matrix units a block of queries at a time (`blockedAttention*`), holding one
    /// (KVH × R × keys) score block, never the full (H × T × T) scores.
    static let fusedAttentionMaxQueries = 16
    /// Bytes of one score block of the blocked path (KVH × R × Tk floats; two in the backward):
    /// R is as many query rows as fit, so long sequences take few, large products.
    static let attentionBlockBytes = 256 << 20


    /// Flash attention (forward and backward on the matrix units) applies: bf16 attention, not
    /// turned off, a head size the kernels take.
    private func flashAttention(_ p: AttentionParams) -> Bool {
        attentionPrecision == .bf16 && useFlashAttention && p.headDim % 16 == 0 && p.headDim <= 128
    }

    /// The flash kernels come compiled for head sizes 64 and 128 (loops unrolled) and for any other.
    private func flashKernel(_ name: String, _ p: AttentionParams) -> String {
        return p.headDim == 64 || p.headDim == 128 ? "\(name)_d\(p.headDim)" : name
    }

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        guard p.headDim <= 256 else { fail(TensorError.invalidShape(op: "cuda attention", shape: [p.headDim], expected: "head dim ≤ 256")) }
        if p.seqLen > Self.fusedAttentionMaxQueries {
            // bf16 precision and a head size the matrix-unit kernel takes: flash attention.
            if flashAttention(p) {
                let shared = 2 * 2 * 64 * (p.headDim + 8) * 2   // two stages of a K and a V tile
                let (q16, _, qb) = attentionOperand(q), (k16, _, kb) = attentionOperand(k), (v16, _, vb) = attentionOperand(v)
                defer { withExtendedLifetime((qb, kb, vb)) {} }
                launch(flashKernel("flash_attention_fwd", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128, shared: shared,
                       [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(ptr(out)), .ptr(ptr(lse)),
                        .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(p.headDim)),
                        .i32(Int32(p.queryOffset)), .f32(p.scale)])
                return
            }
            return blockedAttentionForward(p, q: q, k: k, v: v, out: out, lse: lse)
        }
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let shared = (ak * (d + 1) + ak * d + aq * d) * 4
        launch("attention_fwd", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256, shared: shared,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(out)), .ptr(ptr(lse)),
                .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(d)),
                .i32(Int32(p.queryOffset)), .f32(p.scale)])
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let rows = p.batch * p.heads * p.seqLen
        let di = block(rows * 4)
        launch("attention_bwd_di", grid: ((rows * 32 + 255) / 256, 1, 1), block: 256,
               [.ptr(ptr(out)), .ptr(ptr(dout)), .ptr(UnsafeRawPointer(di.raw)),
                .i32(Int32(p.batch)), .i32(Int32(p.seqLen)), .i32(Int32(p.heads)), .i32(Int32(d))])
        if p.seqLen > Self.fusedAttentionMaxQueries, useFlashBackward, flashAttention(p) {
            let (q16, _, qb) = attentionOperand(q), (k16, _, kb) = attentionOperand(k), (v16, _, vb) = attentionOperand(v)
            let (do16, _, dob) = attentionOperand(dout)
            let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                       .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
            let operands: [KernelArg] = [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(do16), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw))]
            let tile = 64 * (d + 8) * 2   // bytes of one padded 64-row bf16 tile
            launch(flashKernel("flash_attention_bwd_dq", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128, shared: 4 * tile,
                   operands + [.ptr(ptr(dq))] + common)
            // K and V, then two stages of Q, dO, lse and Di.
            launch(flashKernel("flash_attention_bwd_dkdv", p), grid: ((p.keyLen + 63) / 64, p.kvHeads, p.batch), block: 128,
                   shared: 2 * tile + 2 * (2 * tile + 2 * 64 * 4), operands + [.ptr(ptr(dk)), .ptr(ptr(dv))] + common)
            withExtendedLifetime((di, qb, kb, vb, dob)) {}
            return
        }
        if p.seqLen > Self.fusedAttentionMaxQueries {
            blockedAttentionBackward(p, q: q, k: k, v: v, lse: lse, di: UnsafeRawPointer(di.raw), dout: dout, dq: dq, dk: dk, dv: dv)
            withExtendedLifetime(di) {}
            return
        }
        let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                   .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
        launch("attention_bwd_dq", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw)), .ptr(ptr(dq))] + common)
        launch("attention_bwd_dkdv", grid: ((p.keyLen + aq - 1) / aq, p.kvHeads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d + 2 * ak) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw)),
                .ptr(ptr(dk)), .ptr(ptr(dv))] + common)
        withExtendedLifetime(di) {}
    }

    /// A TF32 (or f32) strided-batched product on raw device pointers, row-major like `GemmParams`.
    /// Operands in bf16 when `attentionPrecision` is bf16 (pointers and strides then count bf16
    /// elements), f32 otherwise; C is always f32.
    private func rawGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafeRawPointer, lda: Int, strideA: Int, b: UnsafeRawPointer, ldb: Int, strideB: Int,
                         beta: Float, c: UnsafeMutableRawPointer, ldc: Int, strideC: Int, batch: Int) {
        ensureContext()
        touch(UnsafeRawPointer(c))
        timed("gemm attention") {
        var al = alpha, be = beta
        let type = attentionPrecision == .bf16 ? CUBLAS.r16BF : CUBLAS.r32F
        let compute = attentionPrecision == .tf32 ? CUBLAS.compute32FFastTF32 : CUBLAS.compute32F
        let status = blas.gemmStridedBatchedEx(blas.handle, transB ? CUBLAS.opT : CUBLAS.opN, transA ? CUBLAS.opT : CUBLAS.opN,
                                               Int32(n), Int32(m), Int32(k), &al, b, type, Int32(ldb), Int64(strideB),
                                               a, type, Int32(lda), Int64(strideA), &be, c, CUBLAS.r32F, Int32(ldc), Int64(strideC),
                                               Int32(batch), compute, -1)
        if status != 0 { fail(CUDAError.cublas(call: "cublasGemmStridedBatchedEx (attention)", status: status)) }
        }
    }

    /// Operands of the attention products: the f32 tensor itself, or a bf16 copy (element size 2).
    private func attentionOperand(_ t: Tensor) -> (UnsafeRawPointer, Int, DeviceBlock?) {
        guard attentionPrecision == .bf16 else { return (ptr(t), 4, nil) }
        let b = block(t.count * 2)
        launch("f32_to_bf16_copy", grid: blocks(t.count), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
        return (UnsafeRawPointer(b.raw), 2, b)
    }

    private func attentionRows(_ p: AttentionParams) -> Int {
        min(p.seqLen, max(16, attentionMaxRows), max(16, Self.attentionBlockBytes / (p.kvHeads * p.keyLen * 4)))
    }

    /// For each sequence b, each query head r within a key/value group, and each block of R
    /// queries: S = scale·Q·Kᵀ for all KVH groups in one batched product, a row softmax (saving
    /// lse), then O = P·V.
    private func blockedAttentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        let d = p.headDim, h = p.heads, kvh = p.kvHeads, rep = h / kvh, t = p.seqLen, tk = p.keyLen
        let ldq = h * d, ldk = kvh * d
        let rMax = attentionRows(p)
        let bf16 = attentionPrecision == .bf16
        let (qp, e, qb) = attentionOperand(q), (kp, _, kb) = attentionOperand(k), (vp, _, vb) = attentionOperand(v)
        let sBlock = block(kvh * rMax * tk * 4), p16 = bf16 ? block(kvh * rMax * tk * 2) : nil
        let s = sBlock.raw
        for b in 0..<p.batch {
            for r in 0..<rep {
                var t0 = 0
                while t0 < t {
                    let rows = min(rMax, t - t0), keys = min(tk, p.queryOffset + t0 + rows)
                    let qOff = ((b * t + t0) * ldq + r * d), kvOff = b * tk * ldk
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: p.scale,
                            a: qp + qOff * e, lda: ldq, strideA: rep * d, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: s, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_softmax", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(s)), .ptr(ptr(lse)), .ptr(p16.map { UnsafeRawPointer($0.raw) }), .i32(Int32(rows)), .i32(Int32(keys)),
                            .i32(Int32(t)), .i32(Int32(h)), .i32(Int32(rep)), .i32(Int32(r)), .i32(Int32(b)), .i32(Int32(t0)), .i32(Int32(p.queryOffset))])
                    rawGemm(transA: false, transB: false, m: rows, n: d, k: keys, alpha: 1,
                            a: p16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(s), lda: keys, strideA: rows * keys,
                            b: vp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: mptr(out) + qOff * 4, ldc: ldq, strideC: rep * d, batch: kvh)
                    t0 += rows
                }
            }
        }
        withExtendedLifetime((sBlock, p16, qb, kb, vb)) {}
    }

    private func blockedAttentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, lse: Tensor, di: UnsafeRawPointer,
                                          dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim, h = p.heads, kvh = p.kvHeads, rep = h / kvh, t = p.seqLen, tk = p.keyLen
        let ldq = h * d, ldk = kvh * d
        let rMax = attentionRows(p)
        let bf16 = attentionPrecision == .bf16
        let (qp, e, qb) = attentionOperand(q), (kp, _, kb) = attentionOperand(k), (vp, _, vb) = attentionOperand(v)
        let (dop, _, dob) = attentionOperand(dout)
        let pBlock = block(kvh * rMax * tk * 4), dpBlock = block(kvh * rMax * tk * 4)
        let p16 = bf16 ? block(kvh * rMax * tk * 2) : nil, ds16 = bf16 ? block(kvh * rMax * tk * 2) : nil
        let pm = pBlock.raw, dpm = dpBlock.raw
        let pOperand = p16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(pm)
        let dsOperand = ds16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(dpm)
        for b in 0..<p.batch {
            for r in 0..<rep {
                var t0 = 0
                while t0 < t {
                    let rows = min(rMax, t - t0), keys = min(tk, p.queryOffset + t0 + rows)
                    let qOff = ((b * t + t0) * ldq + r * d), kvOff = b * tk * ldk
                    let rowArgs: [KernelArg] = [.i32(Int32(rows)), .i32(Int32(keys)), .i32(Int32(t)), .i32(Int32(h)), .i32(Int32(rep)),
                                                .i32(Int32(r)), .i32(Int32(b)), .i32(Int32(t0))]
                    // P = exp(scale·Q·Kᵀ − lse)
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: p.scale,
                            a: qp + qOff * e, lda: ldq, strideA: rep * d, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: pm, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_probs", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(pm)), .ptr(ptr(lse)), .ptr(p16.map { UnsafeRawPointer($0.raw) })] + rowArgs + [.i32(Int32(p.queryOffset))])
                    // dV += Pᵀ·dO
                    rawGemm(transA: true, transB: false, m: keys, n: d, k: rows, alpha: 1,
                            a: pOperand, lda: keys, strideA: rows * keys, b: dop + qOff * e, ldb: ldq, strideB: rep * d,
                            beta: 1, c: mptr(dv) + kvOff * 4, ldc: ldk, strideC: d, batch: kvh)
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP − Di)
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: 1,
                            a: dop + qOff * e, lda: ldq, strideA: rep * d, b: vp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: dpm, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_dscores", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(pm)), .ptr(p16.map { UnsafeRawPointer($0.raw) }), .ptr(UnsafeRawPointer(dpm)),
                            .ptr(ds16.map { UnsafeRawPointer($0.raw) }), .ptr(di)] + rowArgs)
                    // dQ += scale·dS·K ; dK += scale·dSᵀ·Q
                    rawGemm(transA: false, transB: false, m: rows, n: d, k: keys, alpha: p.scale,
                            a: dsOperand, lda: keys, strideA: rows * keys, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 1, c: mptr(dq) + qOff * 4, ldc: ldq, strideC: rep * d, batch: kvh)
                    rawGemm(transA: true, transB: false, m: keys, n: d, k: rows, alpha: p.scale,
                            a: dsOperand, lda: keys, strideA: rows * keys, b: qp + qOff * e, ldb: ldq, strideB: rep * d,
                            beta: 1, c: mptr(dk) + kvOff * 4, ldc: ldk, strideC: d, batch: kvh)
                    t0 += rows
                }
            }
        }
        withExtendedLifetime((pBlock, dpBlock, p16, ds16, qb, kb, vb, dob)) {}
    }
}
