import Foundation
import FinchTensor

extension Transformer {
    /// A copy of this model on `device` for data parallelism: the frozen weights byte for byte in
    /// their stored type (shared, not copied, when both are on the CPU: they are read-only), and
    /// the adapters as fresh tensors with equal values, so that training the replica leaves this
    /// model's adapters alone.
    public func replica(on device: Device) throws -> Transformer {
        var tensors: [String: Tensor] = ["model.embed_tokens.weight": try place(embedTokens, on: device),
                                         "model.norm.weight": try place(norm, on: device)]
        if lmHead !== embedTokens { tensors["lm_head.weight"] = try place(lmHead, on: device) }
        for l in layers {
            let p = "model.layers.\(l.index)."
            tensors[p + "input_layernorm.weight"] = try place(l.inputNorm, on: device)
            tensors[p + "post_attention_layernorm.weight"] = try place(l.postAttentionNorm, on: device)
            for (name, linear) in l.projections {
                let path = p + DecoderLayer.modulePath(name)
                tensors[path + ".weight"] = try place(linear.weight, on: device)
                if let b = linear.bias { tensors[path + ".bias"] = try place(b, on: device) }
            }
        }
        let copy = try Transformer(config: config, weights: WeightSet(tensors, source: source), source: source)
        for ((_, mine), (_, theirs)) in zip(namedProjections, copy.namedProjections) {
            guard let lora = mine.lora else { continue }
            theirs.lora = LoRA(a: try place(lora.a, on: device, copy: true), b: try place(lora.b, on: device, copy: true),
                               alpha: lora.alpha, useRSLoRA: lora.useRSLoRA, dropout: lora.dropout)
        }
        copy.loraConfig = loraConfig
        try DeviceErrors.check()
        return copy
    }

    /// `t`'s bytes on `device`, in its stored type (quantized blocks are not re-encoded).
    func place(_ t: Tensor, on device: Device, copy: Bool = false) throws -> Tensor {
        if t.device == .cpu && device == .cpu && !copy { return t }
        guard let bytes = t.dtype.byteCount(elements: t.count) else {
            throw ModelError.invalidArgument("replica: \(t.count) elements are not whole \(t.dtype) blocks")
        }
        let host = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        defer { host.deallocate() }
        t.backend.download(t, into: host, byteCount: bytes)
        let storage = device == .cpu ? TensorStorage(pooledBytes: bytes, dtype: t.dtype)
                                     : Backends.backend(for: device).allocate(bytes: bytes, dtype: t.dtype)
        let dst = Tensor(shape: t.shape, storage: storage)
        dst.backend.upload(host, byteCount: bytes, into: dst)
        dst.backend.synchronize()  // `host` goes away on return
        return dst
    }
}
