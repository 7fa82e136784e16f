import Foundation
import FinchTensor
#if canImport(Glibc)
import Glibc
#endif

/// The CUDA backend: device storage from a caching allocator, one stream, kernels compiled by
/// NVRTC from `CUDAKernels.source`, matrix products through cuBLAS (bf16 inputs with f32
/// accumulation whenever a weight is stored below f32; f32 otherwise).
public final class CUDABackend: Backend {
    public let device: Device
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let totalMemory: Int
    /// The device's primary context, made current on every thread that calls into this backend
    /// (notebook cells, the REPL and Dispatch workers are not the thread that activated it).
    private var context: OpaquePointer?
    private let contextKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    let driver: Driver
    let stream: OpaquePointer?
    let blas: CUBLAS
    let allocator: DeviceAllocator
    var functions: [String: OpaquePointer] = [:]
    var ropeTables: [ObjectIdentifier: (Tensor, Tensor)] = [:]
    /// How f32 × f32 products (the LoRA branch) run: TF32 (default; measured faster than bf16 here,
    /// which adds a conversion per operand), bf16 inputs with f32 accumulation, or exact f32
    /// (`FINCH_F32_PRODUCTS=tf32|bf16|f32`).
    public enum ProductPrecision: String, Sendable { case f32, tf32, bf16 }
    public var f32Products = ProductPrecision(rawValue: ProcessInfo.processInfo.environment["FINCH_F32_PRODUCTS"] ?? "tf32") ?? .tf32
    /// Attention's precision: bf16 operands with f32 accumulation in flash attention (the default,
    /// as PyTorch's autocast runs attention), or f32 throughout in the SIMT kernels, exact and
    /// slower (`FINCH_ATTENTION=f32|bf16`). See Attention.swift.
    public enum AttentionPrecision: String, Sendable { case f32, bf16 }
    public var attentionPrecision = AttentionPrecision(rawValue: ProcessInfo.processInfo.environment["FINCH_ATTENTION"] ?? "bf16") ?? .bf16

    // Stored state of the other concerns (extensions cannot hold it): launch and profiling
    // (Launch.swift), bf16 operand copies (Products.swift), attention (Attention.swift).

    /// FINCH_PROFILE=1: every launch and product is synchronised and timed by name (slower, but a
    /// true per-kernel breakdown; `profileReport()` prints it).
    public let profiling = ["1", "shapes"].contains(ProcessInfo.processInfo.environment["FINCH_PROFILE"] ?? "")
    var profile: [String: (count: Int, seconds: Double)] = [:]
    /// Recent int uploads by content: every layer (and its recomputation and backward) passes the
    /// same positions, and a copy from pageable host memory can stall the stream, so each distinct
    /// array goes over once.
    var intUploads: [(values: [Int32], block: DeviceBlock)] = []
    /// bf16 copies of f32 tensors made for products, reused while their storage is untouched: the
    /// input of q/k/v (and of gate/up, and of each LoRA branch) is converted once, not per product.
    /// Any launch, copy or fill that is handed a pointer into a copied storage drops its copies
    /// (conservative: reads drop them too), as does the storage's death.
    struct Shadow {
        weak var storage: TensorStorage?
        let base: UInt, end: UInt
        let offset: Int, count: Int
        let block: DeviceBlock
    }
    var shadows: [Shadow] = []
    /// Operands of at most this many elements (LoRA A and B, x·Aᵀ) are "small": converting one
    /// costs little, and their copies are not kept.
    public var smallOperand = 1 << 21
    /// Bytes of shared memory a block may use when a kernel opts in (99 KB on sm_86/sm_89, 163 KB
    /// on sm_80, 227 KB on sm_90): decides whether the flash kernels' tiles fit.
    let maxSharedPerBlock: Int

