// A secret value that never shows itself: printing gives its name and a mask, string conversion is
// refused, and only the consumers in this module (login, push, track) read the value.
import Foundation

public struct Secret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable, Sendable, Equatable {
    public let name: String
    /// Internal so that only FinchHub's consumers see the value; bindings pass the Secret along whole.
    let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
        Redactor.shared.register(value)
    }

    public static let mask = "••••••"
    public var description: String { "Secret(\(name): \(Secret.mask))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name], displayStyle: .struct) }

    /// The error a binding throws when a script tries to turn a Secret into a string.
    public var conversionRefused: SecretError { .conversionRefused(name: name) }

    /// Gives the value to a consumer that sends it somewhere (an Authorization header), never to output.
    public func withValue<T>(_ body: (String) throws -> T) rethrows -> T { try body(value) }
}

extension String {
    @available(*, unavailable, message: "a Secret cannot be converted to a string; pass it to the consumer instead")
    public init(_ secret: Secret) { fatalError() }
}

public enum SecretError: Error, CustomStringConvertible, Equatable {
    case missing(name: String, storePath: String)
    case invalidName(String)
    case looseMode(path: String, mode: UInt32)
    case notOwned(path: String)
    case corruptStore(path: String, detail: String)
    case conversionRefused(name: String)
    case emptyValue(name: String)

    public var description: String {
        switch self {
        case let .missing(name, path):
            return "no secret named \(name): set it with `finch secrets set \(name)` (stored in \(path)) or `export \(name)=…` in the shell"
        case let .invalidName(n):
            return "invalid secret name \"\(n)\": use letters, digits and underscores, starting with a letter or underscore"
        case let .looseMode(path, mode):
            return "permissions \(String(mode, radix: 8)) for \(path) are too open: the secrets store must be readable only by you; run `chmod 600 \(path)`"
        case let .notOwned(path):
            return "the secrets store \(path) is not owned by you; refusing to read it"
        case let .corruptStore(path, detail):
            return "the secrets store \(path) is not valid (\(detail)); fix or remove it"
        case let .conversionRefused(name):
            return "cannot convert Secret(\(name)) to a string: pass it directly to login, push or track"
        case let .emptyValue(name):
            return "the value for secret \(name) is empty; nothing stored"
        }
    }
}
