// Opaque handles: values implemented outside the language (Model, Dataset, PromptStyle, Secret,
// TrainResult, Run, …). The interpreter only talks to them through this protocol.

public protocol FinchObject: AnyObject {
    /// Shown by `type(x)` and in error messages: "Model", "Dataset".
    var typeName: String { get }
    /// A short, informative one-line form used inside lists, in error messages and by `repr`.
    var description: String { get }
    /// The form `print(x)` and the REPL show; may span lines (a dataset prints a small table).
    var display: String { get }
    /// Attribute and method names, for completion, `help(x)` and "did you mean".
    var attributeNames: [String] { get }
    var methodNames: [String] { get }
    /// `x.name`; return nil when there is no such attribute.
    func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value?
    /// `x.name = value`; return false when the attribute cannot be set.
    func setAttribute(_ name: String, _ value: Value, _ ctx: CallContext) throws -> Bool
    /// `x.name(args)`; return nil when there is no such method. Bind with `Signature([...]).bind(...)`.
    func callMethod(_ name: String, _ args: CallArgs, _ ctx: CallContext) throws -> Value?
    /// Whether `x(args)` is allowed, e.g. a PromptStyle used as `style(row)`.
    var isCallable: Bool { get }
    func call(_ args: CallArgs, _ ctx: CallContext) throws -> Value
    /// `len(x)`; nil when it has no length.
    var length: Int? { get }
    /// `x[i]`; nil when it cannot be indexed.
    func getItem(_ index: Value, _ ctx: CallContext) throws -> Value?
    /// Elements for `for v in x`; nil when not iterable.
    func iterate(_ ctx: CallContext) throws -> [Value]?
    var isTruthy: Bool { get }
    /// The value `json(x)` writes; nil when the handle has no JSON form.
    var jsonValue: Value? { get }
    /// A stable text that changes whenever the handle's content does (a model's identity and adapter
    /// state, a dataset's content hash). Memoized built-ins key their cache on it; nil = not cacheable.
    var fingerprint: String? { get }
}

extension FinchObject {
    public var display: String { description }
    public var attributeNames: [String] { [] }
    public var methodNames: [String] { [] }
    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? { nil }
    public func setAttribute(_ name: String, _ value: Value, _ ctx: CallContext) throws -> Bool { false }
    public func callMethod(_ name: String, _ args: CallArgs, _ ctx: CallContext) throws -> Value? { nil }
    public var isCallable: Bool { false }
    public func call(_ args: CallArgs, _ ctx: CallContext) throws -> Value {
        throw FinchError("a \(typeName) cannot be called")
    }
    public var length: Int? { nil }
    public func getItem(_ index: Value, _ ctx: CallContext) throws -> Value? { nil }
    public func iterate(_ ctx: CallContext) throws -> [Value]? { nil }
    public var isTruthy: Bool { length.map { $0 > 0 } ?? true }
    public var jsonValue: Value? { nil }
    public var fingerprint: String? { nil }
}
