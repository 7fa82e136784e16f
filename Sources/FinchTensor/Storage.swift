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

/// Reuses freed buffers by exact size. Also counts bytes in use and their peak, which the trainer
/// reports as the engine's peak memory.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var freeBytes = 0
    /// Stand-ins handed out after a failed allocation (mmap'ed, returned with munmap).
    private var reserved: [UnsafeMutableRawPointer: Int] = [:]
    private let lock = NSLock()
    public private(set) var bytesInUse = 0
    public private(set) var peakBytesInUse = 0
    /// How many buffers came from the system (not from the free lists).
    public private(set) var systemAllocations = 0
    /// Freed bytes kept for reuse beyond this are returned to the system, unless the pool then holds
    /// no more than the most it ever had in use (`highWater`).
    public var maxFreeBytes = 1 << 30
    /// The most bytes ever in use at once (never reset). A training step frees all its activations
    /// at the end of the backward and takes them again in the next forward: keeping them up to this
    /// mark means a steady-state step gets no fresh pages from the kernel (every 4 KiB page of a
    /// fresh buffer is a page fault that zeroes it) while the pool never holds more than the process
    /// already needed at its peak.
    public private(set) var highWater = 0

    /// Sizes are rounded up to classes (4 per power of two, at most 19% waste) so that batches of
    /// varying length reuse each other's buffers.
    @inline(__always)
    public static func sizeClass(_ bytes: Int) -> Int {
        let n = max(bytes, 64)
        let shift = (Int.bitWidth - (n - 1).leadingZeroBitCount) - 3  // quarter-steps of the power of two
        guard shift > 0 else { return (n + 63) & ~63 }
        let step = 1 << shift
        return (n + step - 1) & ~(step - 1)
    }

    public func take(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = BufferPool.sizeClass(bytes)
        let injected = FaultInjection.shouldFailAllocation()
        lock.lock()
        bytesInUse += size
        peakBytesInUse = max(peakBytesInUse, bytesInUse)
        highWater = max(highWater, bytesInUse)
        if !injected, var list = free[size], let p = list.popLast() {
            free[size] = list
            freeBytes -= size
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
        let inUse = bytesInUse - size
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
        bytesInUse -= size
        if let mapped = reserved.removeValue(forKey: p) {
            lock.unlock()
            munmap(p, mapped)
            return
        }
        if freeBytes + size <= maxFreeBytes || bytesInUse + freeBytes + size <= highWater {
            free[size, default: []].append(p)
            freeBytes += size
            lock.unlock()
        } else {
            lock.unlock()
            Foundation.free(p)
        }
    }

    /// Returns every cached free buffer to the system.
    public func trim() {
        lock.lock()
        let lists = free
        free = [:]
        freeBytes = 0
        lock.unlock()
        for (_, list) in lists { for p in list { Foundation.free(p) } }
    }

    public func resetPeak() {
        lock.lock(); peakBytesInUse = bytesInUse; lock.unlock()
    }
}
