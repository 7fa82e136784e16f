import CFinchKernels
import Foundation

// RMSNorm as Llama defines it: y = x / sqrt(mean(x²) + eps) · w, per row (no mean subtraction,
// no bias). Forward saves 1/rms per row for the backward.

extension Ops {
    /// x (…, C), weight (C) → (…, C)
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) throws -> Tensor {
        try requireF32("rmsNorm", x, weight)
        guard weight.count == x.cols else { throw TensorError.shapeMismatch(op: "rmsNorm", lhs: x.shape, rhs: weight.shape) }
        let out = Tensor(uninitialized: x.shape, device: x.device)
        let rstd = Tensor(uninitialized: [x.rows], device: x.device)
        x.backend.rmsNormForward(x: x, weight: weight, eps: eps, out: out, rstd: rstd)
        return recordRMSNorm(out, x: x, weight: weight, rstd: rstd)
    }

    /// The residual add and the norm that reads it, in one pass: sum = x + a, normed = rmsNorm(sum).
    /// The graph is that of `add` then `rmsNorm` (sum keeps its own gradient).
    public static func addRMSNorm(_ x: Tensor, _ a: Tensor, weight: Tensor, eps: Float) throws -> (sum: Tensor, normed: Tensor) {
        try requireF32("addRMSNorm", x, a, weight)
        try requireSameShape("addRMSNorm", x, a)
        guard weight.count == x.cols else { throw TensorError.shapeMismatch(op: "addRMSNorm", lhs: x.shape, rhs: weight.shape) }
        let sum = Tensor(uninitialized: x.shape, device: x.device)
        let out = Tensor(uninitialized: x.shape, device: x.device)
        let rstd = Tensor(uninitialized: [x.rows], device: x.device)
        x.backend.addRMSNormForward(x: x, a: a, weight: weight, eps: eps, sum: sum, out: out, rstd: rstd)
        let recordedSum = recordAdd(sum, x, a)
        return (recordedSum, recordRMSNorm(out, x: recordedSum, weight: weight, rstd: rstd))
    }

    /// The backward of out = rmsNorm(x): dx goes straight onto x's gradient buffer when it has one.
    private static func recordRMSNorm(_ out: Tensor, x: Tensor, weight: Tensor, rstd: Tensor) -> Tensor {
        let gx = x.gradSink, gw = weight.gradSink
        let inputs = [x, weight]
        let x = x.detached(), weight = weight.detached()
        return out.record(inputs) { dout in
            let dw = gw != nil ? Tensor.zeros(weight.shape, device: x.device) : nil
            if let gx {
                gx.accumulateInPlace { dx, accumulate in
                    x.backend.rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: dx, accumulate: accumulate, dweight: dw)
                }
            } else {
                x.backend.rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: nil, dweight: dw)
            }
            if let dw { gw?.accumulate(fresh: dw) }
        }
    }
}

extension Backend {
    /// Backends without a fused kernel: the add, then the norm.
    public func addRMSNormForward(x: Tensor, a: Tensor, weight: Tensor, eps: Float, sum: Tensor, out: Tensor, rstd: Tensor) {
        elementwise(.add, x, a, out: sum)
        rmsNormForward(x: sum, weight: weight, eps: eps, out: out, rstd: rstd)
    }

    /// Backends without an accumulating kernel: dx into a fresh buffer, then added.
    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, accumulate: Bool, dweight: Tensor?) {
        guard accumulate, let dx else { return rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: dx, dweight: dweight) }
        let fresh = Tensor(uninitialized: dx.shape, device: dx.device)
        rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: fresh, dweight: dweight)
        elementwise(.add, dx, fresh, out: dx)
    }
}

extension CPUBackend {
    // (R,C) → (R,C), rstd (R)
    public func rmsNormForward(x: Tensor, weight: Tensor, eps: Float, out: Tensor, rstd: Tensor) {
        Profiler.measure("rmsnorm fwd") {
        let c = x.cols
        let px = x.data, pw = weight.data, po = out.data, pr = rstd.data
        parallelFor(x.rows, minChunk: 16) { rows in
            for r in rows { pr[r] = finch_rmsnorm_f32(px + r * c, pw, po + r * c, c, eps) }
        }
    }
    }

    // sum = x + a, out = rmsnorm(sum): one pass over the rows.
    public func addRMSNormForward(x: Tensor, a: Tensor, weight: Tensor, eps: Float, sum: Tensor, out: Tensor, rstd: Tensor) {
        Profiler.measure("rmsnorm fwd") {
        let c = x.cols
        let px = x.data, pa = a.data, ps = sum.data, pw = weight.data, po = out.data, pr = rstd.data
        parallelFor(x.rows, minChunk: 16) { rows in
            for r in rows { pr[r] = finch_add_rmsnorm_f32(px + r * c, pa + r * c, ps + r * c, pw, po + r * c, c, eps) }
        }
    }
    }

    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, dweight: Tensor?) {
        rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: dx, accumulate: false, dweight: dweight)
    }

    // dx (+)= rstd · (dy⊙w − x̂ · mean(dy⊙w⊙x̂)),  dw += Σ_rows dy ⊙ x̂
    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, accumulate: Bool, dweight: Tensor?) {
        Profiler.measure("rmsnorm bwd") {
        let c = x.cols
        let px = x.data, pw = weight.data, pd = dout.data, pr = rstd.data
        if let dx {
            let pdx = dx.data
            parallelFor(x.rows, minChunk: 16) { rows in
                for r in rows { finch_rmsnorm_backward_f32(px + r * c, pw, pd + r * c, pr[r], pdx + r * c, c, accumulate ? 1 : 0) }
            }
        }
        if let dweight {
            let pdw = dweight.data
            for r in 0..<x.rows {
                let xr = px + r * c, dr = pd + r * c
                let s = pr[r]
                for i in 0..<c { pdw[i] += dr[i] * xr[i] * s }
            }
        }
    }
    }
}
