import ArgumentParser
import FinchBench
import Foundation

/// `finch selftest --device cuda`: the GPU backend against the CPU backend and the PEFT fixtures
/// (the checks FinchCUDATests run where a GPU is present), for a machine that has a GPU but no Swift.
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check a GPU backend op by op and for whole training steps against the CPU backend.")
    @Option(help: "The device to check (cuda, cuda:N).") var device = "cuda"
    @Option(help: "Folder with the tiny transformers/PEFT fixtures (Tests/FinchModelsTests/Fixtures/tiny).")
    var fixtures = "Tests/FinchModelsTests/Fixtures/tiny"

    func run() throws {
        let dev = try BenchDevice.activate(device)
        let dir = FileManager.default.fileExists(atPath: fixtures + "/tiny-llama3.json") ? fixtures : nil
        if dir == nil { print("(fixtures not found at \(fixtures): PEFT checks skipped)") }
        var failed = 0
        _ = try GPUChecks.run(device: dev, fixtures: dir) { r in
            if !r.passed { failed += 1 }
            print(String(format: "%@  %-62@ rel err %.2e (tol %.0e)", r.passed ? "ok  " : "FAIL", r.name as NSString, r.error, r.tolerance))
        }
        print(failed == 0 ? "all checks passed on \(dev)" : "\(failed) check(s) failed on \(dev)")
        if failed > 0 { throw ExitCode(1) }
    }
}
