// Download/upload progress: a bar with bytes, rate and ETA redrawn in place on a terminal, plain
// start/finish lines when stderr is a pipe. NO_COLOR turns off the colour.
import Foundation
import FinchSupport
#if canImport(Glibc)
import Glibc
#endif

public protocol ProgressReporter: AnyObject {
    func begin(_ label: String, total: Int64?, already: Int64)
    /// `upload: true` for bytes going up (push): reporters say "Uploading", not "Downloading".
    func begin(_ label: String, total: Int64?, already: Int64, upload: Bool)
    func update(_ done: Int64)
    func finish()
}

extension ProgressReporter {
    public func begin(_ label: String, total: Int64?, already: Int64, upload: Bool) { begin(label, total: total, already: already) }
}

/// Prefixes each file's label with its repo: "org/name/file.json".
final class RepoLabelledProgress: ProgressReporter {
    let inner: ProgressReporter
    let repo: String
    init(_ inner: ProgressReporter, repo: String) { self.inner = inner; self.repo = repo }
    func label(_ l: String) -> String { l.hasPrefix(repo) ? l : repo + "/" + l }
    func begin(_ label: String, total: Int64?, already: Int64) { inner.begin(self.label(label), total: total, already: already) }
    func begin(_ label: String, total: Int64?, already: Int64, upload: Bool) { inner.begin(self.label(label), total: total, already: already, upload: upload) }
    func update(_ done: Int64) { inner.update(done) }
    func finish() { inner.finish() }
}

/// Download/upload progress through the one `ProgressLine` (FinchSupport): a bar redrawn in place
/// on a terminal; piped, a start line and a finish line per file.
public final class TerminalProgress: ProgressReporter {
    let line: ProgressLine
    private var label = ""
    private var total: Int64?
    private var start = Date()
    private var already: Int64 = 0
    private var done: Int64 = 0
    private var uploading = false

    /// `terminal` overrides the isatty check (tests render the interactive bar into `output`).
    public init(fd: Int32 = STDERR_FILENO, environment: [String: String] = ProcessInfo.processInfo.environment,
                output: ((String) -> Void)? = nil, terminal: Bool? = nil) {
        let write = output ?? { s in FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(Data(Redactor.shared.redact(s).utf8)) }
        line = ProgressLine(terminal: terminal ?? (output == nil && ProgressLine.isTerminal(fd)), environment: environment,
                            plainEvery: nil, write: write)
    }

    public func begin(_ label: String, total: Int64?, already: Int64) { begin(label, total: total, already: already, upload: false) }

    public func begin(_ label: String, total: Int64?, already: Int64, upload: Bool) {
        self.label = label; self.total = total; self.already = already; self.done = already; self.uploading = upload
        start = Date()
        if !line.terminal {
            line.update((upload ? "Uploading " : "Downloading ") + label + (total.map { " (\(formatBytes($0)))" } ?? "")
                        + (already > 0 ? ", resuming at \(formatBytes(already))" : ""), force: true)
        }
    }

    public func update(_ done: Int64) {
        self.done = done
        if line.terminal { line.update(render()) }
    }

    public func finish() {
        if line.terminal { line.finish(render(final: true)); return }
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        line.finish((uploading ? "Uploaded " : "Downloaded ") + "\(label): \(formatBytes(done)) in \(formatDuration(elapsed)) (\(ProgressLine.Unit.bytes.rate(Double(done - already) / elapsed)))")
    }

    func render(final: Bool = false) -> String {
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        return line.render(label, done: done, total: total, unit: .bytes, perSecond: Double(done - already) / elapsed, final: final)
    }
}
