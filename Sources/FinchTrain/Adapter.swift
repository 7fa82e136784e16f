import Foundation
import FinchSupport
import FinchModels
import FinchTensor

// PEFT-compatible LoRA adapters: `adapter_config.json` + `adapter_model.safetensors` (f32, PEFT's
// key names) + a README model card. `PeftModel.from_pretrained(base, folder)` loads what this writes.

public enum SaveError: Error, CustomStringConvertible {
    case noAdapter
    case io(path: String, reason: String)
    case invalidAdapter(path: String, reason: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .noAdapter: return "the model has no adapter to save; attach one with lora(model, …) and train it first"
        case let .io(path, reason): return "\(path): \(reason)"
        case let .invalidAdapter(path, reason): return "\(path): not a usable PEFT LoRA adapter: \(reason)"
        case let .unsupported(m): return m
        }
    }
}

/// Writes a folder atomically (FinchSupport's AtomicFolder: a temporary sibling, synced, swapped in),
/// with its errors as SaveError (a WriteError, e.g. "no space left on device writing …", as it is).
public func writeFolderAtomically(_ path: String, _ body: (URL) throws -> Void) throws {
    do {
        try AtomicFolder.write(path) { try body(URL(fileURLWithPath: $0)) }
    } catch let e as SaveError {
        throw e
    } catch let e as WriteError {
        throw e
    } catch {
        throw SaveError.io(path: path, reason: "\(error)")
    }
}

public enum AdapterIO {
    /// The PEFT key of one adapter tensor of `path` (e.g. `model.layers.0.self_attn.q_proj`).
    static func key(_ path: String, _ which: String) -> String { "base_model.model.\(path).\(which).weight" }

    /// The fields of PEFT's `LoraConfig` (with those of `PeftConfig`) that Finch writes or may write
    /// (peft/tuners/lora/config.py, peft/config.py).
    public static let peftLoraConfigKeys: Set<String> = [
        "peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode", "auto_mapping",
        "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "use_rslora",
        "modules_to_save", "init_lora_weights", "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern",
        "use_dora", "layer_replication",
    ]

