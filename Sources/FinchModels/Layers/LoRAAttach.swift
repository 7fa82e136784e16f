import FinchTensor

/// LoRA settings as PEFT's `LoraConfig` names them.
public struct LoRAConfig: Equatable, Sendable {
    public static let allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public var rank = 16
    public var alpha: Float = 16
    public var dropout: Float = 0
    public var targets = LoRAConfig.allTargets
    public var useRSLoRA = false
    public var seed: UInt64 = 3407

    public init() {}

    public func validate() throws {
        guard rank > 0 else { throw ModelError.invalidArgument("lora: r must be positive (got \(rank))") }
        guard rank <= 1 << 16 else { throw ModelError.invalidArgument("lora: r must be at most \(1 << 16) (got \(rank))") }
        guard alpha > 0 else { throw ModelError.invalidArgument("lora: alpha must be positive (got \(alpha))") }
        guard dropout >= 0, dropout < 1 else { throw ModelError.invalidArgument("lora: dropout must be in [0, 1) (got \(dropout))") }
        guard !targets.isEmpty else { throw ModelError.invalidArgument("lora: targets is empty; valid names: \(LoRAConfig.allTargets.joined(separator: ", "))") }
        for t in targets where !LoRAConfig.allTargets.contains(t) {
            throw ModelError.invalidArgument("lora: unknown target module '\(t)'; valid names: \(LoRAConfig.allTargets.joined(separator: ", "))")
        }
    }
}

extension Transformer {
    /// Attaches fresh adapters (A Kaiming-uniform, B zero) to every targeted projection,
    /// replacing the whole adapter already there (untargeted projections keep none). All new
    /// adapters are made before the old one goes, so a failure leaves the model as it was.
    public func attachLoRA(_ config: LoRAConfig) throws {
        try config.validate()
        var rng = SplitMix64(seed: config.seed)
        var fresh: [(Linear, LoRA?)] = []
        for layer in layers {
            for (name, linear) in layer.projections {
                guard config.targets.contains(name) else { fresh.append((linear, nil)); continue }
                fresh.append((linear, LoRA(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures, rank: config.rank,
                                           alpha: config.alpha, useRSLoRA: config.useRSLoRA, dropout: config.dropout,
                                           device: linear.weight.device, rng: &rng)))
            }
        }
        try DeviceErrors.check()  // a device that could not hold them: nothing changed
        for (linear, lora) in fresh { linear.lora = lora }
        loraConfig = config
    }

    /// Removes all adapters.
    public func detachLoRA() {
        for (_, l) in namedProjections { l.lora = nil }
        loraConfig = nil
    }

    /// The trainable tensors with their PEFT names (`base_model.model.<path>.lora_A.weight`).
    public var trainableParameters: [(name: String, tensor: Tensor)] {
        namedProjections.flatMap { path, linear -> [(name: String, tensor: Tensor)] in
            guard let lora = linear.lora else { return [] }
            return [("base_model.model.\(path).lora_A.weight", lora.a), ("base_model.model.\(path).lora_B.weight", lora.b)]
        }
    }

    public var trainableParameterCount: Int { trainableParameters.reduce(0) { $0 + $1.tensor.count } }
}
