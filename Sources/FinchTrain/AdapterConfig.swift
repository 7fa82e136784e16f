import Foundation
#if canImport(FinchModels)
import FinchModels
#endif

// The LoRA settings of a PEFT `adapter_config.json`, read with nothing but Foundation and FinchModels'
// exact integer reader, so the libFuzzer harness (fuzz/model-config) builds it with config.json's reader.
public struct PEFTLoraSettings: Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var useRSLoRA: Bool

    public struct Problem: Error, CustomStringConvertible { public var description: String }

    /// Parses and checks the fields Finch uses; a problem says which field and what is wrong.
    public static func parse(_ data: Data) throws -> PEFTLoraSettings {
        guard let cfg = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw Problem(description: "is not a JSON object") }
        guard (cfg["peft_type"] as? String ?? "LORA") == "LORA" else {
            throw Problem(description: "peft_type is \(cfg["peft_type"]!), only LORA is supported")
        }
        guard let r = exactInt(cfg["r"]), r > 0, r <= 1 << 16 else {
            throw Problem(description: cfg["r"] == nil ? "r is missing" : "r must be a whole number in 1...65536 (got \(cfg["r"]!))")
        }
        if cfg["use_dora"] as? Bool == true { throw Problem(description: "DoRA adapters are not supported") }
        let alpha = number(cfg["lora_alpha"]) ?? Double(r)
        guard alpha.isFinite, alpha > 0 else { throw Problem(description: "lora_alpha must be a positive number (got \(cfg["lora_alpha"]!))") }
        let dropout = number(cfg["lora_dropout"]) ?? 0
        guard dropout >= 0, dropout < 1 else { throw Problem(description: "lora_dropout must be in [0, 1) (got \(cfg["lora_dropout"]!))") }
        return PEFTLoraSettings(rank: r, alpha: Float(alpha), dropout: Float(dropout), useRSLoRA: cfg["use_rslora"] as? Bool ?? false)
    }

    /// A JSON number that is not true/false.
    static func number(_ v: Any?) -> Double? {
        guard let n = v as? NSNumber, !isJSONBool(n) else { return nil }
        return n.doubleValue
    }
}