    public static func save(_ model: LanguageModel, to path: String, baseModel: String? = nil, card: String? = nil) throws {
        guard let lc = model.network.loraConfig else { throw SaveError.noAdapter }
        let targets = lc.targets
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for (p, linear) in model.network.namedProjections {
            guard let lora = linear.lora else { continue }
            for (which, t) in [("lora_A", lora.a), ("lora_B", lora.b)] {
                let values = t.toArray()
                try writer.add(name: key(p, which), dtype: .F32, shape: t.shape,
                               data: .bytes(values.withUnsafeBytes { Array($0) }))
            }
        }
        try DeviceErrors.check()  // values read while a device error is pending are garbage
        let config: JSON = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": .int(lc.rank), "lora_alpha": .float(lc.alpha),
            "lora_dropout": .float(lc.dropout), "target_modules": .array(targets.sorted().map(JSON.string)), "use_rslora": .bool(lc.useRSLoRA),
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "modules_to_save": .null, "layers_to_transform": .null, "layers_pattern": .null,
            "use_dora": false, "revision": .null, "rank_pattern": [:], "alpha_pattern": [:],
            "base_model_name_or_path": .string(baseModel ?? model.baseModelId),
        ]
        // only peftLoraConfigKeys: PEFT warns about any other key; provenance (Finch) goes in the README card
        try writeFolderAtomically(path) { dir in
            try AtomicFile.write(Data(config.serialized(sortKeys: true, indent: 2).utf8), to: dir.appendingPathComponent("adapter_config.json").path)
            try writer.write(to: dir.appendingPathComponent("adapter_model.safetensors").path)
            let readme = card ?? defaultCard(model: model, baseModel: baseModel ?? model.baseModelId, folder: path)
            try AtomicFile.write(Data(readme.utf8), to: dir.appendingPathComponent("README.md").path)
        }
    }

    static func defaultCard(model: LanguageModel, baseModel: String, folder: String) -> String {
        let lc = model.network.loraConfig!
        return """
        ---
        base_model: \(baseModel)
        library_name: peft
        tags:
        - lora
        - finch
        ---
        # LoRA adapter for \(baseModel)

        A PEFT LoRA adapter trained and saved with Finch. Load it with PEFT:

        ```python
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("\(baseModel)"), "\(folder.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))")
        ```

        | setting | value |
        |---|---|
        | r | \(lc.rank) |
        | lora_alpha | \(lc.alpha) |
        | lora_dropout | \(lc.dropout) |
        | target_modules | \(lc.targets.joined(separator: ", ")) |
        | use_rslora | \(lc.useRSLoRA) |
        | trainable parameters | \(model.network.trainableParameterCount) |

        """
    }

    /// Attaches the adapter in `path` (a PEFT folder) to `model`; its tensors train further when `trainable`.
    public static func load(into model: LanguageModel, from path: String, trainable: Bool = true) throws {
        let dir = URL(fileURLWithPath: path)
        let configURL = dir.appendingPathComponent("adapter_config.json")
        guard let data = try? Data(contentsOf: configURL) else {
            throw SaveError.invalidAdapter(path: path, reason: "adapter_config.json is missing")
        }
        let settings: PEFTLoraSettings
        do { settings = try PEFTLoraSettings.parse(data) } catch {
            throw SaveError.invalidAdapter(path: configURL.path, reason: "\(error)")
        }
        let r = settings.rank, alpha = settings.alpha
        var lc = LoRAConfig()
        lc.rank = r
        lc.alpha = alpha
        lc.dropout = settings.dropout
        lc.useRSLoRA = settings.useRSLoRA
        let st = try SafetensorsFile(path: dir.appendingPathComponent("adapter_model.safetensors").path)
        var found: [String] = []
        // Validate, then change: every tensor is read and checked before the model's adapter (a
        // trained one, maybe) is replaced, so a file that does not fit leaves the model as it was.
        var attach: [(Linear, LoRA)] = []
        for (p, linear) in model.network.namedProjections {
            func tensor(_ which: String) throws -> Tensor? {
                let names = [key(p, which), "base_model.model.\(p).\(which).default.weight"]
                guard let info = names.lazy.compactMap({ st.tensor(named: $0) }).first else { return nil }
                guard let dtype = info.dtype.storageType else {
                    throw SaveError.invalidAdapter(path: st.path, reason: "\(info.name) has dtype \(info.dtype.rawValue)")
                }
                let stored = try Tensor(shape: info.shape, dtype: dtype, bytes: st.data(for: info).baseAddress!, owner: st)
                return try Tensor(stored.toArray(), shape: info.shape).moved(to: linear.weight.device)
            }
            guard let a = try tensor("lora_A"), let b = try tensor("lora_B") else { continue }
            guard a.shape == [r, linear.inFeatures], b.shape == [linear.outFeatures, r] else {
                throw SaveError.invalidAdapter(path: st.path, reason: "\(p): lora_A \(a.shape) / lora_B \(b.shape) do not fit a \(linear.outFeatures)×\(linear.inFeatures) layer with r \(r)")
            }
            let lora = LoRA(a: a, b: b, alpha: alpha, useRSLoRA: lc.useRSLoRA, dropout: lc.dropout)
            if !trainable { a.requiresGrad = false; b.requiresGrad = false }
            attach.append((linear, lora))
            found.append(String(p.split(separator: ".").last!))
        }
        guard !found.isEmpty else {
            throw SaveError.invalidAdapter(path: st.path, reason: "no lora_A/lora_B tensor matches this model's layers")
        }
        try DeviceErrors.check()  // the tensors could not all be placed on the model's device
        lc.targets = LoRAConfig.allTargets.filter { Set(found).contains($0) }
        model.network.detachLoRA()
        for (linear, lora) in attach { linear.lora = lora }
        model.network.loraConfig = lc
    }
}
