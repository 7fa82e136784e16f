import Foundation
import CFinchKernels
import FinchTensor
#if canImport(Glibc)
import Glibc
#endif

// NCCL, opened at run time like libcuda (no NCCL at build time): the few entry points data
// parallelism needs. NCCL reads its own NCCL_* environment (NCCL_DEBUG, NCCL_SOCKET_IFNAME,
// NCCL_IB_*, …); Finch only turns NVLink multicast (NVLS) off unless the user chose otherwise,
// because it needs fabric-manager support some lent machines lack and a plain all-reduce of
// LoRA gradients gains nothing from it.
//
// NOT YET RUN ON A GPU: this file is compile-checked only (see README "Several GPUs").

typealias NCCLResult = Int32

/// libnccl.so.2.
final class NCCLLibrary {
    static let float32: Int32 = 7, float64: Int32 = 8  // ncclDataType_t
    static let sum: Int32 = 0                            // ncclRedOp_t

    let lib: DynamicLibrary
    let getUniqueId: @convention(c) (UnsafeMutablePointer<finch_nccl_unique_id>) -> NCCLResult
    let commInitRank: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32, finch_nccl_unique_id, Int32) -> NCCLResult
    let commInitAll: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32, UnsafePointer<Int32>) -> NCCLResult
    let allReduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int, Int32, Int32, OpaquePointer?, OpaquePointer?) -> NCCLResult
    let commDestroy: @convention(c) (OpaquePointer?) -> NCCLResult
    let commAbort: @convention(c) (OpaquePointer?) -> NCCLResult
    let getErrorString: @convention(c) (NCCLResult) -> UnsafePointer<CChar>?
    let groupStart: @convention(c) () -> NCCLResult
    let groupEnd: @convention(c) () -> NCCLResult
    let getVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> NCCLResult

    nonisolated(unsafe) private static var loaded: NCCLLibrary?
    private static let lock = NSLock()

    /// The library, loaded once per process (after setting NCCL_NVLS_ENABLE=0 unless it is set).
    static func shared() throws -> NCCLLibrary {
        lock.lock()
        defer { lock.unlock() }
        if let loaded { return loaded }
        NCCLLibrary.applyEnvironmentDefaults()
        let l = try NCCLLibrary()
        loaded = l
        return l
    }

    /// NCCL_NVLS_ENABLE=0 unless the user set it (setenv without overwrite); every other NCCL_*
    /// variable is NCCL's to read.
    static func applyEnvironmentDefaults() {
        setenv("NCCL_NVLS_ENABLE", "0", 0)
    }

    private init() throws {
        lib = try DynamicLibrary(candidates: ["libnccl.so.2", "libnccl.so"])  // pip's wheels too: see DynamicLibrary
        getUniqueId = try lib.symbol("ncclGetUniqueId")
        commInitRank = try lib.symbol("ncclCommInitRank")
        commInitAll = try lib.symbol("ncclCommInitAll")
        allReduce = try lib.symbol("ncclAllReduce")
        commDestroy = try lib.symbol("ncclCommDestroy")
        commAbort = try lib.symbol("ncclCommAbort")
        getErrorString = try lib.symbol("ncclGetErrorString")
        groupStart = try lib.symbol("ncclGroupStart")
        groupEnd = try lib.symbol("ncclGroupEnd")
        getVersion = try lib.symbol("ncclGetVersion")
    }

    func check(_ r: NCCLResult, _ call: String) throws {
        guard r != 0 else { return }
        let message = getErrorString(r).map { String(cString: $0) } ?? "unknown error"
        throw DataParallelError.nccl(call: call, code: r, message: message)
    }

    var version: Int {
        var v: Int32 = 0
        _ = getVersion(&v)
        return Int(v)
    }

    /// A fresh unique id (rank 0 of a multi-process launch), as bytes for the bootstrap.
    func uniqueId() throws -> [UInt8] {
        var id = finch_nccl_unique_id()
        try check(getUniqueId(&id), "ncclGetUniqueId")
        return withUnsafeBytes(of: &id) { Array($0) }
    }
}

/// The communicators of one data-parallel run, kept together so that a failure aborts them all.
final class NCCLClique: @unchecked Sendable {
    let nccl: NCCLLibrary
    var comms: [OpaquePointer?]
    private let lock = NSLock()
    private(set) var abortReason: String?

    init(nccl: NCCLLibrary, comms: [OpaquePointer?]) {
        self.nccl = nccl
        self.comms = comms
    }

    /// Aborts every communicator of this process (ncclCommAbort also ends operations in flight).
    func abort(_ reason: String) {
        lock.lock()
        defer { lock.unlock() }
        guard abortReason == nil else { return }
        abortReason = reason
        for c in comms where c != nil { _ = nccl.commAbort(c) }
    }

    deinit {
        if abortReason == nil { for c in comms where c != nil { _ = nccl.commDestroy(c) } }
    }
}

/// Sums LoRA gradients over GPUs with ncclAllReduce, in place, on the rank's CUDA stream (so it
/// is ordered after the backward and before the optimizer step without a host synchronisation).
public final class NCCLReducer: GradientReducer {
    public let rank: Int
    public let worldSize: Int
    let clique: NCCLClique
    let index: Int
    let backend: CUDABackend
    /// A small device buffer for the counts and loss sums (f64).
    private var scalars: CUdeviceptr = 0
    private let scalarCapacity = 64

    init(rank: Int, worldSize: Int, clique: NCCLClique, index: Int, backend: CUDABackend) {
        self.rank = rank
        self.worldSize = worldSize
        self.clique = clique
        self.index = index
        self.backend = backend
    }

