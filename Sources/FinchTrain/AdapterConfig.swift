import Foundation
#if canImport(FinchSupport)
import FinchSupport
#endif

// The LoRA settings of a PEFT `adapter_config.json`, read with FinchSupport's JSON fields alone, so the
// libFuzzer harness (fuzz/model-config) builds it with config.json's reader.
public struct PEFTLoraSettings: Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var useRSLoRA: Bool

    public struct Problem: Error, CustomStringConvertible { public var description: String }

    /// Parses and checks the fields Finch uses; a problem says which field and what is wrong.
    public static func parse(_ data: Data, file: String = "adapter_config.json") throws -> PEFTLoraSettings {
        let cfg: JSONFields
        do { cfg = try JSONFields(parsing: data, file: file) } catch { throw Problem(description: "is not a JSON object") }
        func field<T>(_ read: () throws -> T) throws -> T {
            do { return try read() } catch let e as JSONFieldError { throw Problem(description: "\(e.field) \(e.problem)") }
        }
        let peftType = try field { try cfg.string("peft_type") } ?? "LORA"
        guard peftType == "LORA" else { throw Problem(description: "peft_type is \(peftType), only LORA is supported") }
        guard let r = cfg["r"]?.intValue, r > 0, r <= 1 << 16 else {
            throw Problem(description: cfg["r"] == nil ? "r is missing" : "r must be a whole number in 1...65536 (got \(cfg["r"]!))")
        }
        if try field({ try cfg.bool("use_dora") }) == true { throw Problem(description: "DoRA adapters are not supported") }
        let alpha = try field { try cfg.double("lora_alpha") } ?? Double(r)
        guard alpha.isFinite, alpha > 0 else { throw Problem(description: "lora_alpha must be a positive number (got \(cfg["lora_alpha"]!))") }
        let dropout = try field { try cfg.double("lora_dropout") } ?? 0
        guard dropout >= 0, dropout < 1 else { throw Problem(description: "lora_dropout must be in [0, 1) (got \(cfg["lora_dropout"]!))") }
        return PEFTLoraSettings(rank: r, alpha: Float(alpha), dropout: Float(dropout), useRSLoRA: try field { try cfg.bool("use_rslora") } ?? false)
    }
}
