/// Errors from loading and running models. Each names the file or tensor and what to do.
public enum ModelError: Error, CustomStringConvertible {
    case unsupportedArchitecture(String, file: String)
    case invalidConfig(file: String, key: String, problem: String)
    case missingWeight(name: String, source: String)
    case weightShape(name: String, expected: [Int], got: [Int], source: String)
    case fileNotFound(String, hint: String)
    case invalidFile(String, problem: String)
    case contextOverflow(tokens: Int, limit: Int)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(arch, file):
            return "\(file): architecture '\(arch)' is not supported (supported: llama, mistral, qwen2 — Llama 1/2/3.x, SmolLM, TinyLlama, Mistral, Qwen2/2.5, DeepSeek-R1-Distill)"
        case let .invalidConfig(file, key, problem): return "\(file): '\(key)' \(problem)"
        case let .missingWeight(name, source): return "\(source): tensor '\(name)' is missing"
        case let .weightShape(name, expected, got, source): return "\(source): tensor '\(name)' has shape \(got), expected \(expected)"
        case let .fileNotFound(path, hint): return "\(path): not found. \(hint)"
        case let .invalidFile(path, problem): return "\(path): \(problem)"
        case let .contextOverflow(tokens, limit): return "\(tokens) tokens exceed the model's context of \(limit); shorten the input or raise max_seq_length"
        case let .invalidArgument(message): return message
        }
    }
}
