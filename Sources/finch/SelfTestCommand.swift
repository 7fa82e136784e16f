import ArgumentParser
import FinchBench
import FinchCUDA
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
        var failed = 0
        // The kernels compile for every architecture Finch supports, not only this GPU's.
        for arch in CUDA.supportedArchitectures {
            do {
                let cubin = try CUDA.compileKernels(arch: arch)
                print(String(format: "ok    %-62@ %d KB cubin", "NVRTC compile \(arch)" as NSString, cubin.count >> 10))
            } catch {
                failed += 1
                print("FAIL  NVRTC compile \(arch): \(error)")
            }
        }
        let dev = try BenchDevice.activate(device)
        let dir = FileManager.default.fileExists(atPath: fixtures + "/tiny-llama3.json") ? fixtures : nil
        if dir == nil { print("(fixtures not found at \(fixtures): PEFT checks skipped)") }
        _ = try GPUChecks.run(device: dev, fixtures: dir) { r in
            if !r.passed { failed += 1 }
            print(String(format: "%@  %-62@ rel err %.2e (tol %.0e)", r.passed ? "ok  " : "FAIL", r.name as NSString, r.error, r.tolerance))
        }
        print(failed == 0 ? "all checks passed on \(dev)" : "\(failed) check(s) failed on \(dev)")
        if failed > 0 { throw ExitCode(1) }
    }
}
