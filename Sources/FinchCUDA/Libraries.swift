import Foundation
import FinchSupport
#if canImport(Glibc)
import Glibc
#endif

// The CUDA libraries are opened at run time with dlopen, so Finch builds (and its CPU path runs)
// on machines without CUDA. Only the entry points used are looked up; a missing library or symbol
// is a `CUDAError`, and the caller falls back to the CPU.

public enum CUDAError: Error, CustomStringConvertible, Equatable {
    case libraryNotFound(String, tried: [String])
    case symbolNotFound(String, library: String)
    case noDevice(String)
    case driver(call: String, code: Int32, message: String)
    case compile(log: String)
    case cublas(call: String, status: Int32)
    case outOfMemory(requested: Int, free: Int, total: Int)
    case unsupportedGPU(name: String, major: Int, minor: Int)

    public var description: String {
        switch self {
        case let .libraryNotFound(name, tried):
            return "\(name) not found (tried \(tried.joined(separator: ", "))); set FINCH_CUDA_LIBS to the folder holding it"
        case let .symbolNotFound(sym, lib): return "\(lib) has no \(sym) (driver or toolkit too old?)"
        case let .noDevice(why): return "no CUDA GPU: \(why)"
        case let .driver(call, code, message): return "CUDA \(call) failed: \(message) (\(code))"
        case let .compile(log): return "compiling Finch's CUDA kernels failed:\n\(log)"
        case let .cublas(call, status): return "cuBLAS \(call) failed with status \(status)"
        case let .outOfMemory(requested, free, total):
            return "out of GPU memory allocating \(formatBytes(requested)) (\(formatBytes(free)) free of \(formatBytes(total))): lower batch_size or max_seq_length, or load the model with quantize=\"q4_0\""
        case let .unsupportedGPU(name, major, minor):
            return "\(name) has compute capability \(major).\(minor); Finch's kernels need 8.0 or newer (A100, RTX 30xx/40xx, L4, H100: bf16 matrix units and cp.async)"
        }
    }
}

/// A dlopen'ed library.
final class DynamicLibrary {
    let name: String
    let handle: UnsafeMutableRawPointer

    /// Tries each candidate name as given (the loader's search path), then in FINCH_CUDA_LIBS
    /// and the usual CUDA and pip-wheel folders.
    init(candidates: [String]) throws {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["FINCH_CUDA_LIBS"] { dirs += env.split(separator: ":").map(String.init) }
        dirs += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu",
                 "/usr/local/nvidia/lib64"]
        // pip's nvidia-* wheels (CUDA 13 puts every library in cu13/lib; NCCL's own wheel in nccl/lib).
        dirs += ["cu13", "cublas", "cuda_nvrtc", "nccl"].map { "/usr/local/lib/python3.12/dist-packages/nvidia/\($0)/lib" }
        var tried: [String] = []
        for c in candidates {
            for path in [c] + dirs.map({ $0 + "/" + c }) {
                tried.append(path)
                if let h = dlopen(path, RTLD_NOW | RTLD_GLOBAL) {
                    name = path
                    handle = h
                    return
                }
            }
        }
        throw CUDAError.libraryNotFound(candidates[0], tried: Array(tried.prefix(6)) + (tried.count > 6 ? ["…"] : []))
    }

    /// The entry point `sym`, typed as the property it is assigned to.
    func symbol<T>(_ sym: String) throws -> T {
        guard let p = dlsym(handle, sym) else { throw CUDAError.symbolNotFound(sym, library: name) }
        return unsafeBitCast(p, to: T.self)
    }
}

typealias CUresult = Int32
typealias CUdeviceptr = UInt64

