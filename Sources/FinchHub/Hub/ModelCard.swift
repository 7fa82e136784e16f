// The model card generated for an adapter folder: YAML front matter the Hub understands (base_model,
// library_name, tags, datasets) and the LoRA settings and training summary in prose and tables.
import FinchSupport
import Foundation

public struct ModelCardInfo: Sendable {
    public var baseModel: String?
    public var dataset: String?
    /// Training summary (steps, epochs, final loss, learning rate, …) in display order.
    public var summary: [(String, JSON)]
    public var description: String?
    public init(baseModel: String? = nil, dataset: String? = nil, summary: [(String, JSON)] = [], description: String? = nil) {
        self.baseModel = baseModel; self.dataset = dataset; self.summary = summary; self.description = description
    }
}

public enum ModelCard {
    static func yamlString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func show(_ v: JSON) -> String {
        switch v {
        case .string(let s): return s
        case .double(let d): return abs(d) < 1e-3 && d != 0 ? String(format: "%.3e", d) : String(format: "%.4g", d)
        case .array(let a): return a.map(show).joined(separator: ", ")
        default: return v.description
        }
    }

    /// Builds README.md text from `adapter_config.json` (and `training_summary.json` when present).
    public static func generate(folder: String, repo: String, info: ModelCardInfo) throws -> String {
        var adapter: JSON = .object([])
        if let d = FileManager.default.contents(atPath: folder + "/adapter_config.json") { adapter = try JSON.parse(d, options: .lenient) }
        var summary = info.summary
        if summary.isEmpty, let d = FileManager.default.contents(atPath: folder + "/training_summary.json"), let o = try? JSON.parse(d, options: .lenient).objectValue {
            summary = o
        }
        let base = info.baseModel ?? adapter["base_model_name_or_path"]?.stringValue
        var y = "---\n"
        if let base { y += "base_model: \(yamlString(base))\n" }
        y += "library_name: peft\n"
        y += "tags:\n- finch\n- lora\n"
        if let ds = info.dataset { y += "datasets:\n- \(yamlString(ds))\n" }
        y += "---\n\n"
        var md = y + "# \(repo)\n\n"
        md += info.description ?? "A LoRA adapter\(base.map { " for [\($0)](https://huggingface.co/\($0))" } ?? "") trained with Finch."
        md += "\n\n## LoRA settings\n\n| setting | value |\n|---|---|\n"
        for key in ["peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias", "use_rslora"] {
            if let v = adapter[key] { md += "| \(key) | \(show(v)) |\n" }
        }
        if let ds = info.dataset { md += "\n## Dataset\n\n\(ds)\n" }
        if !summary.isEmpty {
            md += "\n## Training summary\n\n| metric | value |\n|---|---|\n"
            for (k, v) in summary { md += "| \(k) | \(show(v)) |\n" }
        }
        md += "\n## Use\n\nLoad the base model and apply this adapter with PEFT, or in Finch:\n\n```\nm = load_model(\(base.map { "\"\($0)\"" } ?? "BASE"))\nload_adapter(m, \"\(repo)\")\n```\n"
        return md
    }
}
