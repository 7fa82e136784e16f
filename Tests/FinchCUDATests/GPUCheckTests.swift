import Foundation
import Testing
import FinchBench
import FinchCUDA
import FinchTensor

/// The GPU backend against the CPU backend and the PEFT fixtures. These run only where a CUDA GPU
/// and its libraries are found (FINCH_CUDA_LIBS may point at cuBLAS/NVRTC) and are reported as
/// skipped elsewhere; on a GPU machine without Swift, `finch selftest --device cuda` runs the same
/// checks from the portable binary.
let gpuPresent: Bool = CUDA.isAvailable

@Suite(.serialized) struct GPUCheckTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FinchModelsTests/Fixtures/tiny").standardized.path

    @Test(.enabled(if: gpuPresent, "no CUDA GPU on this machine"))
    func everyCheckPassesOnTheGPU() throws {
        let results = try GPUChecks.run(device: .cuda(0), fixtures: Self.fixtures)
        #expect(results.count > 30)
        for r in results { #expect(r.passed, "\(r.name): relative error \(r.error) over \(r.tolerance)") }
    }

    /// Runs everywhere: the harness itself (CPU against CPU is exact, and the fixtures hold).
    @Test func checksAreExactOnTheCPU() throws {
        let results = try GPUChecks.run(device: .cpu, fixtures: Self.fixtures)
        for r in results { #expect(r.passed, "\(r.name): \(r.error)") }
    }

    @Test func withoutAGPUTheReasonIsNamed() {
        guard !gpuPresent else { return }
        #expect(CUDA.lastError != nil)
        #expect(!"\(CUDA.lastError!)".isEmpty)
    }
}

/// The kernels compile wherever NVRTC can be loaded, GPU or not (FINCH_CUDA_LIBS=…/nvidia/cu13/lib).
@Test(.enabled(if: CUDA.compilerAvailable, "NVRTC not found"))
func kernelsCompileWithNVRTC() throws {
    let bytes = try CUDA.compileKernels(arch: "sm_90")
    #expect(bytes.count > 100_000)
}
