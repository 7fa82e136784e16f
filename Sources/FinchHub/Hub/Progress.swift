// Download/upload progress: a bar with bytes, rate and ETA redrawn in place on a terminal, plain
// start/finish lines when stderr is a pipe. NO_COLOR turns off the colour.
import Foundation
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

public final class TerminalProgress: ProgressReporter {
    let fd: Int32
    let isTTY: Bool
    let color: Bool
    private var label = ""
    private var total: Int64?
    private var start = Date()
    private var already: Int64 = 0
    private var lastDraw = Date.distantPast
    private var done: Int64 = 0
    private var out: (String) -> Void

    /// `terminal` overrides the isatty check (tests render the interactive bar into `output`).
    public init(fd: Int32 = STDERR_FILENO, environment: [String: String] = ProcessInfo.processInfo.environment,
                output: ((String) -> Void)? = nil, terminal: Bool? = nil) {
        self.fd = fd
        self.isTTY = terminal ?? (output == nil && isatty(fd) == 1)
        self.color = isTTY && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        self.out = output ?? { s in FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(Data(Redactor.shared.redact(s).utf8)) }
    }

    private var uploading = false

    public func begin(_ label: String, total: Int64?, already: Int64) { begin(label, total: total, already: already, upload: false) }

    public func begin(_ label: String, total: Int64?, already: Int64, upload: Bool) {
        self.label = label; self.total = total; self.already = already; self.done = already; self.uploading = upload
        start = Date(); lastDraw = .distantPast
        if !isTTY { out((upload ? "Uploading " : "Downloading ") + label + (total.map { " (\(TerminalProgress.bytes($0)))" } ?? "") + (already > 0 ? ", resuming at \(TerminalProgress.bytes(already))" : "") + "\n") }
    }

    public func update(_ done: Int64) {
        self.done = done
        guard isTTY, Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        out("\r" + line() + "\u{1B}[K")
    }

    public func finish() {
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        let rate = Double(done - already) / elapsed
        if isTTY { out("\r" + line(final: true) + "\u{1B}[K\n") }
        else { out((uploading ? "Uploaded " : "Downloaded ") + "\(label): \(TerminalProgress.bytes(done)) in \(String(format: "%.1f", elapsed)) s (\(TerminalProgress.bytes(Int64(rate)))/s)\n") }
    }

    func line(final: Bool = false) -> String {
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        let rate = Double(done - already) / elapsed
        var s = label
        if let total, total > 0 {
            let frac = min(1, Double(done) / Double(total))
            let width = 24
            let filled = Int(frac * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            s += " " + (color ? "\u{1B}[36m\(bar)\u{1B}[0m" : bar)
            s += String(format: " %3d%% ", Int(frac * 100)) + "\(TerminalProgress.bytes(done))/\(TerminalProgress.bytes(total))"
            if !final, rate > 0 { s += " ETA " + TerminalProgress.duration(Double(total - done) / rate) }
        } else {
            s += " \(TerminalProgress.bytes(done))"
        }
        s += " \(TerminalProgress.bytes(Int64(rate)))/s"
        return s
    }

    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s)
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
    }
}
