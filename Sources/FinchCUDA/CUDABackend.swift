import Foundation
import FinchTensor
#if canImport(Glibc)
import Glibc
#endif

/// A block of device memory; going out of scope returns it to the allocator's cache.
final class DeviceBlock {
    let pointer: CUdeviceptr
    let size: Int
    unowned let allocator: DeviceAllocator
    /// A stand-in after a failed allocation (see `Backend`): no memory behind it, never cached.
    let placeholder: Bool
    init(pointer: CUdeviceptr, size: Int, allocator: DeviceAllocator, placeholder: Bool = false) {
        self.pointer = pointer; self.size = size; self.allocator = allocator; self.placeholder = placeholder
    }
    deinit { if !placeholder { allocator.give(self) } }
    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: UInt(pointer))! }
}

/// A caching allocator: freed blocks are kept by size class and handed out again, so a training
/// step reaches a steady state with no cuMemAlloc. One stream orders all work, so a block freed
/// on the host can be reused by the next kernel at once. When the device is full the cache is
/// released and the allocation tried once more.
final class DeviceAllocator {
    let driver: Driver
    private var free: [Int: [CUdeviceptr]] = [:]
    private let lock = NSLock()
    private(set) var bytesInUse = 0
    private(set) var peakBytesInUse = 0
    private(set) var cachedBytes = 0

    init(driver: Driver) { self.driver = driver }

    func take(_ bytes: Int) throws -> DeviceBlock {
        let size = max(256, BufferPool.sizeClass(bytes))
        if FaultInjection.shouldFailAllocation() { throw InjectedOutOfMemory(requested: size) }
        lock.lock()
        bytesInUse += size
        peakBytesInUse = max(peakBytesInUse, bytesInUse)
        if var list = free[size], let p = list.popLast() {
            free[size] = list
            cachedBytes -= size
            lock.unlock()
            return DeviceBlock(pointer: p, size: size, allocator: self)
        }
        lock.unlock()
        var p: CUdeviceptr = 0
        if driver.cuMemAlloc(&p, size) != 0 {
            releaseCache()
            let r = driver.cuMemAlloc(&p, size)
            if r != 0 {
                lock.lock(); bytesInUse -= size; lock.unlock()
                var f = 0, t = 0
                _ = driver.cuMemGetInfo(&f, &t)
                throw CUDAError.outOfMemory(requested: size, free: f, total: t)
            }
        }
        return DeviceBlock(pointer: p, size: size, allocator: self)
    }

    func give(_ block: DeviceBlock) {
        lock.lock()
        bytesInUse -= block.size
        free[block.size, default: []].append(block.pointer)
        cachedBytes += block.size
        lock.unlock()
    }

    func releaseCache() {
        lock.lock()
        let lists = free
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for (_, l) in lists { for p in l { _ = driver.cuMemFree(p) } }
    }

    func resetPeak() { lock.lock(); peakBytesInUse = bytesInUse; lock.unlock() }
}

/// A failure `FaultInjection` asked for, taking the out-of-memory path.
struct InjectedOutOfMemory: Error { let requested: Int }

