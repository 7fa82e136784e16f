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
        let gx = x.gradSink, gw = weight.gradSink
        let inputs = [x, weight]
        let x = x.detached(), weight = weight.detached()
        return out.record(inputs) { dout in
            let dx = gx != nil ? Tensor(uninitialized: x.shape, device: x.device) : nil
            let dw = gw != nil ? Tensor.zeros(weight.shape, device: x.device) : nil
            x.backend.rmsNormBackward(x: x, weight: weight, rstd: rstd, dout: dout, dx: dx, dweight: dw)
            if let dx { gx?.accumulate(fresh: dx) }
            if let dw { gw?.accumulate(fresh: dw) }
        }
    }
}

extension CPUBackend {
    // (R,C) → (R,C), rstd (R)
    public func rmsNormForward(x: Tensor, weight: Tensor, eps: Float, out: Tensor, rstd: Tensor) {
        Profiler.measure("rmsnorm fwd") {
        let c = x.cols
        let px = x.data, pw = weight.data, po = out.data, pr = rstd.data
        parallelFor(x.rows, minChunk: 16) { rows in
            for r in rows {
                let xr = px + r * c, orow = po + r * c
                var ss: Float = 0
                for i in 0..<c { ss += xr[i] * xr[i] }
                let s = 1 / (ss / Float(c) + eps).squareRoot()
                pr[r] = s
                for i in 0..<c { orow[i] = xr[i] * s * pw[i] }
            }
        }
    }
    }

    // dx = rstd · (dy⊙w − x̂ · mean(dy⊙w⊙x̂)),  dw += Σ_rows dy ⊙ x̂
    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, dweight: Tensor?) {
        Profiler.measure("rmsnorm bwd") {
        let c = x.cols
        let px = x.data, pw = weight.data, pd = dout.data, pr = rstd.data
        if let dx {
            let pdx = dx.data
            parallelFor(x.rows, minChunk: 16) { rows in
                for r in rows {
                    let xr = px + r * c, dr = pd + r * c, out = pdx + r * c
                    let s = pr[r]
                    var dot: Float = 0
                    for i in 0..<c { dot += dr[i] * pw[i] * xr[i] * s }
                    let m = dot / Float(c)
                    for i in 0..<c { out[i] = s * (dr[i] * pw[i] - xr[i] * s * m) }
                }
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
