import Foundation
import FinchModels
import FinchTensor

/// `finch bench train --peer PYTHON`: transformers + PEFT (`scripts/bench/peft_train.py`) in the same run as
/// Finch, with the same batch, sequence length, steps and thread count, so that one command prints Finch,
/// the peer, Finch again and the ratio (this machine's speed drifts from minute to minute: only runs made
/// back to back compare).
public enum BenchPeer {
    public struct Result: Equatable {
        public var tokensPerSecond: Double
        /// The peer's own summary line (versions, tokens/s, step times, peak RSS).
        public var line: String
    }

    public enum PeerError: Error, CustomStringConvertible, Equatable {
        case missing(what: String, path: String, hint: String)
        case failed(command: String, status: Int32, output: String)
        case noRate(command: String, output: String)

        public var description: String {
            switch self {
            case let .missing(what, path, hint):
                return "bench train --peer: \(what) \(path) not found; \(hint)"
            case let .failed(command, status, output):
                return "bench train --peer: `\(command)` exited with status \(status):\n\(output)\n"
                    + "Check that this Python has torch, transformers, peft and gguf (pip install torch transformers peft gguf)."
            case let .noRate(command, output):
                return "bench train --peer: `\(command)` printed no \"… tokens/s\" line:\n\(output)"
            }
        }
    }

    /// The peer script: `path` when given, else `scripts/bench/peft_train.py` in the working directory or
    /// in the checkout the executable was built in.
    public static func script(_ path: String?) throws -> String {
        let relative = "scripts/bench/peft_train.py"
        if let path {
            guard FileManager.default.fileExists(atPath: path) else {
                throw PeerError.missing(what: "the peer script", path: path, hint: "pass --peer-script with the path of \(relative)")
            }
            return path
        }
        var candidates = [FileManager.default.currentDirectoryPath + "/" + relative]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()   // <repo>/.build/<triple>/<config>/finch → <repo>
            if dir.path != "/" { candidates.append(dir.path + "/" + relative) }
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PeerError.missing(what: "the peer script", path: relative,
                                    hint: "run from the Finch repository or pass --peer-script PATH")
        }
        return found
    }

    /// Runs `python script model steps batch seqLen` with THREADS set to Finch's thread budget; `model`
    /// defaults to the embedded GGUF.
    public static func run(python: String, script: String, model: String? = nil, batch: Int, seqLen: Int, steps: Int) throws -> Result {
        guard let model = model ?? ModelLoader.defaultModelPath() else {
            throw PeerError.missing(what: "the model", path: ModelLoader.defaultModelFile,
                                    hint: "fetch it with scripts/setup or set FINCH_MODELS to the folder that holds it")
        }
        let args = [script, model, "\(steps)", "\(batch)", "\(seqLen)"]
        let command = ([python] + args).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python.contains("/") ? python : "/usr/bin/env")
        process.arguments = python.contains("/") ? args : [python] + args
        var env = ProcessInfo.processInfo.environment
        env["THREADS"] = "\(ThreadBudget.count)"
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch {
            throw PeerError.missing(what: "the Python interpreter", path: python, hint: "pass --peer with the path of a Python that has torch, transformers and peft (\(error.localizedDescription))")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw PeerError.failed(command: command, status: process.terminationStatus, output: tail(output))
        }
        guard let line = output.split(separator: "\n").last(where: { rate(in: String($0)) != nil }).map(String.init),
              let tps = rate(in: line) else {
            throw PeerError.noRate(command: command, output: tail(output))
        }
        return Result(tokensPerSecond: tps, line: line)
    }

    /// The number before "tokens/s" in the peer's summary line.
    public static func rate(in line: String) -> Double? {
        guard let r = line.range(of: " tokens/s") else { return nil }
        let number = line[..<r.lowerBound].reversed().prefix { $0.isNumber || $0 == "." }
        return Double(String(number.reversed()))
    }

    static func tail(_ s: String, lines: Int = 20) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