    init(ordinal: Int, driver: Driver, nvrtc: NVRTC) throws {
        self.driver = driver
        try driver.check(driver.cuInit(0), "cuInit")
        var count: Int32 = 0
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard ordinal < count else { throw CUDAError.noDevice("\(count) device(s), asked for cuda:\(ordinal)") }
        var dev: Int32 = 0
        try driver.check(driver.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet")
        var nameBuf = [CChar](repeating: 0, count: 256)
        try driver.check(driver.cuDeviceGetName(&nameBuf, 256, dev), "cuDeviceGetName")
        name = String(cString: nameBuf)
        var major: Int32 = 0, minor: Int32 = 0
        try driver.check(driver.cuDeviceGetAttribute(&major, 75, dev), "cuDeviceGetAttribute")
        try driver.check(driver.cuDeviceGetAttribute(&minor, 76, dev), "cuDeviceGetAttribute")
        computeCapability = (Int(major), Int(minor))
        // The kernels use sm_80 instructions (bf16 mma.sync, cp.async, cvt.bf16x2): an older GPU
        // is refused here, before any context is made, and the caller runs on the CPU.
        guard major >= 8 else { throw CUDAError.unsupportedGPU(name: name, major: Int(major), minor: Int(minor)) }
        var shared: Int32 = 0
        try driver.check(driver.cuDeviceGetAttribute(&shared, 97, dev), "cuDeviceGetAttribute")  // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
        maxSharedPerBlock = Int(shared)
        var ctx: OpaquePointer?
        try driver.check(driver.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        try driver.check(driver.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        context = ctx
        pthread_setspecific(contextKey, UnsafeRawPointer(ctx))
        var s: OpaquePointer?
        try driver.check(driver.cuStreamCreate(&s, 1), "cuStreamCreate")  // non-blocking
        stream = s
        var f = 0, t = 0
        try driver.check(driver.cuMemGetInfo(&f, &t), "cuMemGetInfo")
        totalMemory = t
        device = .cuda(ordinal)
        allocator = DeviceAllocator(driver: driver)
        blas = try CUBLAS(stream: s)
        try loadKernels(nvrtc: nvrtc, arch: "sm_\(major)\(minor)")
    }

    /// Every kernel the backend launches (the flash kernels come in three head-size variants).
    static let kernelNames = ["decode_f32", "decode_bf16", "elementwise", "swiglu_fwd", "swiglu_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "rope",
        "embedding_fwd", "embedding_bwd", "logsoftmax_fwd", "logsoftmax_bwd", "cross_entropy_rows", "gather_rows",
        "scatter_add_rows", "f32_to_bf16_copy", "sum_squares", "adamw_step", "sgd_step", "attention_fwd",
        "attention_bwd_di", "attention_bwd_dq", "attention_bwd_dkdv", "fill_uniform",
        "matvec_stored", "decode_nf4_bf16"] + flashKernels

    private func loadKernels(nvrtc: NVRTC, arch: String) throws {
        let key = "\(CUDAKernels.source)|\(arch)|\(nvrtc.versionString)"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let dir = CUDA.cacheDirectory
        let file = dir + "/kernels-\(arch)-\(String(hash, radix: 16)).cubin"
        var cubin: [UInt8]
        if let d = FileManager.default.contents(atPath: file), !d.isEmpty {
            cubin = [UInt8](d)
        } else {
            cubin = try nvrtc.compile(source: CUDAKernels.source, arch: arch)
            // Cache for the next run (temp + rename; a failure only costs a recompile).
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let tmp = file + ".tmp\(getpid())"
            if FileManager.default.createFile(atPath: tmp, contents: Data(cubin)) { _ = rename(tmp, file) }
        }
        var module: OpaquePointer?
        try cubin.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&module, $0.baseAddress!), "cuModuleLoadData") }
        for fn in Self.kernelNames {
            var f: OpaquePointer?
            try driver.check(driver.cuModuleGetFunction(&f, module, fn), "cuModuleGetFunction(\(fn))")
            functions[fn] = f
        }
        // The attention kernels may use more than the default 48 KB of shared memory, up to what the
        // device allows (a larger request is refused, which would leave the 48 KB default).
        for fn in ["attention_fwd", "attention_bwd_dq", "attention_bwd_dkdv"] + Self.flashKernels {
            _ = driver.cuFuncSetAttribute(functions[fn], 8, Int32(maxSharedPerBlock))   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            _ = driver.cuFuncSetAttribute(functions[fn], 9, 100)          // PREFERRED_SHARED_MEMORY_CARVEOUT: all of it
        }
    }

    // MARK: Plumbing

    /// Makes this device's context current on the calling thread (once per thread).
    @inline(__always)
    func ensureContext() {
        if UnsafeRawPointer(pthread_getspecific(contextKey)) != UnsafeRawPointer(context) {
            _ = driver.cuCtxSetCurrent(context)
            pthread_setspecific(contextKey, UnsafeRawPointer(context))
        }
    }

    // MARK: Backend: memory

    public func allocate(count: Int) -> TensorStorage { allocate(bytes: count * 4, dtype: .f32) }

    public func allocate(bytes: Int, dtype: DType) -> TensorStorage {
        let b = block(bytes)
        return TensorStorage(borrowing: UnsafeRawPointer(b.raw), byteCount: bytes, dtype: dtype, owner: b, device: device)
    }

    public func upload(_ bytes: UnsafeRawPointer, byteCount: Int, into dst: Tensor) {
        ensureContext()
        guard byteCount > 0 else { return }
        touch(dst.rawBytes)
        must(driver.cuMemcpyHtoDAsync(CUdeviceptr(UInt(bitPattern: dst.rawBytes)), bytes, byteCount, stream), "cuMemcpyHtoDAsync")
    }

    public func download(_ src: Tensor, into bytes: UnsafeMutableRawPointer, byteCount: Int) {
        ensureContext()
        guard byteCount > 0 else { return }
        must(driver.cuMemcpyDtoHAsync(bytes, CUdeviceptr(UInt(bitPattern: src.rawBytes)), byteCount, stream), "cuMemcpyDtoHAsync")
        synchronize()
    }

    public func synchronize() { ensureContext(); must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize") }

    /// Bytes held by live tensors now / at most since the last reset, and cached for reuse.
    public var bytesInUse: Int { allocator.bytesInUse }
    public var peakBytesInUse: Int { allocator.peakBytesInUse }
    public var memoryCapacity: Int { totalMemory }
    public func resetPeak() { allocator.resetPeak() }

    public func fill(_ x: Tensor, _ value: Float) {
        ensureContext()
        guard x.count > 0 else { return }
        touch(x.rawBytes)
        timed("fill") { must(driver.cuMemsetD32Async(CUdeviceptr(UInt(bitPattern: x.rawBytes)), value.bitPattern, x.count, stream), "cuMemsetD32Async") }
    }

    public func copy(_ src: Tensor, into dst: Tensor) {
        ensureContext()
        let n = dst.count
        guard n > 0 else { return }
        touch(dst.rawBytes)
        if src.dtype == .f32 {
            timed("copy") {
                must(driver.cuMemcpyDtoDAsync(CUdeviceptr(UInt(bitPattern: dst.rawBytes)), CUdeviceptr(UInt(bitPattern: src.rawBytes)), n * 4, stream),
                     "cuMemcpyDtoDAsync")
            }
        } else {
            launch("decode_f32", grid: blocks(n), block: 256, [.i32(dtypeCode(src.dtype)), .ptr(ptr(src)), .ptr(ptr(dst)), .i64(Int64(n))])
        }
    }
}
