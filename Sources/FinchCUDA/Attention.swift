import Foundation
import FinchTensor

// Causal GQA attention: one path per purpose. Training and prefill take flash attention on the
// matrix units (bf16 operands, f32 accumulation, as PyTorch's autocast runs attention); decoding
// (few queries), the exact f32 mode (`FINCH_ATTENTION=f32`) and shapes the flash kernels do not
// take run the SIMT kernels (Decoding.swift). The forward and the backward choose by the same
// rule, so the backward recomputes exactly the probabilities the forward saved lse for.
extension CUDABackend {
    static let flashKernels = ["flash_attention_fwd", "flash_attention_bwd_dq", "flash_attention_bwd_dkdv"].flatMap { [$0, $0 + "_d64", $0 + "_d128"] }

    /// Attention over at most this many queries (decoding) runs in the SIMT kernels.
    static let fusedAttentionMaxQueries = 16

    /// Shared memory of the flash kernels (bytes): the forward holds two stages of a K and a V
    /// tile, the dQ kernel four tiles, the dK/dV kernel K and V, then two stages of Q, dO, lse and
    /// Di. Tiles are 64 rows of bf16, padded to D + 8.
    static func flashSharedBytes(headDim d: Int) -> (forward: Int, dq: Int, dkdv: Int) {
        let tile = 64 * (d + 8) * 2
        return (2 * 2 * 64 * (d + 8) * 2, 4 * tile, 2 * tile + 2 * (2 * tile + 2 * 64 * 4))
    }

    /// Flash attention (forward and backward on the matrix units) applies: bf16 attention, more
    /// queries than decoding has, a head size the kernels take (a multiple of 16, at most 128), and
    /// tiles that fit the device's shared memory (the dK/dV kernel at head size 128 needs 103 KB:
    /// sm_86 and sm_89 offer 99 KB, so there head size 128 takes the SIMT kernels).
    func flashAttention(_ p: AttentionParams) -> Bool {
        attentionPrecision == .bf16 && p.seqLen > Self.fusedAttentionMaxQueries && p.headDim % 16 == 0 && p.headDim <= 128
            && Self.flashSharedBytes(headDim: p.headDim).dkdv <= maxSharedPerBlock
    }

    /// The flash kernels come compiled for head sizes 64 and 128 (loops unrolled) and for any other.
    private func flashKernel(_ name: String, _ p: AttentionParams) -> String {
        return p.headDim == 64 || p.headDim == 128 ? "\(name)_d\(p.headDim)" : name
    }

    /// A bf16 copy of an attention operand for the flash kernels.
    private func bf16Copy(_ t: Tensor) -> (UnsafeRawPointer, DeviceBlock) {
        let b = block(t.count * 2)
        launch("f32_to_bf16_copy", grid: blocks(t.count), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
        return (UnsafeRawPointer(b.raw), b)
    }

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        guard p.headDim <= 256 else { fail(TensorError.invalidShape(op: "cuda attention", shape: [p.headDim], expected: "head dim ≤ 256")); return }
        guard flashAttention(p) else { return simtAttentionForward(p, q: q, k: k, v: v, out: out, lse: lse) }
        let (q16, qb) = bf16Copy(q), (k16, kb) = bf16Copy(k), (v16, vb) = bf16Copy(v)
        launch(flashKernel("flash_attention_fwd", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128,
               shared: Self.flashSharedBytes(headDim: p.headDim).forward,
               [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(ptr(out)), .ptr(ptr(lse)),
                .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(p.headDim)),
                .i32(Int32(p.queryOffset)), .f32(p.scale)])
        withExtendedLifetime((qb, kb, vb)) {}
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim
        // Di = rowsum(dO ⊙ O), read by both paths.
        let rows = p.batch * p.heads * p.seqLen
        let di = block(rows * 4)
        launch("attention_bwd_di", grid: ((rows * 32 + 255) / 256, 1, 1), block: 256,
               [.ptr(ptr(out)), .ptr(ptr(dout)), .ptr(UnsafeRawPointer(di.raw)),
                .i32(Int32(p.batch)), .i32(Int32(p.seqLen)), .i32(Int32(p.heads)), .i32(Int32(d))])
        defer { withExtendedLifetime(di) {} }
        guard flashAttention(p) else {
            return simtAttentionBackward(p, q: q, k: k, v: v, lse: lse, di: UnsafeRawPointer(di.raw), dout: dout, dq: dq, dk: dk, dv: dv)
        }
        let (q16, qb) = bf16Copy(q), (k16, kb) = bf16Copy(k), (v16, vb) = bf16Copy(v), (do16, dob) = bf16Copy(dout)
        let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                   .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
        let operands: [KernelArg] = [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(do16), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw))]
        let shared = Self.flashSharedBytes(headDim: d)
        launch(flashKernel("flash_attention_bwd_dq", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128, shared: shared.dq,
               operands + [.ptr(ptr(dq))] + common)
        launch(flashKernel("flash_attention_bwd_dkdv", p), grid: ((p.keyLen + 63) / 64, p.kvHeads, p.batch), block: 128,
               shared: shared.dkdv, operands + [.ptr(ptr(dk)), .ptr(ptr(dv))] + common)
        withExtendedLifetime((qb, kb, vb, dob)) {}
    }
}
