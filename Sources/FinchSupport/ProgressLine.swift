import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one progress line for long work (training steps, downloads and uploads, datasets). On a
/// terminal it is one line redrawn in place (at most every `redrawEvery`; forced updates always);
/// piped, it prints plain lines (forced ones, and one every `plainEvery` at most; nil: none between),
/// so logs stay readable. Colour (the bar) only on a terminal without NO_COLOR or TERM=dumb.
public final class ProgressLine {
    public let terminal: Bool
    public let color: Bool
    private let write: (String) -> Void
    private let redrawEvery: TimeInterval
    private let plainEvery: TimeInterval?
    private var lastDraw = Date.distantPast
    private var pending = false

    public init(terminal: Bool, environment: [String: String] = ProcessInfo.processInfo.environment,
                redrawEvery: TimeInterval = 0.1, plainEvery: TimeInterval? = 5, write: @escaping (String) -> Void) {
        self.terminal = terminal
        self.color = terminal && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        self.redrawEvery = redrawEvery
        self.plainEvery = plainEvery
        self.write = write
    }

    /// Whether `fd` (stderr by default, where progress goes) is a terminal.
    public static func isTerminal(_ fd: Int32 = 2) -> Bool { isatty(fd) == 1 }

    /// Shows `text` as the current state: redrawn on a terminal, a plain line when piped and due.
    public func update(_ text: String, force: Bool = false) {
        let now = Date()
        let due = terminal ? now.timeIntervalSince(lastDraw) >= redrawEvery
                           : plainEvery.map { now.timeIntervalSince(lastDraw) >= $0 } ?? false
        guard force || due else { return }
        lastDraw = now
        if terminal { write("\r" + text + "\u{1B}[K"); pending = true } else { write(text + "\n") }
    }

    /// Ends the line: on a terminal `text` replaces the last redraw (none: the line is cleared);
    /// piped, `text` is printed.
    public func finish(_ text: String? = nil) {
        if terminal, let text { write("\r" + text + "\u{1B}[K\n") }
        else if terminal { if pending { write("\r\u{1B}[K") } }
        else if let text { write(text + "\n") }
        pending = false
    }

    /// What a count of work is in: bytes (formatted "1.50 MiB") or named items ("12 steps").
    public enum Unit: Equatable, Sendable {
        case bytes
        case items(String)

        public func format(_ n: Int64) -> String {
            switch self {
            case .bytes: return formatBytes(n)
            case let .items(name): return "\(n) \(name)"
            }
        }
        public func rate(_ perSecond: Double) -> String {
            switch self {
            case .bytes: return formatBytes(Int64(perSecond.isFinite ? perSecond : 0)) + "/s"
            case let .items(name): return String(format: "%.1f %@/s", perSecond.isFinite ? perSecond : 0, name)
            }
        }
    }

    /// "label ████░░░░  50% 1.00 MiB/2.00 MiB ETA 4.2 s 1.20 MiB/s": a bar, the fraction, done of
    /// total, the time left (none when `final` or unknown) and the rate. Without a total: label,
    /// done and rate.
    public func render(_ label: String, done: Int64, total: Int64?, unit: Unit, perSecond rate: Double, final: Bool = false) -> String {
        var s = label
        if let total, total > 0 {
            let frac = min(1, max(0, Double(done) / Double(total)))
            let width = 24, filled = Int(frac * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            s += " " + (color ? "\u{1B}[36m\(bar)\u{1B}[0m" : bar)
            s += String(format: " %3d%% ", Int(frac * 100)) + Self.count(done, of: total, unit: unit)
            if !final, rate > 0 { s += " ETA " + formatDuration(Double(total - done) / rate) }
        } else {
            s += " " + unit.format(done)
        }
        return s + " " + unit.rate(rate)
    }

    /// "3/10 steps", "1.00 MiB/2.00 MiB", "3 steps" (no total).
    public static func count(_ done: Int64, of total: Int64?, unit: Unit) -> String {
        guard let total else { return unit.format(done) }
        switch unit {
        case .bytes: return formatBytes(done) + "/" + formatBytes(total)
        case let .items(name): return "\(done)/\(total) \(name)"
        }
    }
}
