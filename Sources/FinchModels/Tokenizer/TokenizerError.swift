import Foundation

/// What is wrong with a tokenizer description. Every case names the file (or "GGUF metadata") and the place.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The bytes are not JSON at all.
    case invalidJSON(file: String, reason: String)
    /// A required key is absent.
    case missingKey(file: String, path: String)
    /// A value has the wrong JSON type.
    case wrongType(file: String, path: String, expected: String)
    /// A value has the right type but is unusable (e.g. a merge that is not two parts, a negative id).
    case invalidValue(file: String, path: String, reason: String)
    /// A component type Finch does not implement (e.g. a WordPiece model).
    case unsupported(file: String, path: String, what: String)

    public var description: String {
        switch self {
        case let .invalidJSON(file, reason):
            return "\(file): not valid JSON (\(reason))"
        case let .missingKey(file, path):
            return "\(file): missing key \(path)"
        case let .wrongType(file, path, expected):
            return "\(file): \(path) should be \(expected)"
        case let .invalidValue(file, path, reason):
            return "\(file): \(path): \(reason)"
        case let .unsupported(file, path, what):
            return "\(file): \(path): unsupported \(what)"
        }
    }
}
