import CFinchKernels
import Foundation

// The SwiGLU product of Llama's MLP: silu(gate) ⊙ up, fused so the silu output is never stored.

extension Ops {
    /// gate, up (…, F) → silu(gate) ⊙ up (…, F)
    public static func swiglu(gate: Tensor, up: Tensor) throws -> Tensor {
        try requireF32("swiglu", gate, up)
        try requireSameShape("swiglu", gate, up)
        let out = Tensor(uninitialized: gate.shape, device: gate.device)
        gate.backend.swigluForward(gate: gate, up: up, out: out)
        let gg = gate.gradSink, gu = up.gradSink
        let inputs = [gate, up]
        let gate = gate.detached(), up = up.detached()
        return out.record(inputs) { dout in
            let dg = Tensor(uninitialized: gate.shape, device: gate.device)
            let du = Tensor(uninitialized: up.shape, device: up.device)
            gate.backend.swigluBackward(gate: gate, up: up, dout: dout, dgate: dg, dup: du)
            gg?.accumulate(fresh: dg)
            gu?.accumulate(fresh: du)
        }
    }
}

extension CPUBackend {
    public func swigluForward(gate: Tensor, up: Tensor, out: Tensor) {
        Profiler.measure("swiglu fwd") {
        let pg = gate.data, pu = up.data, po = out.data
        parallelFor(out.count, minChunk: 1 << 14) { r in
            finch_swiglu_f32(pg + r.lowerBound, pu + r.lowerBound, po + r.lowerBound, r.count)
        }
    }
    }

    // dgate = dout ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))),  dup = dout ⊙ silu(g)
    public func swigluBackward(gate: Tensor, up: Tensor, dout: Tensor, dgate: Tensor, dup: Tensor) {
        Profiler.measure("swiglu bwd") {
        let pg = gate.data, pu = up.data, pd = dout.data, pdg = dgate.data, pdu = dup.data
        parallelFor(gate.count, minChunk: 1 << 14) { r in
            let o = r.lowerBound
            finch_swiglu_backward_f32(pg + o, pu + o, pd + o, pdg + o, pdu + o, r.count)
        }
    }
    }
}

extension Backend {
    /// The SwiGLU backward of an MLP whose down projection's adapter needs dA = dxaᵀ · h (r, F), h = silu(gate) ⊙ up
    /// not kept from the forward (`Ops.swigluLoRALinear`): dgate and dup as `swigluBackward`, dA written. This
    /// default rebuilds h whole in a temporary and runs the kernels above; the CPU's rebuilds it a block at a time.
    public func swigluLoRABackward(gate: Tensor, up: Tensor, dout: Tensor, dxa: Tensor, dgate: Tensor, dup: Tensor, da: Tensor) {
        let n = gate.rows, f = gate.cols, r = dxa.cols
        let h = Tensor(uninitialized: gate.shape, device: gate.device)
        swigluForward(gate: gate, up: up, out: h)
        gemm(GemmParams(m: r, n: f, k: n, transA: true, transB: false, lda: r, ldb: f, ldc: f), a: dxa, b: h, c: da)
        swigluBackward(gate: gate, up: up, dout: dout, dgate: dgate, dup: dup)
    }
}

extension CPUBackend {
    /// One pass over gate, up and dout (finch_swiglu_lora_backward_f32), the rows split among the threads: the
    /// first writes dA, each other its own partial dA, added after by columns.
    public func swigluLoRABackward(gate: Tensor, up: Tensor, dout: Tensor, dxa: Tensor, dgate: Tensor, dup: Tensor, da: Tensor) {
        Profiler.measure("swiglu bwd + lora dA") {
        guard !DeviceErrors.isPending else { return }
        let n = gate.rows, f = gate.cols, r = dxa.cols, perThread = Int(FINCH_SWIGLU_LORA_SCRATCH)
        let shares = max(1, min(ThreadBudget.count, n))
        // Per share: its scratch for h, then (all but the first) its partial dA.
        let stride = CPUBackend.scratchStride(perThread + r * f)
        let scratch = allocate(count: shares * stride)
        guard !DeviceErrors.isPending else { return }  // no scratch: the step is thrown away
        let base = scratch.raw.assumingMemoryBound(to: Float.self)
        let pg = gate.data, pu = up.data, pd = dout.data, pdg = dgate.data, pdu = dup.data, pxa = dxa.data, pda = da.data
        parallelPerform(shares) { t in
            let r0 = n * t / shares, r1 = n * (t + 1) / shares, o = r0 * f, own = base + t * stride
            finch_swiglu_lora_backward_f32(pg + o, pu + o, pd + o, pdg + o, pdu + o, r1 - r0, f, pxa + r0 * r, r,
                                           t == 0 ? pda : own + perThread, own)
        }
        if shares > 1 {
            // dA += the partials, in share order, each thread a range of dA's elements.
            parallelFor(r * f, minChunk: 4096) { range in
                for t in 1..<shares {
                    let partial = base + t * stride + perThread
                    for i in range { pda[i] += partial[i] }
                }
            }
        }
        withExtendedLifetime(scratch) {}
        }
    }
}
