import Foundation
import FinchTensor

/// Finding a GPU and registering its backend.
public enum CUDA {
    nonisolated(unsafe) private static var active: [Int: CUDABackend] = [:]
    nonisolated(unsafe) public private(set) static var lastError: CUDAError?

    /// Where compiled kernels are cached: $FINCH_CACHE/cuda or ~/.cache/finch/cuda.
    public static var cacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["FINCH_CACHE"] { return c + "/cuda" }
        return (env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/finch/cuda"
    }

    /// Loads the driver, NVRTC and cuBLAS, compiles the kernels and registers `.cuda(ordinal)`.
    /// Throws (and remembers why) when there is no usable GPU.
    @discardableResult
    public static func activate(ordinal: Int = 0) throws -> CUDABackend {
        if let b = active[ordinal] { return b }
        // A machine without a usable GPU is probed once per process, not on every load_model.
        if let e = lastError, case .libraryNotFound = e { throw e }
        do {
            let driver = try Driver()
            let nvrtc = try NVRTC()
            let b = try CUDABackend(ordinal: ordinal, driver: driver, nvrtc: nvrtc)
            active[ordinal] = b
            Backends.registered[b.device] = b
            return b
        } catch let e as CUDAError {
            lastError = e
            throw e
        }
    }

    /// Whether NVRTC can be loaded (kernels can be compiled even without a GPU).
    public static var compilerAvailable: Bool { (try? NVRTC()) != nil }

    /// The architectures Finch's kernels are checked to compile for (A100, RTX 30xx, RTX 40xx/L4,
    /// H100/H200); a GPU below sm_80 is refused (`CUDAError.unsupportedGPU`).
    public static let supportedArchitectures = ["sm_80", "sm_86", "sm_89", "sm_90"]

    /// Compiles Finch's kernels for `arch` (e.g. "sm_90") without a device: a check of the source.
    public static func compileKernels(arch: String) throws -> [UInt8] {
        try NVRTC().compile(source: CUDAKernels.source, arch: arch)
    }

    /// The backend for an activated device, if any.
    public static func backend(_ ordinal: Int = 0) -> CUDABackend? { active[ordinal] }

    /// True when a GPU can be used (tries once).
    public static var isAvailable: Bool { (try? activate()) != nil }
}
