import Foundation
import FinchLang
import FinchTensor

/// Runs a binding's body, turning the engine's typed errors into Finch errors (which the
/// interpreter reports with the cell, line and caret); Ctrl-C and Finch errors pass through.
/// A device failure (the sticky `DeviceErrors`, see `Backend`) is a boundary here: one left by
/// earlier work is reported before anything runs, and one this body caused wins over whatever
/// error followed from it.
func bridge<T>(_ body: () throws -> T) throws -> T {
    if let e = DeviceErrors.take() { throw FinchError(deviceMessage(e)) }
    let value: T
    do { value = try body() }
    catch let e as FinchError { try checkDevice(); throw e }
    catch let e as Interrupted { throw e }
    catch let e as RuntimeError { try checkDevice(); throw e }
    catch { try checkDevice(); throw FinchError("\(error)") }
    try checkDevice()
    return value
}

private func checkDevice() throws {
    if let e = DeviceErrors.take() { throw FinchError(deviceMessage(e)) }
}

private func deviceMessage(_ e: DeviceError) -> String { "\(e); \(e.advice)" }

/// Finch value → plain Swift values for the bindings.
extension Value {
    var plainString: String? { if case .string(let s) = self { return s }; return nil }
}

extension Arguments {
    func float(_ name: String) throws -> Float { Float(try double(name)) }
    func optionalFloat(_ name: String) throws -> Float? { try optionalDouble(name).map(Float.init) }
}

/// Stderr lines for progress: `\r`-updated on a terminal, plain lines when piped.
final class ProgressLine {
    let output: OutputSink
    let isTTY = isatty(2) != 0
    var lastPlain = Date.distantPast
    var pending = false

    init(_ output: OutputSink) { self.output = output }

    func update(_ text: String, force: Bool = false) {
        if isTTY {
            output.writeError("\r\u{1B}[2K" + text)
            pending = true
        } else if force || Date().timeIntervalSince(lastPlain) > 5 {
            output.writeError(text + "\n")
            lastPlain = Date()
        }
    }

    func finish(_ text: String? = nil) {
        if isTTY && pending { output.writeError("\r\u{1B}[2K") }
        if let text { output.writeError(text + "\n") }
        pending = false
    }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, abs(s) < 1e12 else { return "—" }
    let t = Int(s.rounded())
    if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", (t % 3600) / 60))m" }
    if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
    return "\(t)s"
}
