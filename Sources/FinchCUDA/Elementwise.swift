import Foundation
import FinchTensor

// Element-wise and row-wise ops, norms, embeddings, the cross-entropy and the optimizers.
extension CUDABackend {
    // MARK: Element-wise and row-wise kernels

    public func elementwise(_ op: ElementwiseOp, _ x: Tensor, _ y: Tensor?, out: Tensor) {
        let n = out.count
        guard n > 0 else { return }
        var code = CUDAKernels.Op.add, s: Float = 0
        switch op {
        case .add: code = .add
        case .sub: code = .sub
        case .mul: code = .mul
        case .addRow: code = .addRow
        case let .scale(v): code = .scale; s = v
        case let .addScaled(v): code = .addScaled; s = v
        case .silu: code = .silu
        }
        launch("elementwise", grid: blocks(n), block: 256,
               [.i32(code.rawValue), .ptr(ptr(x)), .ptr(y.map(ptr)), .ptr(ptr(out)), .f32(s), .i64(Int64(n)), .i64(Int64(y?.count ?? 1))])
    }

    public func rmsNormForward(x: Tensor, weight: Tensor, eps: Float, out: Tensor, rstd: Tensor) {
        let copy = producedCopy(out)
        launch("rmsnorm_fwd", grid: (x.rows, 1, 1), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(weight)), .ptr(ptr(out)), .ptr(copy.map { UnsafeRawPointer($0.raw) }), .ptr(ptr(rstd)),
                .i32(Int32(x.cols)), .f32(eps)])
        if let copy { remember(out, copy) }
    }

    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, dweight: Tensor?) {
        launch("rmsnorm_bwd", grid: (x.rows, 1, 1), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(weight)), .ptr(ptr(rstd)), .ptr(ptr(dout)), .ptr(dx.map(ptr)), .ptr(dweight.map(ptr)), .i32(Int32(x.cols))])
    }

    /// The rotary tables on this device (copied once per table).
    private func deviceTables(cos: Tensor, sin: Tensor) -> (Tensor, Tensor) {
        if cos.device == device { return (cos, sin) }
        let key = ObjectIdentifier(cos.storage)
        if let t = ropeTables[key] { return t }
        do {
            let t = (try cos.moved(to: device), try sin.moved(to: device))
            if !DeviceErrors.isPending { ropeTables[key] = t }
            return t
        } catch { fail(error); return (cos, sin) }
    }

    public func rope(x: Tensor, cos: Tensor, sin: Tensor, positions: [Int32], heads: Int, inverse: Bool, out: Tensor) {
        let (c, s) = deviceTables(cos: cos, sin: sin)
        let pos = upload(ints: positions)
        let half = cos.cols
        launch("rope", grid: blocks(x.rows * heads * half), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(c)), .ptr(ptr(s)), .ptr(UnsafeRawPointer(pos.raw)), .ptr(ptr(out)),
                .i64(Int64(x.rows)), .i32(Int32(heads)), .i32(Int32(half)), .f32(inverse ? -1 : 1)])
        withExtendedLifetime(pos) {}
    }

    public func swigluForward(gate: Tensor, up: Tensor, out: Tensor) {
        let copy = producedCopy(out)
        launch("swiglu_fwd", grid: blocks(out.count), block: 256,
               [.ptr(ptr(gate)), .ptr(ptr(up)), .ptr(ptr(out)), .ptr(copy.map { UnsafeRawPointer($0.raw) }), .i64(Int64(out.count))])
        if let copy { remember(out, copy) }
    }

    public func swigluBackward(gate: Tensor, up: Tensor, dout: Tensor, dgate: Tensor, dup: Tensor) {
        let dg16 = producedCopy(dgate), du16 = dg16 == nil ? nil : producedCopy(dup)
        launch("swiglu_bwd", grid: blocks(gate.count), block: 256,
               [.ptr(ptr(gate)), .ptr(ptr(up)), .ptr(ptr(dout)), .ptr(ptr(dgate)), .ptr(ptr(dup)),
                .ptr(du16 == nil ? nil : dg16.map { UnsafeRawPointer($0.raw) }), .ptr(du16.map { UnsafeRawPointer($0.raw) }), .i64(Int64(gate.count))])
        if let dg16, let du16 { remember(dgate, dg16); remember(dup, du16) }
    }

    public func embeddingForward(table: Tensor, ids: [Int32], out: Tensor) {
        let b = upload(ints: ids)
        launch("embedding_fwd", grid: blocks(ids.count * table.cols), block: 256,
               [.i32(dtypeCode(table.dtype)), .ptr(ptr(table)), .ptr(UnsafeRawPointer(b.raw)), .ptr(ptr(out)),
                .i64(Int64(ids.count)), .i32(Int32(table.cols))])
        withExtendedLifetime(b) {}
    }

    public func embeddingBackward(ids: [Int32], dout: Tensor, dtable: Tensor) {
        let b = upload(ints: ids)
        launch("embedding_bwd", grid: blocks(ids.count * dtable.cols), block: 256,
               [.ptr(UnsafeRawPointer(b.raw)), .ptr(ptr(dout)), .ptr(ptr(dtable)), .i64(Int64(ids.count)), .i32(Int32(dtable.cols))])
        withExtendedLifetime(b) {}
    }

    public func logSoftmaxForward(x: Tensor, out: Tensor) {
        launch("logsoftmax_fwd", grid: (x.rows, 1, 1), block: 256, [.ptr(ptr(x)), .ptr(ptr(out)), .i32(Int32(x.cols))])
    }

    public func logSoftmaxBackward(out: Tensor, dout: Tensor, dx: Tensor) {
        launch("logsoftmax_bwd", grid: (out.rows, 1, 1), block: 256, [.ptr(ptr(out)), .ptr(ptr(dout)), .ptr(ptr(dx)), .i32(Int32(out.cols))])
    }

    /// About 256 MB of logits a chunk: few, large LM-head products.
    public var crossEntropyChunkBytes: Int { 256 << 20 }

    public func crossEntropyRows(logits: Tensor, labels: [Int32], losses: Tensor, gradient: Bool) {
        let l = upload(ints: labels)
        launch("cross_entropy_rows", grid: (logits.rows, 1, 1), block: 512,
               [.ptr(ptr(logits)), .ptr(UnsafeRawPointer(l.raw)), .ptr(ptr(losses)), .i32(Int32(logits.cols)), .i32(gradient ? 1 : 0)])
        withExtendedLifetime(l) {}
    }

    public func gatherRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let idx = upload(ints: rows), c = src.cols
        launch("gather_rows", grid: blocks(rows.count * c), block: 256,
               [.ptr(ptr(src)), .ptr(UnsafeRawPointer(idx.raw)), .ptr(ptr(dst)), .i64(Int64(rows.count)), .i32(Int32(c))])
        withExtendedLifetime(idx) {}
    }

    public func scatterAddRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let idx = upload(ints: rows), c = src.cols
        launch("scatter_add_rows", grid: blocks(rows.count * c), block: 256,
               [.ptr(ptr(src)), .ptr(UnsafeRawPointer(idx.raw)), .ptr(ptr(dst)), .i64(Int64(rows.count)), .i32(Int32(c))])
        withExtendedLifetime(idx) {}
    }

    public func sumSquares(_ x: Tensor) -> Double {
        ensureContext()
        let out = block(8)
        must(driver.cuMemsetD32Async(out.pointer, 0, 2, stream), "cuMemsetD32Async")
        launch("sum_squares", grid: (max(1, min((x.count + 255) / 256, 1024)), 1, 1), block: 256,
               [.ptr(ptr(x)), .i64(Int64(x.count)), .ptr(UnsafeRawPointer(out.raw))])
        var v: Double = 0
        must(driver.cuMemcpyDtoHAsync(&v, out.pointer, 8, stream), "cuMemcpyDtoHAsync")
        synchronize()
        return v
    }

    /// Fills an f32, bf16, q4_0 or nf4 tensor with uniform values in [−scale, scale] (q4_0, nf4:
    /// random 4-bit values under one scale) made on the device: random weights for 8B-sized
    /// benchmarks without generating them on the host.
    public func fillUniform(_ t: Tensor, seed: UInt64, scale: Float) {
        let code: Int32 = t.dtype == .bf16 ? 2 : t.dtype == .q4_0 ? 4 : t.dtype == .nf4 ? 6 : 0
        guard code != 0 || t.dtype == .f32 else { fail(TensorError.unsupportedDType(op: "fillUniform", dtype: t.dtype)); return }
        let dbits = UInt32(Float16(scale / 8).bitPattern)
        let units = code == 4 ? t.count / 32 : code == 6 ? t.count / 64 : t.count
        launch("fill_uniform", grid: blocks(units), block: 256,
               [.ptr(ptr(t)), .i32(code), .i64(Int64(t.count)), .i64(Int64(bitPattern: seed)), .f32(scale), .i32(Int32(bitPattern: dbits))])
    }

    // MARK: Optimizers

    public func adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, _ h: AdamWStep) {
        launch("adamw_step", grid: blocks(param.count), block: 256,
               [.ptr(ptr(param)), .ptr(ptr(grad)), .ptr(ptr(m)), .ptr(ptr(v)), .i64(Int64(param.count)),
                .f32(h.beta1), .f32(h.beta2), .f32(h.eps), .f32(h.stepSize), .f32(h.bc2Sqrt), .f32(h.decay)])
    }

    public func sgdStep(param: Tensor, grad: Tensor, buffer: Tensor?, lr: Float, momentum: Float, weightDecay: Float, first: Bool) {
        launch("sgd_step", grid: blocks(param.count), block: 256,
               [.ptr(ptr(param)), .ptr(ptr(grad)), .ptr(buffer.map(ptr)), .i64(Int64(param.count)),
                .f32(lr), .f32(momentum), .f32(weightDecay), .i32(first ? 1 : 0)])
    }
}
