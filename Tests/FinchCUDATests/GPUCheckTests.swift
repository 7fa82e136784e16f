import Foundation
import Testing
@testable import FinchBench
@testable import FinchCUDA
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

    /// Runs everywhere: the fixture checks compare the CPU backend with transformers + PEFT (logits,
    /// loss and every LoRA gradient, with and without checkpointing), which the CPU can fail.
    @Test(arguments: ["tiny-llama3", "tiny-qwen2"])
    func fixtureChecksHoldOnTheCPU(name: String) throws {
        let results = try GPUChecks.fixtureChecks(name, dir: Self.fixtures, device: .cpu)
        #expect(results.count == 3)
        for r in results { #expect(r.passed, "\(r.name): \(r.error) over \(r.tolerance)") }
    }

    /// The harness itself: a device whose kernel is off by 1 % fails a 1e-4 comparison, and an output
    /// missing on one side fails whatever the tolerance (the op checks compare the CPU with itself
    /// here, so they could not show this).
    @Test func theHarnessCatchesAWrongKernel() throws {
        var calls = 0
        let wrong = try GPUChecks.compare("off by 1 %", .cpu, tol: 1e-4) { d in
            calls += 1
            let x = try Tensor((0..<64).map { Float($0) - 20 }, shape: [8, 8]).moved(to: d)
            return [calls == 2 ? try Ops.scale(x, 1.01) : x]
        }
        #expect(calls == 2)
        #expect(!wrong.passed && abs(wrong.error - 0.01) < 1e-4)
        calls = 0
        let missing = try GPUChecks.compare("missing gradient", .cpu, tol: 1) { d in
            calls += 1
            let x = try Tensor([1, 2, 3], shape: [3]).moved(to: d)
            return calls == 2 ? [x, GPUChecks.gradient(x)] : [x, x]
        }
        #expect(!missing.passed)
        let right = try GPUChecks.compare("exact", .cpu, tol: 0) { d in [try Tensor([1, 2, 3], shape: [3]).moved(to: d)] }
        #expect(right.passed)
    }

    @Test func withoutAGPUTheReasonIsNamed() {
        guard !gpuPresent else { return }
        #expect(CUDA.lastError != nil)
        #expect(!"\(CUDA.lastError!)".isEmpty)
    }
}

/// The kernels compile wherever NVRTC can be loaded, GPU or not (FINCH_CUDA_LIBS=…/nvidia/cu13/lib),
/// for every architecture Finch supports (A100, RTX 30xx, RTX 40xx/L4, H100/H200).
@Test(.enabled(if: CUDA.compilerAvailable, "NVRTC not found"), arguments: CUDA.supportedArchitectures)
func kernelsCompileWithNVRTC(arch: String) throws {
    let bytes = try CUDA.compileKernels(arch: arch)
    #expect(bytes.count > 100_000)
}

/// The source NVRTC compiles is the files in Sources/FinchCUDA/Kernels as embedded at build time:
/// every file is listed in `CUDAKernels.parts` (a file left out would be missing at run time) and
/// its embedded bytes are the file's.
@Test func embeddedKernelsAreTheKernelFiles() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/FinchCUDA/Kernels").standardized
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".cu") }.sorted()
    #expect(CUDAKernels.parts.map(\.name).sorted() == files)
    for part in CUDAKernels.parts {
        let onDisk = try Data(contentsOf: dir.appendingPathComponent(part.name))
        #expect(Data(part.bytes) == onDisk, "\(part.name): embedded copy differs from the file")
    }
    #expect(CUDAKernels.parts.first?.name == "common.cu")
    // Every kernel the backend loads is in the source (the flash variants come from one macro).
    for name in CUDABackend.kernelNames where !name.hasSuffix("_d64") && !name.hasSuffix("_d128") {
        #expect(CUDAKernels.source.contains(" \(name)(") || CUDAKernels.source.contains("(\(name),"), "kernel \(name) missing")
    }
}

/// A GPU below sm_80 is refused with a reason that names what is needed (the caller then runs on the CPU).
@Test func anOlderGPUIsRefusedWithTheReason() {
    let e = CUDAError.unsupportedGPU(name: "Tesla T4", major: 7, minor: 5)
    #expect("\(e)".contains("Tesla T4") && "\(e)".contains("7.5") && "\(e)".contains("8.0 or newer"))
    #expect(CUDA.supportedArchitectures == ["sm_80", "sm_86", "sm_89", "sm_90"])
}

/// The flash kernels' shared memory against the devices' opt-in limits (99 KB on sm_86/sm_89,
/// 163 KB on sm_80, 227 KB on sm_90): head size 128's dK/dV kernel needs 103 KB, so on sm_86/89
/// that head size takes the SIMT kernels instead of failing to launch.
@Test func flashTilesAgainstSharedMemoryLimits() {
    let sm86 = 99 * 1024, sm80 = 163 * 1024
    let d128 = CUDABackend.flashSharedBytes(headDim: 128), d64 = CUDABackend.flashSharedBytes(headDim: 64)
    #expect(d128.dkdv == 105_472 && d128.dkdv > sm86 && d128.dkdv <= sm80)
    #expect(d128.forward <= sm86 && d128.dq <= sm86)
    #expect(max(d64.forward, d64.dq, d64.dkdv) <= sm86)
}