/// One argument of a kernel launch, stored in an 8-byte slot (cuLaunchKernel reads each by its size).
enum KernelArg {
    case ptr(UnsafeRawPointer?)
    case i32(Int32)
    case i64(Int64)
    case f32(Float)
    var bits: UInt64 {
        switch self {
        case let .ptr(p): return UInt64(UInt(bitPattern: p))
        case let .i32(v): return UInt64(UInt32(bitPattern: v))
        case let .i64(v): return UInt64(bitPattern: v)
        case let .f32(v): return UInt64(v.bitPattern)
        }
    }
}

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
    private var functions: [String: OpaquePointer] = [:]
    private var ropeTables: [ObjectIdentifier: (Tensor, Tensor)] = [:]
    /// How f32 × f32 products (the LoRA branch) run: TF32 (default; measured faster than bf16 here,
    /// which adds a conversion per operand), bf16 inputs with f32 accumulation, or exact f32
    /// (`FINCH_F32_PRODUCTS=tf32|bf16|f32`).
    public enum ProductPrecision: String, Sendable { case f32, tf32, bf16 }
    public var f32Products = ProductPrecision(rawValue: ProcessInfo.processInfo.environment["FINCH_F32_PRODUCTS"] ?? "tf32") ?? .tf32
    /// The precision of the blocked attention's products: bf16 inputs with f32 accumulation (the
    /// default, as PyTorch's autocast runs attention), TF32, or full f32 (`FINCH_ATTENTION=f32|tf32|bf16`).
    public enum AttentionPrecision: String, Sendable { case f32, tf32, bf16 }
    public var attentionPrecision = AttentionPrecision(rawValue: ProcessInfo.processInfo.environment["FINCH_ATTENTION"] ?? "bf16") ?? .bf16


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
        for fn in ["decode_f32", "decode_bf16", "elementwise", "swiglu_fwd", "swiglu_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "rope",
                   "embedding_fwd", "embedding_bwd", "logsoftmax_fwd", "logsoftmax_bwd", "cross_entropy_rows", "gather_rows",
                   "scatter_add_rows", "f32_to_bf16_copy", "sum_squares", "adamw_step", "sgd_step", "attention_fwd",
                   "attention_bwd_di", "attention_bwd_dq", "attention_bwd_dkdv", "fill_uniform",
                   "attn_block_softmax", "attn_block_probs", "attn_block_dscores", "matvec_stored"] + Self.flashKernels {
            var f: OpaquePointer?
            try driver.check(driver.cuModuleGetFunction(&f, module, fn), "cuModuleGetFunction(\(fn))")
            functions[fn] = f
        }
        // The attention kernels may use more than the default 48 KB of shared memory (head dim > 128).
        for fn in ["attention_fwd", "attention_bwd_dq", "attention_bwd_dkdv"] + Self.flashKernels {
            _ = driver.cuFuncSetAttribute(functions[fn], 8, 160 * 1024)   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
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

    /// FINCH_PROFILE=1: every launch and product is synchronised and timed by name (slower, but a
    /// true per-kernel breakdown; `profileReport()` prints it).
    public let profiling = ["1", "shapes"].contains(ProcessInfo.processInfo.environment["FINCH_PROFILE"] ?? "")
    private var profile: [String: (count: Int, seconds: Double)] = [:]

    @inline(__always)
    static let profileShapes = ProcessInfo.processInfo.environment["FINCH_PROFILE"] == "shapes"

    func timed<T>(_ name: String, _ body: () -> T) -> T {
        guard profiling else { return body() }
        _ = driver.cuStreamSynchronize(stream)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        _ = driver.cuStreamSynchronize(stream)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let e = profile[name] ?? (0, 0)
        profile[name] = (e.count + 1, e.seconds + dt)
        return r
    }

    public func profileReport() -> String {
        let total = profile.values.reduce(0) { $0 + $1.seconds }
        return profile.sorted { $0.value.seconds > $1.value.seconds }.prefix(25).map {
            String(format: "%-44@ %7d calls %9.3f s %5.1f%%", $0.key as NSString, $0.value.count, $0.value.seconds, 100 * $0.value.seconds / max(total, 1e-9))
        }.joined(separator: "\n")
    }

    /// A device failure inside an op cannot be thrown through the Backend protocol: it becomes
    /// the sticky `DeviceErrors` error that the trainer and the notebook throw at the next boundary;
    /// until then launches, products and copies are skipped.
    func fail(_ error: Error) {
        DeviceErrors.record(CUDABackend.deviceError(error, device: device, bytesInUse: allocator.bytesInUse))
    }

    static func deviceError(_ error: Error, device: Device, bytesInUse: Int) -> DeviceError {
        switch error {
        case let e as InjectedOutOfMemory:
            return DeviceError(device: device, kind: .outOfMemory(bytes: e.requested, inUse: bytesInUse, free: nil, total: nil), injected: true)
        case let CUDAError.outOfMemory(requested, free, total):
            return DeviceError(device: device, kind: .outOfMemory(bytes: requested, inUse: bytesInUse, free: free, total: total))
        case let CUDAError.driver(_, code, _):
            // The errors after which the context refuses all work (CUDA's "sticky" errors).
            let sticky: Set<Int32> = [214, 700, 702, 710, 714, 715, 716, 717, 718, 719, 999]
            return DeviceError(device: device, kind: .failed("\(error)"), poisoned: sticky.contains(code))
        default:
            return DeviceError(device: device, kind: .failed("\(error)"))
        }
    }

    /// Runs a driver call unless an error is pending, recording its failure.
    func must(_ r: @autoclosure () -> CUresult, _ call: String) {
        if DeviceErrors.isPending { return }
        do { try driver.check(r(), call) } catch { fail(error) }
    }

    func block(_ bytes: Int) -> DeviceBlock {
        ensureContext()
        do { return try allocator.take(bytes) } catch {
            fail(error)
            return DeviceBlock(pointer: CUdeviceptr(Self.placeholderAddress), size: 0, allocator: allocator, placeholder: true)
        }
    }

    /// Where placeholder blocks point: a non-null address no kernel is launched on (all device work
    /// is skipped while their error is pending, and no cache keeps a placeholder).
    static let placeholderAddress: UInt = 0x1000

    func launch(_ name: String, grid: (Int, Int, Int), block: Int, shared: Int = 0, _ args: [KernelArg]) {
        if DeviceErrors.isPending { return }
        if !shadows.isEmpty { for case let .ptr(p) in args { touch(p) } }
        timed(name) { launchNow(name, grid: grid, block: block, shared: shared, args) }
    }

    private func launchNow(_ name: String, grid: (Int, Int, Int), block: Int, shared: Int, _ args: [KernelArg]) {
        ensureContext()
        var slots = args.map(\.bits)
        slots.withUnsafeMutableBufferPointer { buf in
            var pointers = (0..<buf.count).map { UnsafeMutableRawPointer(buf.baseAddress! + $0) as UnsafeMutableRawPointer? }
            let r = pointers.withUnsafeMutableBufferPointer {
                driver.cuLaunchKernel(functions[name], UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block), 1, 1,
                                      UInt32(shared), stream, $0.baseAddress, nil)
            }
            must(r, "cuLaunchKernel(\(name))")
        }
    }

    /// Blocks for a grid-stride kernel over n elements.
    func blocks(_ n: Int) -> (Int, Int, Int) { (max(1, min((n + 255) / 256, 1 << 16)), 1, 1) }

    func ptr(_ t: Tensor) -> UnsafeRawPointer { UnsafeRawPointer(t.rawBytes) }
    func mptr(_ t: Tensor) -> UnsafeMutableRawPointer { t.rawBytes }

    /// Recent int uploads by content: every layer (and its recomputation and backward) passes the
    /// same positions, and a copy from pageable host memory can stall the stream, so each distinct
    /// array goes over once.
    private var intUploads: [(values: [Int32], block: DeviceBlock)] = []

    /// Int32 values uploaded to a device block (ids, positions, labels). The block is never written
    /// by kernels, so equal arrays share it.
    func upload(ints: [Int32]) -> DeviceBlock {
        if let hit = intUploads.first(where: { $0.values == ints }) { return hit.block }
        let b = block(max(4, ints.count * 4))
        if DeviceErrors.isPending { return b }  // the copy is skipped: never reuse it
        ints.withUnsafeBytes { must(driver.cuMemcpyHtoDAsync(b.pointer, $0.baseAddress!, $0.count, stream), "cuMemcpyHtoDAsync") }
        intUploads.append((ints, b))
        if intUploads.count > 8 { intUploads.removeFirst() }
        return b
    }

    func dtypeCode(_ d: DType) -> Int32 {
        guard let code = CUDAKernels.dtypeCode(d) else { fail(TensorError.unsupportedDType(op: "cuda", dtype: d)); return 0 }
        return code
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

    // MARK: bf16 copies of f32 operands

    /// bf16 copies of f32 tensors made for products, reused while their storage is untouched: the
    /// input of q/k/v (and of gate/up, and of each LoRA branch) is converted once, not per product.
    /// Any launch, copy or fill that is handed a pointer into a copied storage drops its copies
    /// (conservative: reads drop them too), as does the storage's death.
    private struct Shadow {
        weak var storage: TensorStorage?
        let base: UInt, end: UInt
        let offset: Int, count: Int
        let block: DeviceBlock
    }
    private var shadows: [Shadow] = []

    func touch(_ p: UnsafeRawPointer?) {
        guard let p, !shadows.isEmpty else { return }
        let a = UInt(bitPattern: p)
        shadows.removeAll { $0.storage == nil || (a >= $0.base && a < $0.end) }
    }

    private func shadow(of t: Tensor) -> DeviceBlock? {
        shadows.first { $0.storage === t.storage && $0.offset == t.offset && $0.count == t.count }?.block
    }

    private func remember(_ t: Tensor, _ b: DeviceBlock) {
        if DeviceErrors.isPending { return }  // its kernel was skipped: nothing to reuse
        let base = UInt(bitPattern: t.storage.raw)
        shadows.append(Shadow(storage: t.storage, base: base, end: base + UInt(t.storage.byteCount), offset: t.offset, count: t.count, block: b))
        if shadows.count > 6 { shadows.removeFirst() }
    }

    // MARK: Matrix products

    /// Operands of at most this many elements (LoRA A and B, x·Aᵀ) are "small": converting one
    /// costs little, and their copies are not kept.
    public var smallOperand = 1 << 21

    /// A bf16 copy for a kernel to write beside a large f32 result that products read next (the
    /// normalised input of q/k/v and gate/up, the SwiGLU output and its gradients): the copy comes
    /// with the result instead of from a second pass over it.
    private func producedCopy(_ t: Tensor) -> DeviceBlock? {
        t.count > smallOperand && t.dtype == .f32 ? block(t.count * 2) : nil
    }

    /// A bf16 copy of a whole operand (decoded from any stored type), or the operand itself when bf16.
    private func bf16Operand(_ t: Tensor) -> (UnsafeRawPointer, DeviceBlock?) {
        if t.dtype == .bf16 { return (ptr(t), nil) }
        if t.dtype == .f32, let b = shadow(of: t) { return (UnsafeRawPointer(b.raw), b) }
        let b = block(t.count * 2)
        if t.dtype == .f32 {
            launch("f32_to_bf16_copy", grid: blocks(t.count), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
            if t.count > smallOperand { remember(t, b) }
        } else {
            launch("decode_bf16", grid: blocks(t.count), block: 256,
                   [.i32(dtypeCode(t.dtype)), .ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
        }
        return (UnsafeRawPointer(b.raw), b)
    }

    public func prepareSharedOperand(_ t: Tensor) {
        guard f32Products == .tf32, t.dtype == .f32, t.count > smallOperand, shadow(of: t) == nil else { return }
        _ = bf16Operand(t)
    }

    /// In the default (TF32) mode, an f32 product of a large activation that already has a bf16
    /// copy with a small operand (the LoRA products) reads that copy: half the bytes of the
    /// memory-bound product, as under PyTorch's autocast. `f32Products = .f32` keeps f32.
    private func readsBF16Copy(_ a: Tensor, _ b: Tensor) -> Bool {
        guard f32Products == .tf32, a.dtype == .f32, b.dtype == .f32 else { return false }
        return (b.count <= smallOperand && shadow(of: a) != nil) || (a.count <= smallOperand && shadow(of: b) != nil)
    }

    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        guard p.m > 0, p.n > 0 else { return }
        let kind = a.dtype == .f32 && b.dtype == .f32 ? "gemm f32" : "gemm bf16"
        guard profiling else { return gemmNow(p, a: a, b: b, c: c) }
        // FINCH_PROFILE=shapes: one line per shape, transposes, β and operand precision.
        let name = Self.profileShapes
            ? "\(kind) \(p.m)×\(p.n)×\(p.k)\(p.transA ? " Aᵀ" : "")\(p.transB ? " Bᵀ" : "") β\(p.beta)\(readsBF16Copy(a, b) ? " bf16-copy" : "")"
            : "\(kind) \(min(p.m, p.n) <= 64 ? "skinny" : "large")"
        timed(name) { gemmNow(p, a: a, b: b, c: c) }
    }

    private func gemmNow(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor) {
        if DeviceErrors.isPending { return }
        ensureContext()
        if p.m <= Self.matVecRows, p.batch == 1, !p.transA, p.transB, a.dtype == .f32, Self.matVecTypes.contains(b.dtype),
           p.k % 32 == 0, p.lda == p.k, p.ldb == p.k, p.offsetA == 0, p.offsetB == 0 {
            return storedMatVec(p, x: a, w: b, y: c)
        }
        // Row-major C (m×n) = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
        touch(c.rawBytes)
        let mixed = a.dtype != .f32 || b.dtype != .f32 || f32Products == .bf16 || readsBF16Copy(a, b)
        var alpha = p.alpha, beta = p.beta
        let aOp: (UnsafeRawPointer, DeviceBlock?), bOp: (UnsafeRawPointer, DeviceBlock?)
        let elem: Int
        if mixed { aOp = bf16Operand(a); bOp = bf16Operand(b); elem = 2 } else { aOp = (ptr(a), nil); bOp = (ptr(b), nil); elem = 4 }
        let type = mixed ? CUBLAS.r16BF : CUBLAS.r32F
        let compute = !mixed && f32Products == .tf32 ? CUBLAS.compute32FFastTF32 : CUBLAS.compute32F
        let cPtr = mptr(c) + p.offsetC * 4
        let status = withUnsafePointer(to: &alpha) { al in
            withUnsafePointer(to: &beta) { be in
                blas.gemmStridedBatchedEx(blas.handle, p.transB ? CUBLAS.opT : CUBLAS.opN, p.transA ? CUBLAS.opT : CUBLAS.opN,
                                          Int32(p.n), Int32(p.m), Int32(p.k), al,
                                          bOp.0 + p.offsetB * elem, type, Int32(p.ldb), Int64(p.strideB),
                                          aOp.0 + p.offsetA * elem, type, Int32(p.lda), Int64(p.strideA),
                                          be, cPtr, CUBLAS.r32F, Int32(p.ldc), Int64(p.strideC), Int32(p.batch), compute, -1)
            }
        }
        if status != 0 { fail(CUDAError.cublas(call: "cublasGemmStridedBatchedEx", status: status)) }
        withExtendedLifetime((aOp.1, bOp.1)) {}
    }

    /// Decoding's products (≤ 8 rows of x against frozen quantized weights) read the blocks once,
    /// rather than decoding them into a bf16 copy for cuBLAS per token (q4_0 decode 29 → 101
    /// tokens/s for the 8B shape on an H100). bf16 weights stay with cuBLAS.
    static let matVecRows = 8
    static let matVecTypes: Set<DType> = [.q8_0, .q4_0, .q4_1]

    private func storedMatVec(_ p: GemmParams, x: Tensor, w: Tensor, y: Tensor) {
        launch("matvec_stored", grid: ((p.n + 7) / 8, 1, 1), block: 256,
               [.i32(dtypeCode(w.dtype)), .ptr(ptr(w)), .ptr(ptr(x)), .ptr(UnsafeRawPointer(mptr(y) + p.offsetC * 4)),
                .i32(Int32(p.m)), .i32(Int32(p.n)), .i32(Int32(p.k)), .i32(Int32(p.ldc)), .f32(p.alpha), .f32(p.beta)])
    }

    // MARK: Element-wise and row-wise kernels

    public func elementwise(_ op: ElementwiseOp, _ x: Tensor, _ y: Tensor?, out: Tensor) {
        let n = out.count
        guard n > 0 else { return }
        var code = CUDAKernels.Op.add, s: Float = 0
        switch op {
        case .add: code = .add
        case .sub: code = .sub
        case .mul: code = .mul
        case .addRow: code = .addRow
        case let .scale(v): code = .scale; s = v
        case let .addScaled(v): code = .addScaled; s = v
        case .silu: code = .silu
        }
        launch("elementwise", grid: blocks(n), block: 256,
               [.i32(code.rawValue), .ptr(ptr(x)), .ptr(y.map(ptr)), .ptr(ptr(out)), .f32(s), .i64(Int64(n)), .i64(Int64(y?.count ?? 1))])
    }

    public func rmsNormForward(x: Tensor, weight: Tensor, eps: Float, out: Tensor, rstd: Tensor) {
        let copy = producedCopy(out)
        launch("rmsnorm_fwd", grid: (x.rows, 1, 1), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(weight)), .ptr(ptr(out)), .ptr(copy.map { UnsafeRawPointer($0.raw) }), .ptr(ptr(rstd)),
                .i32(Int32(x.cols)), .f32(eps)])
        if let copy { remember(out, copy) }
    }

    public func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, dweight: Tensor?) {
        launch("rmsnorm_bwd", grid: (x.rows, 1, 1), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(weight)), .ptr(ptr(rstd)), .ptr(ptr(dout)), .ptr(dx.map(ptr)), .ptr(dweight.map(ptr)), .i32(Int32(x.cols))])
    }

    /// The rotary tables on this device (copied once per table).
    private func deviceTables(cos: Tensor, sin: Tensor) -> (Tensor, Tensor) {
        if cos.device == device { return (cos, sin) }
        let key = ObjectIdentifier(cos.storage)
        if let t = ropeTables[key] { return t }
        do {
            let t = (try cos.moved(to: device), try sin.moved(to: device))
            if !DeviceErrors.isPending { ropeTables[key] = t }
            return t
        } catch { fail(error); return (cos, sin) }
    }

    public func rope(x: Tensor, cos: Tensor, sin: Tensor, positions: [Int32], heads: Int, inverse: Bool, out: Tensor) {
        let (c, s) = deviceTables(cos: cos, sin: sin)
        let pos = upload(ints: positions)
        let half = cos.cols
        launch("rope", grid: blocks(x.rows * heads * half), block: 256,
               [.ptr(ptr(x)), .ptr(ptr(c)), .ptr(ptr(s)), .ptr(UnsafeRawPointer(pos.raw)), .ptr(ptr(out)),
                .i64(Int64(x.rows)), .i32(Int32(heads)), .i32(Int32(half)), .f32(inverse ? -1 : 1)])
        withExtendedLifetime(pos) {}
    }

    public func swigluForward(gate: Tensor, up: Tensor, out: Tensor) {
        let copy = producedCopy(out)
        launch("swiglu_fwd", grid: blocks(out.count), block: 256,
               [.ptr(ptr(gate)), .ptr(ptr(up)), .ptr(ptr(out)), .ptr(copy.map { UnsafeRawPointer($0.raw) }), .i64(Int64(out.count))])
        if let copy { remember(out, copy) }
    }

    public func swigluBackward(gate: Tensor, up: Tensor, dout: Tensor, dgate: Tensor, dup: Tensor) {
        let dg16 = producedCopy(dgate), du16 = dg16 == nil ? nil : producedCopy(dup)
        launch("swiglu_bwd", grid: blocks(gate.count), block: 256,
               [.ptr(ptr(gate)), .ptr(ptr(up)), .ptr(ptr(dout)), .ptr(ptr(dgate)), .ptr(ptr(dup)),
                .ptr(du16 == nil ? nil : dg16.map { UnsafeRawPointer($0.raw) }), .ptr(du16.map { UnsafeRawPointer($0.raw) }), .i64(Int64(gate.count))])
        if let dg16, let du16 { remember(dgate, dg16); remember(dup, du16) }
    }

    static let attentionRows = 8, attentionKeys = 32
    static let flashKernels = ["flash_attention_fwd", "flash_attention_bwd_dq", "flash_attention_bwd_dkdv"].flatMap { [$0, $0 + "_d64", $0 + "_d128"] }

    /// Attention over few queries (decoding) runs in one fused kernel; longer sequences go through
    /// the matrix units a block of queries at a time (`blockedAttention*`), holding one
    /// (KVH × R × keys) score block, never the full (H × T × T) scores.
    static let fusedAttentionMaxQueries = 16
    /// Flash attention (matrix units, bf16) for long sequences; FINCH_FLASH=0 uses the blocked
    /// cuBLAS path instead.
    public var useFlashAttention = ProcessInfo.processInfo.environment["FINCH_FLASH"] != "0"
    /// Bytes of one score block of the blocked path (KVH × R × Tk floats; two in the backward):
    /// R is as many query rows as fit, so long sequences take few, large products.
    static let attentionBlockBytes = 256 << 20

    /// The flash-attention backward; FINCH_FLASH_BACKWARD=0 keeps the forward but takes the blocked
    /// cuBLAS backward (for comparisons).
    public var useFlashBackward = ProcessInfo.processInfo.environment["FINCH_FLASH_BACKWARD"] != "0"

    /// Flash attention (forward and backward on the matrix units) applies: bf16 attention, not
    /// turned off, a head size the kernels take.
    private func flashAttention(_ p: AttentionParams) -> Bool {
        attentionPrecision == .bf16 && useFlashAttention && p.headDim % 16 == 0 && p.headDim <= 128
    }

    /// The flash kernels come compiled for head sizes 64 and 128 (loops unrolled) and for any other.
    private func flashKernel(_ name: String, _ p: AttentionParams) -> String {
        return p.headDim == 64 || p.headDim == 128 ? "\(name)_d\(p.headDim)" : name
    }

    public func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        guard p.headDim <= 256 else { fail(TensorError.invalidShape(op: "cuda attention", shape: [p.headDim], expected: "head dim ≤ 256")); return }
        if p.seqLen > Self.fusedAttentionMaxQueries {
            // bf16 precision and a head size the matrix-unit kernel takes: flash attention.
            if flashAttention(p) {
                let shared = 2 * 2 * 64 * (p.headDim + 8) * 2   // two stages of a K and a V tile
                let (q16, _, qb) = attentionOperand(q), (k16, _, kb) = attentionOperand(k), (v16, _, vb) = attentionOperand(v)
                defer { withExtendedLifetime((qb, kb, vb)) {} }
                launch(flashKernel("flash_attention_fwd", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128, shared: shared,
                       [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(ptr(out)), .ptr(ptr(lse)),
                        .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(p.headDim)),
                        .i32(Int32(p.queryOffset)), .f32(p.scale)])
                return
            }
            return blockedAttentionForward(p, q: q, k: k, v: v, out: out, lse: lse)
        }
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let shared = (ak * (d + 1) + ak * d + aq * d) * 4
        launch("attention_fwd", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256, shared: shared,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(out)), .ptr(ptr(lse)),
                .i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)), .i32(Int32(d)),
                .i32(Int32(p.queryOffset)), .f32(p.scale)])
    }

    public func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim, aq = Self.attentionRows, ak = Self.attentionKeys
        let rows = p.batch * p.heads * p.seqLen
        let di = block(rows * 4)
        launch("attention_bwd_di", grid: ((rows * 32 + 255) / 256, 1, 1), block: 256,
               [.ptr(ptr(out)), .ptr(ptr(dout)), .ptr(UnsafeRawPointer(di.raw)),
                .i32(Int32(p.batch)), .i32(Int32(p.seqLen)), .i32(Int32(p.heads)), .i32(Int32(d))])
        if p.seqLen > Self.fusedAttentionMaxQueries, useFlashBackward, flashAttention(p) {
            let (q16, _, qb) = attentionOperand(q), (k16, _, kb) = attentionOperand(k), (v16, _, vb) = attentionOperand(v)
            let (do16, _, dob) = attentionOperand(dout)
            let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                       .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
            let operands: [KernelArg] = [.ptr(q16), .ptr(k16), .ptr(v16), .ptr(do16), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw))]
            let tile = 64 * (d + 8) * 2   // bytes of one padded 64-row bf16 tile
            launch(flashKernel("flash_attention_bwd_dq", p), grid: ((p.seqLen + 63) / 64, p.heads, p.batch), block: 128, shared: 4 * tile,
                   operands + [.ptr(ptr(dq))] + common)
            // K and V, then two stages of Q, dO, lse and Di.
            launch(flashKernel("flash_attention_bwd_dkdv", p), grid: ((p.keyLen + 63) / 64, p.kvHeads, p.batch), block: 128,
                   shared: 2 * tile + 2 * (2 * tile + 2 * 64 * 4), operands + [.ptr(ptr(dk)), .ptr(ptr(dv))] + common)
            withExtendedLifetime((di, qb, kb, vb, dob)) {}
            return
        }
        if p.seqLen > Self.fusedAttentionMaxQueries {
            blockedAttentionBackward(p, q: q, k: k, v: v, lse: lse, di: UnsafeRawPointer(di.raw), dout: dout, dq: dq, dk: dk, dv: dv)
            withExtendedLifetime(di) {}
            return
        }
        let common: [KernelArg] = [.i32(Int32(p.seqLen)), .i32(Int32(p.keyLen)), .i32(Int32(p.heads)), .i32(Int32(p.kvHeads)),
                                   .i32(Int32(d)), .i32(Int32(p.queryOffset)), .f32(p.scale)]
        launch("attention_bwd_dq", grid: ((p.seqLen + aq - 1) / aq, p.heads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw)), .ptr(ptr(dq))] + common)
        launch("attention_bwd_dkdv", grid: ((p.keyLen + aq - 1) / aq, p.kvHeads, p.batch), block: 256,
               shared: (2 * ak * (d + 1) + 2 * aq * d + 2 * ak) * 4,
               [.ptr(ptr(q)), .ptr(ptr(k)), .ptr(ptr(v)), .ptr(ptr(dout)), .ptr(ptr(lse)), .ptr(UnsafeRawPointer(di.raw)),
                .ptr(ptr(dk)), .ptr(ptr(dv))] + common)
        withExtendedLifetime(di) {}
    }

    /// A TF32 (or f32) strided-batched product on raw device pointers, row-major like `GemmParams`.
    /// Operands in bf16 when `attentionPrecision` is bf16 (pointers and strides then count bf16
    /// elements), f32 otherwise; C is always f32.
    private func rawGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafeRawPointer, lda: Int, strideA: Int, b: UnsafeRawPointer, ldb: Int, strideB: Int,
                         beta: Float, c: UnsafeMutableRawPointer, ldc: Int, strideC: Int, batch: Int) {
        if DeviceErrors.isPending { return }
        ensureContext()
        touch(UnsafeRawPointer(c))
        timed("gemm attention") {
        var al = alpha, be = beta
        let type = attentionPrecision == .bf16 ? CUBLAS.r16BF : CUBLAS.r32F
        let compute = attentionPrecision == .tf32 ? CUBLAS.compute32FFastTF32 : CUBLAS.compute32F
        let status = blas.gemmStridedBatchedEx(blas.handle, transB ? CUBLAS.opT : CUBLAS.opN, transA ? CUBLAS.opT : CUBLAS.opN,
                                               Int32(n), Int32(m), Int32(k), &al, b, type, Int32(ldb), Int64(strideB),
                                               a, type, Int32(lda), Int64(strideA), &be, c, CUBLAS.r32F, Int32(ldc), Int64(strideC),
                                               Int32(batch), compute, -1)
        if status != 0 { fail(CUDAError.cublas(call: "cublasGemmStridedBatchedEx (attention)", status: status)) }
        }
    }

    /// Operands of the attention products: the f32 tensor itself, or a bf16 copy (element size 2).
    private func attentionOperand(_ t: Tensor) -> (UnsafeRawPointer, Int, DeviceBlock?) {
        guard attentionPrecision == .bf16 else { return (ptr(t), 4, nil) }
        let b = block(t.count * 2)
        launch("f32_to_bf16_copy", grid: blocks(t.count), block: 256, [.ptr(ptr(t)), .ptr(UnsafeRawPointer(b.raw)), .i64(Int64(t.count))])
        return (UnsafeRawPointer(b.raw), 2, b)
    }

    /// Query rows per block: as many as fit `attentionBlockBytes`, at most `attentionMaxRows` so
    /// that the blocks of a causal sequence skip the keys after their last query (3/8 of the
    /// square at T = 2048 with 512-row blocks).
    public var attentionMaxRows = Int(ProcessInfo.processInfo.environment["FINCH_ATTENTION_ROWS"] ?? "") ?? 512
    private func attentionRows(_ p: AttentionParams) -> Int {
        min(p.seqLen, max(16, attentionMaxRows), max(16, Self.attentionBlockBytes / (p.kvHeads * p.keyLen * 4)))
    }

    /// For each sequence b, each query head r within a key/value group, and each block of R
    /// queries: S = scale·Q·Kᵀ for all KVH groups in one batched product, a row softmax (saving
    /// lse), then O = P·V.
    private func blockedAttentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor) {
        let d = p.headDim, h = p.heads, kvh = p.kvHeads, rep = h / kvh, t = p.seqLen, tk = p.keyLen
        let ldq = h * d, ldk = kvh * d
        let rMax = attentionRows(p)
        let bf16 = attentionPrecision == .bf16
        let (qp, e, qb) = attentionOperand(q), (kp, _, kb) = attentionOperand(k), (vp, _, vb) = attentionOperand(v)
        let sBlock = block(kvh * rMax * tk * 4), p16 = bf16 ? block(kvh * rMax * tk * 2) : nil
        let s = sBlock.raw
        for b in 0..<p.batch {
            for r in 0..<rep {
                var t0 = 0
                while t0 < t {
                    let rows = min(rMax, t - t0), keys = min(tk, p.queryOffset + t0 + rows)
                    let qOff = ((b * t + t0) * ldq + r * d), kvOff = b * tk * ldk
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: p.scale,
                            a: qp + qOff * e, lda: ldq, strideA: rep * d, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: s, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_softmax", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(s)), .ptr(ptr(lse)), .ptr(p16.map { UnsafeRawPointer($0.raw) }), .i32(Int32(rows)), .i32(Int32(keys)),
                            .i32(Int32(t)), .i32(Int32(h)), .i32(Int32(rep)), .i32(Int32(r)), .i32(Int32(b)), .i32(Int32(t0)), .i32(Int32(p.queryOffset))])
                    rawGemm(transA: false, transB: false, m: rows, n: d, k: keys, alpha: 1,
                            a: p16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(s), lda: keys, strideA: rows * keys,
                            b: vp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: mptr(out) + qOff * 4, ldc: ldq, strideC: rep * d, batch: kvh)
                    t0 += rows
                }
            }
        }
        withExtendedLifetime((sBlock, p16, qb, kb, vb)) {}
    }

    private func blockedAttentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, lse: Tensor, di: UnsafeRawPointer,
                                          dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) {
        let d = p.headDim, h = p.heads, kvh = p.kvHeads, rep = h / kvh, t = p.seqLen, tk = p.keyLen
        let ldq = h * d, ldk = kvh * d
        let rMax = attentionRows(p)
        let bf16 = attentionPrecision == .bf16
        let (qp, e, qb) = attentionOperand(q), (kp, _, kb) = attentionOperand(k), (vp, _, vb) = attentionOperand(v)
        let (dop, _, dob) = attentionOperand(dout)
        let pBlock = block(kvh * rMax * tk * 4), dpBlock = block(kvh * rMax * tk * 4)
        let p16 = bf16 ? block(kvh * rMax * tk * 2) : nil, ds16 = bf16 ? block(kvh * rMax * tk * 2) : nil
        let pm = pBlock.raw, dpm = dpBlock.raw
        let pOperand = p16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(pm)
        let dsOperand = ds16.map { UnsafeRawPointer($0.raw) } ?? UnsafeRawPointer(dpm)
        for b in 0..<p.batch {
            for r in 0..<rep {
                var t0 = 0
                while t0 < t {
                    let rows = min(rMax, t - t0), keys = min(tk, p.queryOffset + t0 + rows)
                    let qOff = ((b * t + t0) * ldq + r * d), kvOff = b * tk * ldk
                    let rowArgs: [KernelArg] = [.i32(Int32(rows)), .i32(Int32(keys)), .i32(Int32(t)), .i32(Int32(h)), .i32(Int32(rep)),
                                                .i32(Int32(r)), .i32(Int32(b)), .i32(Int32(t0))]
                    // P = exp(scale·Q·Kᵀ − lse)
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: p.scale,
                            a: qp + qOff * e, lda: ldq, strideA: rep * d, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: pm, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_probs", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(pm)), .ptr(ptr(lse)), .ptr(p16.map { UnsafeRawPointer($0.raw) })] + rowArgs + [.i32(Int32(p.queryOffset))])
                    // dV += Pᵀ·dO
                    rawGemm(transA: true, transB: false, m: keys, n: d, k: rows, alpha: 1,
                            a: pOperand, lda: keys, strideA: rows * keys, b: dop + qOff * e, ldb: ldq, strideB: rep * d,
                            beta: 1, c: mptr(dv) + kvOff * 4, ldc: ldk, strideC: d, batch: kvh)
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP − Di)
                    rawGemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: 1,
                            a: dop + qOff * e, lda: ldq, strideA: rep * d, b: vp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 0, c: dpm, ldc: keys, strideC: rows * keys, batch: kvh)
                    launch("attn_block_dscores", grid: (kvh * rows, 1, 1), block: 256,
                           [.ptr(UnsafeRawPointer(pm)), .ptr(p16.map { UnsafeRawPointer($0.raw) }), .ptr(UnsafeRawPointer(dpm)),
                            .ptr(ds16.map { UnsafeRawPointer($0.raw) }), .ptr(di)] + rowArgs)
                    // dQ += scale·dS·K ; dK += scale·dSᵀ·Q
                    rawGemm(transA: false, transB: false, m: rows, n: d, k: keys, alpha: p.scale,
                            a: dsOperand, lda: keys, strideA: rows * keys, b: kp + kvOff * e, ldb: ldk, strideB: d,
                            beta: 1, c: mptr(dq) + qOff * 4, ldc: ldq, strideC: rep * d, batch: kvh)
                    rawGemm(transA: true, transB: false, m: keys, n: d, k: rows, alpha: p.scale,
                            a: dsOperand, lda: keys, strideA: rows * keys, b: qp + qOff * e, ldb: ldq, strideB: rep * d,
                            beta: 1, c: mptr(dk) + kvOff * 4, ldc: ldk, strideC: d, batch: kvh)
                    t0 += rows
                }
            }
        }
        withExtendedLifetime((pBlock, dpBlock, p16, ds16, qb, kb, vb, dob)) {}
    }

    public func embeddingForward(table: Tensor, ids: [Int32], out: Tensor) {
        let b = upload(ints: ids)
        launch("embedding_fwd", grid: blocks(ids.count * table.cols), block: 256,
               [.i32(dtypeCode(table.dtype)), .ptr(ptr(table)), .ptr(UnsafeRawPointer(b.raw)), .ptr(ptr(out)),
                .i64(Int64(ids.count)), .i32(Int32(table.cols))])
        withExtendedLifetime(b) {}
    }

    public func embeddingBackward(ids: [Int32], dout: Tensor, dtable: Tensor) {
        let b = upload(ints: ids)
        launch("embedding_bwd", grid: blocks(ids.count * dtable.cols), block: 256,
               [.ptr(UnsafeRawPointer(b.raw)), .ptr(ptr(dout)), .ptr(ptr(dtable)), .i64(Int64(ids.count)), .i32(Int32(dtable.cols))])
        withExtendedLifetime(b) {}
    }

    public func logSoftmaxForward(x: Tensor, out: Tensor) {
        launch("logsoftmax_fwd", grid: (x.rows, 1, 1), block: 256, [.ptr(ptr(x)), .ptr(ptr(out)), .i32(Int32(x.cols))])
    }

    public func logSoftmaxBackward(out: Tensor, dout: Tensor, dx: Tensor) {
        launch("logsoftmax_bwd", grid: (out.rows, 1, 1), block: 256, [.ptr(ptr(out)), .ptr(ptr(dout)), .ptr(ptr(dx)), .i32(Int32(out.cols))])
    }

    /// About 256 MB of logits a chunk: few, large LM-head products.
    public var crossEntropyChunkBytes: Int { 256 << 20 }

    public func crossEntropyRows(logits: Tensor, labels: [Int32], losses: Tensor, gradient: Bool) {
        let l = upload(ints: labels)
        launch("cross_entropy_rows", grid: (logits.rows, 1, 1), block: 512,
               [.ptr(ptr(logits)), .ptr(UnsafeRawPointer(l.raw)), .ptr(ptr(losses)), .i32(Int32(logits.cols)), .i32(gradient ? 1 : 0)])
        withExtendedLifetime(l) {}
    }

    public func gatherRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let idx = upload(ints: rows), c = src.cols
        launch("gather_rows", grid: blocks(rows.count * c), block: 256,
               [.ptr(ptr(src)), .ptr(UnsafeRawPointer(idx.raw)), .ptr(ptr(dst)), .i64(Int64(rows.count)), .i32(Int32(c))])
        withExtendedLifetime(idx) {}
    }

    public func scatterAddRows(_ src: Tensor, rows: [Int32], into dst: Tensor) {
        let idx = upload(ints: rows), c = src.cols
        launch("scatter_add_rows", grid: blocks(rows.count * c), block: 256,
               [.ptr(ptr(src)), .ptr(UnsafeRawPointer(idx.raw)), .ptr(ptr(dst)), .i64(Int64(rows.count)), .i32(Int32(c))])
        withExtendedLifetime(idx) {}
    }

    public func sumSquares(_ x: Tensor) -> Double {
        ensureContext()
        let out = block(8)
        must(driver.cuMemsetD32Async(out.pointer, 0, 2, stream), "cuMemsetD32Async")
        launch("sum_squares", grid: (max(1, min((x.count + 255) / 256, 1024)), 1, 1), block: 256,
               [.ptr(ptr(x)), .i64(Int64(x.count)), .ptr(UnsafeRawPointer(out.raw))])
        var v: Double = 0
        must(driver.cuMemcpyDtoHAsync(&v, out.pointer, 8, stream), "cuMemcpyDtoHAsync")
        synchronize()
        return v
    }

    /// Fills an f32, bf16 or q4_0 tensor with uniform values in [−scale, scale] (q4_0: random
    /// 4-bit values under one scale) made on the device: random weights for 8B-sized benchmarks
    /// without generating them on the host.
    public func fillUniform(_ t: Tensor, seed: UInt64, scale: Float) {
        let code: Int32 = t.dtype == .bf16 ? 2 : t.dtype == .q4_0 ? 4 : 0
        guard code != 0 || t.dtype == .f32 else { fail(TensorError.unsupportedDType(op: "fillUniform", dtype: t.dtype)); return }
        let dbits = UInt32(Float16(scale / 8).bitPattern)
        launch("fill_uniform", grid: blocks(code == 4 ? t.count / 32 : t.count), block: 256,
               [.ptr(ptr(t)), .i32(code), .i64(Int64(t.count)), .i64(Int64(bitPattern: seed)), .f32(scale), .i32(Int32(bitPattern: dbits))])
    }

    // MARK: Optimizers

    public func adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, _ h: AdamWStep) {
        launch("adamw_step", grid: blocks(param.count), block: 256,
               [.ptr(ptr(param)), .ptr(ptr(grad)), .ptr(ptr(m)), .ptr(ptr(v)), .i64(Int64(param.count)),
                .f32(h.beta1), .f32(h.beta2), .f32(h.eps), .f32(h.stepSize), .f32(h.bc2Sqrt), .f32(h.decay)])
    }

    public func sgdStep(param: Tensor, grad: Tensor, buffer: Tensor?, lr: Float, momentum: Float, weightDecay: Float, first: Bool) {
        launch("sgd_step", grid: blocks(param.count), block: 256,
               [.ptr(ptr(param)), .ptr(ptr(grad)), .ptr(buffer.map(ptr)), .i64(Int64(param.count)),
                .f32(lr), .f32(momentum), .f32(weightDecay), .i32(first ? 1 : 0)])
    }
}

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

    /// Compiles Finch's kernels for `arch` (e.g. "sm_90") without a device: a check of the source.
    public static func compileKernels(arch: String) throws -> [UInt8] {
        try NVRTC().compile(source: CUDAKernels.source, arch: arch)
    }

    /// The backend for an activated device, if any.
    public static func backend(_ ordinal: Int = 0) -> CUDABackend? { active[ordinal] }

    /// True when a GPU can be used (tries once).
    public static var isAvailable: Bool { (try? activate()) != nil }
}
