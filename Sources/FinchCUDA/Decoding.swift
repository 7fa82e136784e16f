import Foundation
import FinchTensor

// Decoding: products of a few rows against frozen stored weights read the blocks directly, and
// attention over few queries runs in the SIMT kernels (one warp per query row, f32 throughout).
// The SIMT kernels also take any sequence length: they are the exact f32 attention
// (`FINCH_ATTENTION=f32`) and the path for head sizes flash attention does not take (up to 256).
extension CUDABackend {
    /// Decoding's products (≤ 8 rows of x against frozen quantized weights) read the blocks once,
    /// rather than decoding them into a bf16 copy for cuBLAS per token (q4_0 decode 29 → 101
    /// tokens/s for the 8B shape on an H100). bf16 weights stay with cuBLAS.
    static let matVecRows = 8
    static let matVecTypes: Set<DType> = [.q8_0, .q4_0, .q4_1, .nf4]

    func storedMatVec(_ p: GemmParams, x: Tensor, w: Tensor, y: Tensor) {
        launch("matvec_stored", grid: ((p.n + 7) / 8, 1, 1), block: 256,
               [.i32(dtypeCode(w.dtype)), .ptr(ptr(w)), .ptr(ptr(x)), .ptr(UnsafeRawPointer(mptr(y) + p.offsetC * 4)),
                .i32(Int32(p.m)), .i32(Int32(p.n)), .i32(Int32(p.k)), .i32(Int32(p.ldc)), .f32(p.alpha), .f32(p.beta)])
    }

    /// Queries and keys per block of the SIMT attention kernels (AQ, AK in attention.cu).
    static let attentionRows = 8, attentionKeys = 32

    func simtAttentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let shared = (ak * (d + 1) + ak * d + aq * d) * 4
        launch("attention_fwd", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256, shared: shared,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(out)), .ptr(ptr(lse)),
                .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(d)),
                .i32(Int32(p.queryOffset)), .f32(p.scale)])
    }

    func simtAttentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, lse: Tensor, di: UnsafeRawPointer,
                               dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                   .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
        launch("attention_bwd_dq", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(di), .ptr(ptr(dq))] + common)
        launch("attention_bwd_dkdv", grid: ((p.keyLen + aq - 1) / aq, p.kvHeads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d + 2 * ak) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(di),
                .ptr(ptr(dk)), .ptr(ptr(dv))] + common)
    }
}
