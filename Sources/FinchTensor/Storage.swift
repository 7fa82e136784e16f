import Foundation

/// Where a tensor's bytes live. Owned buffers come from `BufferPool` and go back to it when the
/// storage dies, so a training loop that makes the same shapes each step reaches a steady state
/// with no new allocations. Borrowed storage (a memory-mapped weight file) keeps its owner alive.
public final class TensorStorage: @unchecked Sendable {
    public let dtype: DType
    public let byteCount: Int
    public let raw: UnsafeMutableRawPointer
    public let device: Device
    private let owner: AnyObject?
    private let pooled: Bool

    /// A pooled buffer of `byteCount` bytes (contents undefined).
    public init(pooledBytes byteCount: Int, dtype: DType = .f32, device: Device = .cpu) {
        self.dtype = dtype
        self.byteCount = byteCount
        self.raw = BufferPool.shared.take(byteCount)
        self.device = device
        self.owner = nil
        self.pooled = true
    }

    /// Storage over memory someone else owns (e.g. a memory-mapped file); `owner` is retained.
    public init(borrowing raw: UnsafeRawPointer, byteCount: Int, dtype: DType, owner: AnyObject?, device: Device = .cpu) {
        self.dtype = dtype
        self.byteCount = byteCount
        self.raw = UnsafeMutableRawPointer(mutating: raw)
        self.device = device
        self.owner = owner
        self.pooled = false
    }

    deinit {
        if pooled { BufferPool.shared.give(raw, byteCount) }
    }
}

/// Reuses freed buffers by size class (`SizeClassCache`, shared with the CUDA allocator). Also counts
/// bytes in use and their peak, which the trainer reports as the engine's peak memory.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Freed bytes kept for reuse beyond 1 GiB are returned to the system, unless the pool holds less
    /// than twice its peak in use (see `SizeClassCache.highWater`).
    private var cache = SizeClassCache<UnsafeMutableRawPointer>(maxCachedBytes: 1 << 30, keepsUpToHighWater: true)
    /// Stand-ins handed out after a failed allocation (mmap'ed, returned with munmap).
    private var reserved: [UnsafeMutableRawPointer: Int] = [:]
    private let lock = NSLock()
    public var bytesInUse: Int { lock.lock(); defer { lock.unlock() }; return cache.bytesInUse }
    public var peakBytesInUse: Int { lock.lock(); defer { lock.unlock() }; return cache.peakBytesInUse }
    /// How many buffers came from the system (not from the free lists).
    public private(set) var systemAllocations = 0
    /// Freed bytes kept for reuse beyond this are returned to the system.
    public var maxFreeBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return cache.maxCachedBytes }
        set { lock.lock(); cache.maxCachedBytes = newValue; lock.unlock() }
    }
    /// The most bytes ever in use at once (never reset); see `SizeClassCache.highWater`.
    public var highWater: Int {
        lock.lock(); defer { lock.unlock() }; return cache.highWater
    }

    @inline(__always)
    public static func sizeClass(_ bytes: Int) -> Int { SizeClassCache<UnsafeMutableRawPointer>.sizeClass(bytes) }

    public func take(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = BufferPool.sizeClass(bytes)
        let injected = FaultInjection.shouldFailAllocation()
        lock.lock()
        if let p = cache.take(size, reuse: !injected) {
            lock.unlock()
            return p
        }
        systemAllocations += 1
        lock.unlock()
        var p: UnsafeMutableRawPointer?
        if !injected {
            // 64-byte alignment: cache lines and the widest SIMD loads.
            if posix_memalign(&p, 64, size) == 0, let ptr = p { return ptr }
            // Out of memory: hand the cached free buffers back and try once more.
            trim()
            if posix_memalign(&p, 64, size) == 0, let ptr = p { return ptr }
        }
        // Tensor allocation cannot throw through every op: record the sticky error (the trainer and
        // the notebook throw it at the next boundary) and hand out address space that is only
        // backed when written, which the kernels, skipping their work while an error is pending,
        // mostly do not.
        lock.lock()
        let inUse = cache.bytesInUse - size
        lock.unlock()
        DeviceErrors.record(DeviceError(device: .cpu, kind: .outOfMemory(bytes: size, inUse: inUse, free: nil, total: nil), injected: injected))
        let m = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if let m, m != MAP_FAILED {
            lock.lock(); reserved[m] = size; lock.unlock()
            return m
        }
        // Not even address space (a ulimit -v): nothing can be handed out that a kernel may write.
        FileHandle.standardError.write(Data("finch: \(DeviceErrors.pending?.description ?? "out of host memory"), and no address space is left either. \(DeviceErrors.pending?.advice ?? "")\n".utf8))
        exit(70)
    }

    public func give(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        let size = BufferPool.sizeClass(bytes)
        lock.lock()
        if let mapped = reserved.removeValue(forKey: p) {
            cache.forget(size)
            lock.unlock()
            munmap(p, mapped)
            return
        }
        let kept = cache.give(p, size)
        lock.unlock()
        if !kept { Foundation.free(p) }
    }

    /// Returns every cached free buffer to the system.
    public func trim() {
        lock.lock()
        let all = cache.drain()
        lock.unlock()
        for p in all { Foundation.free(p) }
    }

    public func resetPeak() {
        lock.lock(); cache.resetPeak(); lock.unlock()
    }
}