/// The driver API subset Finch uses (libcuda.so.1).
final class Driver {
    let lib: DynamicLibrary
    let cuInit: @convention(c) (UInt32) -> CUresult
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CUresult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CUresult
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CUresult
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> CUresult
    let cuCtxSetCurrent: @convention(c) (OpaquePointer?) -> CUresult
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> CUresult
    let cuStreamSynchronize: @convention(c) (OpaquePointer?) -> CUresult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult
    let cuMemFree: @convention(c) (CUdeviceptr) -> CUresult
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    let cuMemcpyHtoDAsync: @convention(c) (CUdeviceptr, UnsafeRawPointer, Int, OpaquePointer?) -> CUresult
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, CUdeviceptr, Int, OpaquePointer?) -> CUresult
    let cuMemcpyDtoDAsync: @convention(c) (CUdeviceptr, CUdeviceptr, Int, OpaquePointer?) -> CUresult
    let cuMemsetD32Async: @convention(c) (CUdeviceptr, UInt32, Int, OpaquePointer?) -> CUresult
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer) -> CUresult
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> CUresult
    let cuFuncSetAttribute: @convention(c) (OpaquePointer?, Int32, Int32) -> CUresult
    let cuLaunchKernel: @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult
    let cuGetErrorString: @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult

    init() throws {
        lib = try DynamicLibrary(candidates: ["libcuda.so.1", "libcuda.so"])
        cuInit = try lib.symbol("cuInit")
        cuDeviceGetCount = try lib.symbol("cuDeviceGetCount")
        cuDeviceGet = try lib.symbol("cuDeviceGet")
        cuDeviceGetName = try lib.symbol("cuDeviceGetName")
        cuDeviceGetAttribute = try lib.symbol("cuDeviceGetAttribute")
        cuDevicePrimaryCtxRetain = try lib.symbol("cuDevicePrimaryCtxRetain")
        cuCtxSetCurrent = try lib.symbol("cuCtxSetCurrent")
        cuStreamCreate = try lib.symbol("cuStreamCreate")
        cuStreamSynchronize = try lib.symbol("cuStreamSynchronize")
        cuMemAlloc = try lib.symbol("cuMemAlloc_v2")
        cuMemFree = try lib.symbol("cuMemFree_v2")
        cuMemGetInfo = try lib.symbol("cuMemGetInfo_v2")
        cuMemcpyHtoDAsync = try lib.symbol("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try lib.symbol("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try lib.symbol("cuMemcpyDtoDAsync_v2")
        cuMemsetD32Async = try lib.symbol("cuMemsetD32Async")
        cuModuleLoadData = try lib.symbol("cuModuleLoadData")
        cuModuleGetFunction = try lib.symbol("cuModuleGetFunction")
        cuFuncSetAttribute = try lib.symbol("cuFuncSetAttribute")
        cuLaunchKernel = try lib.symbol("cuLaunchKernel")
        cuGetErrorString = try lib.symbol("cuGetErrorString")
        cuDriverGetVersion = try lib.symbol("cuDriverGetVersion")
    }

    func check(_ r: CUresult, _ call: String) throws {
        guard r != 0 else { return }
        var msg: UnsafePointer<CChar>?
        _ = cuGetErrorString(r, &msg)
        throw CUDAError.driver(call: call, code: r, message: msg.map { String(cString: $0) } ?? "unknown error")
    }
}

/// NVRTC: compiles the kernel source for the device's architecture.
final class NVRTC {
    let lib: DynamicLibrary
    let create: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let compile: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let logSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let log: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    let cubinSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let cubin: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer) -> Int32
    let destroy: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let version: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32

    init() throws {
        lib = try DynamicLibrary(candidates: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"])
        create = try lib.symbol("nvrtcCreateProgram")
        compile = try lib.symbol("nvrtcCompileProgram")
        logSize = try lib.symbol("nvrtcGetProgramLogSize")
        log = try lib.symbol("nvrtcGetProgramLog")
        cubinSize = try lib.symbol("nvrtcGetCUBINSize")
        cubin = try lib.symbol("nvrtcGetCUBIN")
        destroy = try lib.symbol("nvrtcDestroyProgram")
        version = try lib.symbol("nvrtcVersion")
    }

    var versionString: String {
        var major: Int32 = 0, minor: Int32 = 0
        _ = version(&major, &minor)
        return "\(major).\(minor)"
    }

    /// Compiles `source` to a cubin for `arch` (e.g. "sm_90").
    func compile(source: String, arch: String) throws -> [UInt8] {
        var prog: OpaquePointer?
        guard create(&prog, source, "finch_kernels.cu", 0, nil, nil) == 0 else { throw CUDAError.compile(log: "nvrtcCreateProgram failed") }
        defer { _ = destroy(&prog) }
        let options = ["--gpu-architecture=\(arch)", "-default-device", "-std=c++17"]
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let result = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer { compile(prog, Int32(options.count), $0.baseAddress) }
        if result != 0 {
            var n = 0
            _ = logSize(prog, &n)
            var buf = [CChar](repeating: 0, count: max(n, 1))
            _ = log(prog, &buf)
            throw CUDAError.compile(log: String(cString: buf))
        }
        var size = 0
        _ = cubinSize(prog, &size)
        var bytes = [UInt8](repeating: 0, count: size)
        _ = bytes.withUnsafeMutableBytes { cubin(prog, $0.baseAddress!) }
        return bytes
    }
}

/// cuBLAS: matrix products (bf16 inputs with f32 accumulation, or f32).
final class CUBLAS {
    static let opN: Int32 = 0, opT: Int32 = 1
    static let r32F: Int32 = 0, r16BF: Int32 = 14
    static let compute32F: Int32 = 68, compute32FFastTF32: Int32 = 77
    let lib: DynamicLibrary
    let create: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let setStream: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
    let gemmStridedBatchedEx: @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32,
                                              UnsafeRawPointer, UnsafeRawPointer?, Int32, Int32, Int64,
                                              UnsafeRawPointer?, Int32, Int32, Int64,
                                              UnsafeRawPointer, UnsafeMutableRawPointer?, Int32, Int32, Int64,
                                              Int32, Int32, Int32) -> Int32
    var handle: OpaquePointer?

    init(stream: OpaquePointer?) throws {
        lib = try DynamicLibrary(candidates: ["libcublas.so.13", "libcublas.so.12", "libcublas.so"])
        create = try lib.symbol("cublasCreate_v2")
        setStream = try lib.symbol("cublasSetStream_v2")
        gemmStridedBatchedEx = try lib.symbol("cublasGemmStridedBatchedEx")
        let s = create(&handle)
        guard s == 0 else { throw CUDAError.cublas(call: "cublasCreate", status: s) }
        let t = setStream(handle, stream)
        guard t == 0 else { throw CUDAError.cublas(call: "cublasSetStream", status: t) }
    }
}
