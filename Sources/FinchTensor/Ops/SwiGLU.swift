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
