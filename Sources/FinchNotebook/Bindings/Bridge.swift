import Foundation
import FinchSupport
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

extension ProgressLine {
    /// The progress line of a built-in: stderr of the session's output.
    convenience init(_ output: OutputSink) {
        self.init(terminal: ProgressLine.isTerminal(2), redrawEvery: 0, write: { output.writeError($0) })
    }
}
