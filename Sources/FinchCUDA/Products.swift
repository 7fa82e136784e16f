import Foundation
import FinchTensor

// Matrix products through cuBLAS, and the bf16 copies of f32 operands they read.
extension CUDABackend {

    // MARK: bf16 copies of f32 operands


    func touch(_ p: UnsafeRawPointer?) {
        guard let p, !shadows.isEmpty else { return }
        let a = UInt(bitPattern: p)
        shadows.removeAll { $0.storage == nil || (a >= $0.base && a < $0.end) }
    }

    private func shadow(of t: Tensor) -> DeviceBlock? {
        shadows.first { $0.storage === t.storage && $0.offset == t.offset && $0.count == t.count }?.block
    }

    func remember(_ t: Tensor, _ b: DeviceBlock) {
        if DeviceErrors.isPending { return }  // its kernel was skipped: nothing to reuse
        let base = UInt(bitPattern: t.storage.raw)
        shadows.append(Shadow(storage: t.storage, base: base, end: base + UInt(t.storage.byteCount), offset: t.offset, count: t.count, block: b))
        if shadows.count > 6 { shadows.removeFirst() }
    }

    // MARK: Matrix products


    /// A bf16 copy for a kernel to write beside a large f32 result that products read next (the
    /// normalised input of q/k/v and gate/up, the SwiGLU output and its gradients): the copy comes
    /// with the result instead of from a second pass over it.
    func producedCopy(_ t: Tensor) -> DeviceBlock? {
        t.count > smallOperand && t.dtype == .f32 ? block(t.count * 2) : nil
    }

    /// A bf16 copy of a whole operand (decoded from any stored type), or the operand itself when bf16.
    private func bf16Operand(_ t: Tensor) -> (UnsafeRawPointer, DeviceBlock?) {
        if t.dtype == .bf16 { return (ptr(t), nil) }
        if t.dtype == .f32, let b = shadow(of: t) { return (UnsafeRawPointer(b.raw), b) }
        let b = block(t.count * 2)
        if t.dtype == .f32 {
            launch("f32_to_bf16_copy", grid: blocks(t.count), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
            if t.count > smallOperand { remember(t, b) }
        } else if t.dtype == .nf4 {
            launch("decode_nf4_bf16", grid: blocks(t.count / 2), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count / 2))])
        } else {
            launch("decode_bf16", grid: blocks(t.count), block: 256,
                   [.i32(dtypeCode(t.dtype)), .ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
        }
        return (UnsafeRawPointer(b.raw), b)
    }

    public func prepareSharedOperand(_ t: Tensor) {
        guard f32Products == .tf32, t.dtype == .f32, t.count > smallOperand, shadow(of: t) == nil else { return }
        _ = bf16Operand(t)
    }

    /// In the default (TF32) mode, an f32 product of a large activation that already has a bf16
    /// copy with a small operand (the LoRA products) reads that copy: half the bytes of the
    /// memory-bound product, as under PyTorch's autocast. `f32Products = .f32` keeps f32.
    private func readsBF16Copy(_ a: Tensor, _ b: Tensor) -> Bool {
        guard f32Products == .tf32, a.dtype == .f32, b.dtype == .f32 else { return false }
        return (b.count <= smallOperand && shadow(of: a) != nil) || (a.count <= smallOperand && shadow(of: b) != nil)
    }

    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        guard p.m > 0, p.n > 0 else { return }
        let kind = a.dtype == .f32 && b.dtype == .f32 ? "gemm f32" : "gemm bf16"
        guard profiling else { return gemmNow(p, a: a, b: b, c: c) }
        // FINCH_PROFILE=shapes: one line per shape, transposes, β and operand precision.
        let name = Self.profileShapes
            ? "\(kind) \(p.m)×\(p.n)×\(p.k)\(p.transA ? " Aᵀ" : "")\(p.transB ? " Bᵀ" : "") β\(p.beta)\(readsBF16Copy(a, b) ? " bf16-copy" : "")"
            : "\(kind) \(min(p.m, p.n) <= 64 ? "skinny" : "large")"
        timed(name) { gemmNow(p, a: a, b: b, c: c) }
    }

    private func gemmNow(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        if DeviceErrors.isPending { return }
        ensureContext()
        if p.m <= Self.matVecRows, p.batch == 1, !p.transA, p.transB, a.dtype == .f32, Self.matVecTypes.contains(b.dtype),
           p.k % b.dtype.blockSize == 0, p.lda == p.k, p.ldb == p.k, p.offsetA == 0, p.offsetB == 0 {
            return storedMatVec(p, x: a, w: b, y: c)
        }
        // Row-major C (m×n) = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
        touch(c.rawBytes)
        let mixed = a.dtype != .f32 || b.dtype != .f32 || f32Products == .bf16 || readsBF16Copy(a, b)
        var alpha = p.alpha, beta = p.beta
        let aOp: (UnsafeRawPointer, DeviceBlock?), bOp: (UnsafeRawPointer, DeviceBlock?)
        let elem: Int
        if mixed { aOp = bf16Operand(a); bOp = bf16Operand(b); elem = 2 } else { aOp = (ptr(a), nil); bOp = (ptr(b), nil); elem = 4 }
        let type = mixed ? CUBLAS.r16BF : CUBLAS.r32F
        let compute = !mixed && f32Products == .tf32 ? CUBLAS.compute32FFastTF32 : CUBLAS.compute32F
        let cPtr = mptr(c) + p.offsetC * 4
        let status = withUnsafePointer(to: &alpha) { al in
            withUnsafePointer(to: &beta) { be in
                blas.gemmStridedBatchedEx(blas.handle, p.transB ? CUBLAS.opT : CUBLAS.opN, p.transA ? CUBLAS.opT : CUBLAS.opN,
                                          Int32(p.n), Int32(p.m), Int32(p.k), al,
                                          bOp.0 + p.offsetB * elem, type, Int32(p.ldb), Int64(p.strideB),
                                          aOp.0 + p.offsetA * elem, type, Int32(p.lda), Int64(p.strideA),
                                          be, cPtr, CUBLAS.r32F, Int32(p.ldc), Int64(p.strideC), Int32(p.batch), compute, -1)
            }
        }
        if status != 0 { fail(CUDAError.cublas(call: "cublasGemmStridedBatchedEx", status: status)) }
        withExtendedLifetime((aOp.1, bOp.1)) {}
    }
}
