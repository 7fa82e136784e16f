#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where built-ins write what the user sees. The notebook runner captures it for transcripts; every
/// write passes through redaction so secret values never reach the terminal, transcripts or logs.
public final class OutputSink: @unchecked Sendable {
    /// Exact strings replaced by `redactedText` in everything written. `secret()` appends here.
    public var redactions: [String] = []
    /// Extra hook run after `redactions` (e.g. to mask token patterns).
    public var redactHook: ((String) -> String)?
    /// A process-wide hook every sink applies (the Hub module masks every secret value Finch knows).
    nonisolated(unsafe) public static var globalRedactHook: ((String) -> String)?
    /// The one mask for a secret, the same as FinchHub's `Redactor.replacement` and `Secret.mask`
    /// (FinchLang cannot import FinchHub; a test holds them equal).
    public static let redactedText = "••••••"
    /// The destination; receives redacted text.
    public var destination: (String) -> Void
    /// Diagnostics, progress and timing (standard error by default).
    public var errorDestination: (String) -> Void

    public init(destination: @escaping (String) -> Void, errorDestination: @escaping (String) -> Void = OutputSink.writeStandardError) {
        self.destination = destination
        self.errorDestination = errorDestination
    }

    public static func standard() -> OutputSink { OutputSink(destination: OutputSink.writeStandardOutput) }

    /// A sink that collects output in memory (tests, transcripts).
    public static func capturing() -> (OutputSink, () -> String) {
        let box = Box()
        let sink = OutputSink(destination: { box.text += $0 }, errorDestination: { box.errors += $0 })
        return (sink, { box.text })
    }
    final class Box { var text = ""; var errors = "" }

    public func redact(_ text: String) -> String {
        var t = text
        for secret in redactions where !secret.isEmpty && t.contains(secret) {
            t = t.replacingAll(secret, with: OutputSink.redactedText)
        }
        if let hook = redactHook { t = hook(t) }
        if let hook = OutputSink.globalRedactHook { t = hook(t) }
        return t
    }

    public func write(_ text: String) { destination(redact(text)) }
    public func writeError(_ text: String) { errorDestination(redact(text)) }

    public static func writeStandardOutput(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = fwrite(buf.baseAddress, 1, buf.count, stdout) }
        fflush(stdout)
    }
    public static func writeStandardError(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = fwrite(buf.baseAddress, 1, buf.count, stderr) }
    }
}

extension String {
    /// Replaces every occurrence without Foundation.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        let t = Array(target.utf8)
        let u = self.utf8
        guard !t.isEmpty, u.count >= t.count else { return nil }
        var i = u.startIndex
        while i != u.endIndex {
            if u[i] == t[0] {
                var j = i, k = 0
                while k < t.count, j != u.endIndex, u[j] == t[k] { j = u.index(after: j); k += 1 }
                if k == t.count { return i..<j }
            }
            i = u.index(after: i)
        }
        return nil
    }
}
