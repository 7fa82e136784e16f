import Foundation
import FinchTensor

/// A LoRA adapter on one linear layer: y += scale · B · A · dropout(x).
/// A (r, in) starts Kaiming-uniform as PEFT does, B (out, r) at zero, so a fresh adapter changes nothing.
public final class LoRA {
    public let a: Tensor
    public let b: Tensor
    public let rank: Int
    public var alpha: Float
    public var useRSLoRA: Bool
    public var dropout: Float
    /// Set by the trainer each step: dropout masks are a function of it (and the layer), so
    /// checkpoint recomputation reuses them. Nil: no dropout (evaluation, generation).
    public var dropoutSeed: UInt64?

    /// PEFT's scaling: alpha / r, or alpha / √r with rsLoRA.
    public var scale: Float { useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }

    public init(a: Tensor, b: Tensor, alpha: Float, useRSLoRA: Bool = false, dropout: Float = 0) {
        self.a = a
        self.b = b
        self.rank = a.shape[0]
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.dropout = dropout
        a.requiresGrad = true
        b.requiresGrad = true
    }

    /// A fresh adapter for a layer of `inFeatures` → `outFeatures`.
    public convenience init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, useRSLoRA: Bool = false,
                            dropout: Float = 0, device: Device = .cpu, rng: inout SplitMix64) {
        // kaiming_uniform_(a=√5): bound = gain·√(3/fan_in), gain = √(2/(1+5)) → 1/√fan_in.
        let bound = 1 / Float(inFeatures).squareRoot()
        let a = Tensor(uninitialized: [rank, inFeatures])
        for i in 0..<a.count { a.data[i] = (rng.nextFloat() * 2 - 1) * bound }
        // Moving an f32 tensor to another device cannot fail (no conversion).
        let placed = (try? a.moved(to: device)) ?? a
        self.init(a: placed, b: Tensor.zeros([outFeatures, rank], device: placed.device), alpha: alpha, useRSLoRA: useRSLoRA, dropout: dropout)
    }
}

/// y = x · Wᵀ + b, with an optional LoRA branch. W stays in its stored precision (frozen).
public final class Linear {
    public var weight: Tensor
    public var bias: Tensor?
    public var lora: LoRA?
    /// Distinguishes layers in dropout seeds.
    public let layerId: UInt64

    public init(weight: Tensor, bias: Tensor? = nil, layerId: UInt64 = 0) {
        self.weight = weight
        self.bias = bias
        self.layerId = layerId
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// The adapter when base and branch can run as one `Ops.loraLinear` node for input `x`: no
    /// dropout to apply, a frozen base, and training or an accelerator (CPU decoding of a few rows
    /// keeps the quantized mat-vec path of `Ops.linear`).
    func fusableLoRA(for x: Tensor) -> LoRA? {
        guard let lora, lora.dropout == 0 || lora.dropoutSeed == nil, !weight.needsGrad,
              x.device != .cpu || (GradMode.isEnabled && x.rows > 4) else { return nil }
        return lora
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if let lora = fusableLoRA(for: x) {
            return try Ops.loraLinear(x, weight: weight, bias: bias, a: lora.a, b: lora.b, scale: lora.scale)
        }
        let y = try Ops.linear(x, weight, bias: bias)
        guard let lora else { return y }
        var input = x
        if lora.dropout > 0, let seed = lora.dropoutSeed {
            input = try Ops.dropout(x, p: lora.dropout, seed: seed ^ (layerId &* 0x9E37_79B9_7F4A_7C15))
        }
        // (N,in)·Aᵀ → (N,r); ·Bᵀ → (N,out)
        let delta = try Ops.linear(try Ops.linear(input, lora.a), lora.b)
        return try Ops.addScaled(y, delta, lora.scale)
    }

    /// Whether a training step through `afterSwiGLU` keeps no SwiGLU product (the memory estimate counts on it):
    /// an adapter without dropout on a frozen base on the CPU, as `fusableLoRA` finds while training.
    public var trainsWithoutSwiGLUProduct: Bool {
        guard let lora else { return false }
        return weight.device == .cpu && lora.dropout == 0 && !weight.needsGrad
    }

    /// self(silu(gate) ⊙ up): on the CPU, where the adapter can fuse, one node that does not keep the SwiGLU
    /// product (`Ops.swigluLoRALinear`); else the two ops. Not on accelerators: rebuilding h whole there cost a
    /// (checkpointed) 8B-shape step 1.6 % on an H100 and saved no memory (BENCHMARKS.md, session 17).
    public func afterSwiGLU(gate: Tensor, up: Tensor) throws -> Tensor {
        if gate.device == .cpu, let lora = fusableLoRA(for: gate) {
            return try Ops.swigluLoRALinear(gate: gate, up: up, weight: weight, bias: bias, a: lora.a, b: lora.b, scale: lora.scale)
        }
        return try self(try Ops.swiglu(gate: gate, up: up))
    }

    /// Applies layers that read the same input (q/k/v, gate/up). While training (and on
    /// accelerators) their LoRA A products share one product, so x is read once for all of them.
    public static func applyShared(_ layers: [Linear], to x: Tensor) throws -> [Tensor] {
        let loras = layers.compactMap { $0.fusableLoRA(for: x) }
        guard layers.count > 1, loras.count == layers.count else { return try layers.map { try $0(x) } }
        x.backend.prepareSharedOperand(x)
        let xa = try Ops.linear(x, try Ops.concatRows(loras.map(\.a)))  // (N, Σr)
        var column = 0
        var out: [Tensor] = []
        for (layer, lora) in zip(layers, loras) {
            out.append(try Ops.loraLinear(x, weight: layer.weight, bias: layer.bias, sharedXA: xa, column: column, b: lora.b, scale: lora.scale))
            column += lora.rank
        }
        return out
    }

    /// The adapter merged into the base: W + scale · B · A in f32 (the base decoded from its stored
    /// precision first). "Merge" is for weights; "fused" names kernels that do several ops in one pass.
    public func mergedWeight() throws -> Tensor {
        let w = weight.dtype == .f32 && weight.device == .cpu ? weight.clone() : try Tensor(weight.toArray(), shape: weight.shape)
        guard let lora else { return w }
        let ba = try GradMode.noGrad { try Ops.matmul(lora.b.moved(to: .cpu), lora.a.moved(to: .cpu)) }  // (out,r)·(r,in)
        let p = w.data, q = ba.data, s = lora.scale
        for i in 0..<w.count { p[i] += s * q[i] }
        return w
    }
}