    deinit { if scalars != 0 { _ = backend.driver.cuMemFree(scalars) } }

    var comm: OpaquePointer? { clique.comms[index] }

    func checkAborted() throws {
        if let r = clique.abortReason { throw DataParallelError.aborted(rank: rank, reason: r) }
    }

    public func allReduceSum(_ tensors: [Tensor]) throws {
        try checkAborted()
        try DeviceErrors.check()
        backend.ensureContext()
        let nccl = clique.nccl
        try nccl.check(nccl.groupStart(), "ncclGroupStart")
        for t in tensors {
            guard t.dtype == .f32, t.device == backend.device else {
                _ = nccl.groupEnd()
                throw DataParallelError.invalidLaunch("NCCL all-reduce of a \(t.dtype) tensor on \(t.device) (expected f32 on \(backend.device))")
            }
            let r = nccl.allReduce(UnsafeRawPointer(t.rawBytes), t.rawBytes, t.count, NCCLLibrary.float32, NCCLLibrary.sum, comm, backend.stream)
            if r != 0 { _ = nccl.groupEnd(); try nccl.check(r, "ncclAllReduce") }
        }
        try nccl.check(nccl.groupEnd(), "ncclGroupEnd")
    }

    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        try checkAborted()
        try DeviceErrors.check()
        guard values.count <= scalarCapacity else {
            throw DataParallelError.invalidLaunch("NCCL all-reduce of \(values.count) numbers (at most \(scalarCapacity))")
        }
        backend.ensureContext()
        let driver = backend.driver, stream = backend.stream
        if scalars == 0 { try driver.check(driver.cuMemAlloc(&scalars, scalarCapacity * 8), "cuMemAlloc") }
        var out = values
        let bytes = values.count * 8
        try values.withUnsafeBytes { try driver.check(driver.cuMemcpyHtoDAsync(scalars, $0.baseAddress!, bytes, stream), "cuMemcpyHtoDAsync") }
        let p = UnsafeMutableRawPointer(bitPattern: UInt(scalars))
        try clique.nccl.check(clique.nccl.allReduce(UnsafeRawPointer(p), p, values.count, NCCLLibrary.float64, NCCLLibrary.sum, comm, stream), "ncclAllReduce")
        try out.withUnsafeMutableBytes { try driver.check(driver.cuMemcpyDtoHAsync($0.baseAddress!, scalars, bytes, stream), "cuMemcpyDtoHAsync") }
        try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        try checkAborted()
        return out
    }

    public func abort(_ reason: String) { clique.abort(reason) }
}

/// Making communicators.
public enum NCCL {
    /// Whether libnccl can be loaded here (says nothing about GPUs).
    public static var isAvailable: Bool { (try? NCCLLibrary.shared()) != nil }

    /// NCCL's version as an integer (e.g. 22703 for 2.27.3).
    public static func version() throws -> Int { try NCCLLibrary.shared().version }

    /// The GPUs the driver sees (after CUDA_VISIBLE_DEVICES); throws why when there is no driver.
    public static func visibleGPUCount() throws -> Int {
        let driver = try Driver()
        try driver.check(driver.cuInit(0), "cuInit")
        var count: Int32 = 0
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        return Int(count)
    }

    /// One process, a thread per GPU: activates each device and makes one communicator per device
    /// (ncclCommInitAll); reducer i belongs to `devices[i]` and is rank i.
    public static func reducers(devices: [Int]) throws -> [GradientReducer] {
        guard !devices.isEmpty, Set(devices).count == devices.count else {
            throw DataParallelError.invalidLaunch("devices must be distinct GPU numbers, got \(devices)")
        }
        let backends = try devices.map { try CUDA.activate(ordinal: $0) }
        let nccl = try NCCLLibrary.shared()
        var comms = [OpaquePointer?](repeating: nil, count: devices.count)
        let list = devices.map(Int32.init)
        try nccl.check(comms.withUnsafeMutableBufferPointer { c in list.withUnsafeBufferPointer { nccl.commInitAll(c.baseAddress!, Int32(devices.count), $0.baseAddress!) } },
                       "ncclCommInitAll")
        let clique = NCCLClique(nccl: nccl, comms: comms)
        return backends.enumerated().map { i, b in NCCLReducer(rank: i, worldSize: devices.count, clique: clique, index: i, backend: b) }
    }

    /// One process of a torchrun/SLURM launch: activates cuda:localRank, exchanges the unique id
    /// through rank 0 (MASTER_ADDR:MASTER_PORT) and joins the communicator (ncclCommInitRank).
    public static func reducer(launch: LaunchConfig, timeout: Double = 300) throws -> GradientReducer {
        let backend = try CUDA.activate(ordinal: launch.localRank)
        let nccl = try NCCLLibrary.shared()
        let bytes = try UniqueIdBootstrap.exchange(id: launch.rank == 0 ? try nccl.uniqueId() : nil, config: launch, timeout: timeout)
        var id = finch_nccl_unique_id()
        withUnsafeMutableBytes(of: &id) { $0.copyBytes(from: bytes.prefix(UniqueIdBootstrap.idBytes)) }
        backend.ensureContext()  // ncclCommInitRank joins on the calling thread's current device
        var comm: OpaquePointer?
        try nccl.check(nccl.commInitRank(&comm, Int32(launch.worldSize), id, Int32(launch.rank)), "ncclCommInitRank")
        return NCCLReducer(rank: launch.rank, worldSize: launch.worldSize, clique: NCCLClique(nccl: nccl, comms: [comm]), index: 0, backend: backend)
    }
}
