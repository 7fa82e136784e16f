// Every secret value Finch has seen is replaced in any text that leaves the process: cell output,
// transcripts, error messages, logs, history. The notebook runner passes text through `Redactor.shared`.
import Foundation

public final class Redactor: @unchecked Sendable {
    public static let shared = Redactor()
    /// Values shorter than this are not redacted: masking "a" everywhere would wreck all output,
    /// and such values are not credentials anyway.
    public static let minimumLength = 4
    public static let replacement = "••••••"

    private let lock = NSLock()
    private var values: [[UInt8]] = []   // sorted longest first so overlapping secrets mask fully

    public init() {}

    public func register(_ value: String) {
        let v = value.trimmingCharacters(in: .whitespacesAndNewlines)
        for candidate in Set([value, v]) where candidate.utf8.count >= Redactor.minimumLength {
            let bytes = Array(candidate.utf8)
            lock.lock()
            if !values.contains(bytes) {
                values.append(bytes)
                values.sort { $0.count > $1.count }
            }
            lock.unlock()
        }
    }

    public var isEmpty: Bool { lock.lock(); defer { lock.unlock() }; return values.isEmpty }
    var longest: Int { lock.lock(); defer { lock.unlock() }; return values.first?.count ?? 0 }
    func snapshot() -> [[UInt8]] { lock.lock(); defer { lock.unlock() }; return values }

    /// Returns `text` with every known secret value replaced by the mask.
    public func redact(_ text: String) -> String {
        let vals = snapshot()
        guard !vals.isEmpty else { return text }
        let bytes = Array(text.utf8)
        let (out, _) = Redactor.scan(bytes, values: vals, final: true)
        return String(decoding: out, as: UTF8.self)
    }

    public func redact(_ data: Data) -> Data {
        let vals = snapshot()
        guard !vals.isEmpty else { return data }
        return Data(Redactor.scan(Array(data), values: vals, final: true).0)
    }

    /// Scans `bytes`; returns the output that is safe to emit and the number of input bytes consumed.
    /// When not final, a tail that could be the start of a secret is held back (not consumed).
    static func scan(_ bytes: [UInt8], values: [[UInt8]], final: Bool) -> ([UInt8], Int) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let mask = Array(replacement.utf8)
        outer: while i < bytes.count {
            for v in values where bytes[i] == v[0] {
                let remaining = bytes.count - i
                if remaining >= v.count {
                    if bytes[i..<(i + v.count)].elementsEqual(v) {
                        out.append(contentsOf: mask); i += v.count; continue outer
                    }
                } else if !final && bytes[i...].elementsEqual(v[0..<remaining]) {
                    return (out, i)  // a possible secret split across writes: hold it back
                }
            }
            out.append(bytes[i]); i += 1
        }
        return (out, i)
    }
}

/// A redactor for a stream of writes (a child's stdout, a progress line): a secret split across two
/// writes is still masked, because a tail that might begin a secret is held until the next write.
public final class StreamingRedactor {
    private let redactor: Redactor
    private var pending: [UInt8] = []

    public init(redactor: Redactor = .shared) { self.redactor = redactor }

    /// Returns the bytes that are now safe to emit.
    public func write(_ data: Data) -> Data {
        pending.append(contentsOf: data)
        let (out, consumed) = Redactor.scan(pending, values: redactor.snapshot(), final: false)
        pending.removeFirst(consumed)
        return Data(out)
    }

    public func write(_ text: String) -> String { String(decoding: write(Data(text.utf8)), as: UTF8.self) }

    /// Emits whatever is held back (end of stream).
    public func flush() -> Data {
        let (out, _) = Redactor.scan(pending, values: redactor.snapshot(), final: true)
        pending.removeAll()
        return Data(out)
    }
}
