/// Errors from parsing or rendering a chat template; positions are 1-based line:column in the template.
public enum TemplateError: Error, Equatable, CustomStringConvertible {
    case syntax(line: Int, column: Int, message: String)
    /// `raise_exception(message)` was called by the template.
    case raised(message: String)
    /// An operation on values of the wrong kind, or an undefined value used where that is an error.
    case runtime(line: Int, message: String)
    /// The sandbox stopped the template: too many loop iterations, too much output, too deep.
    case limitExceeded(String)

    public var description: String {
        switch self {
        case let .syntax(line, column, message): return "chat template \(line):\(column): \(message)"
        case let .raised(message): return "chat template raised: \(message)"
        case let .runtime(line, message): return "chat template line \(line): \(message)"
        case let .limitExceeded(what): return "chat template stopped: \(what)"
        }
    }
}
