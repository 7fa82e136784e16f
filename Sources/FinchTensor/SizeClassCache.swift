/// The size-class cache both allocators share (the CPU `BufferPool` and the CUDA `DeviceAllocator`):
/// freed blocks kept in lists by size class and handed out again, with the bytes in use, their peak
/// and the cached bytes counted. It does no locking and no system calls: its owner holds the lock and
/// allocates or frees the memory (posix_memalign/free, cuMemAlloc/cuMemFree), so `Address` is a host
/// pointer for one and a device address for the other.
public struct SizeClassCache<Address> {
    @usableFromInline var free: [Int: [Address]] = [:]
    public private(set) var bytesInUse = 0
    public private(set) var peakBytesInUse = 0
    public private(set) var cachedBytes = 0
    /// The most bytes ever in use at once (never reset). A training step frees all its activations
    /// at the end of the backward and takes them again in the next forward: keeping freed blocks
    /// past `maxCachedBytes` means a steady-state step gets no fresh pages from the system (each
    /// fresh 4 KiB host page is a fault that zeroes it). A block serves only its own class, so a
    /// step needs each class's own peak, more in all than this mark (the adapter's gradients and the
    /// optimizer's snapshot are taken after the activations went back to the cache): the pool may
    /// hold, in use and cached, up to twice this mark. Capping it at the mark itself sent 559
    /// buffers a step back to the system in `finch bench train`, taken again (faulting) next step.
    public private(set) var highWater = 0
    /// Whether freed blocks are kept past `maxCachedBytes` up to twice `highWater` held in all (the
    /// host pool: fresh pages cost a fault each; device memory has no such cost, so the CUDA
    /// allocator leaves it off).
    public var keepsUpToHighWater = false
    /// Freed bytes kept beyond this are handed back to the system (`give` returns false).
    public var maxCachedBytes: Int

    public init(maxCachedBytes: Int = .max, keepsUpToHighWater: Bool = false) {
        self.maxCachedBytes = maxCachedBytes
        self.keepsUpToHighWater = keepsUpToHighWater
    }

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

    /// Counts `size` bytes (a size class) as in use and returns a cached block of that class, if
    /// any; nil means the owner allocates one (and calls `forget` if that fails).
    public mutating func take(_ size: Int, reuse: Bool = true) -> Address? {
        bytesInUse += size
        peakBytesInUse = max(peakBytesInUse, bytesInUse)
        highWater = max(highWater, bytesInUse)
        // Popped in place: a copy of the list (as `var list = free[size]` made) costs O(blocks) a take.
        guard reuse, let a = free[size]?.popLast() else { return nil }
        cachedBytes -= size
        return a
    }

    /// A block is no longer in use. Returns false when the cache is full: the owner frees it.
    public mutating func give(_ a: Address, _ size: Int) -> Bool {
        bytesInUse -= size
        guard cachedBytes + size <= maxCachedBytes || (keepsUpToHighWater && bytesInUse + cachedBytes + size <= 2 * highWater) else {
            return false
        }
        free[size, default: []].append(a)
        cachedBytes += size
        return true
    }

    /// A block counted by `take` that never comes back to the cache (its allocation failed, or it
    /// is a stand-in the owner unmaps): only the count changes.
    public mutating func forget(_ size: Int) { bytesInUse -= size }

    /// Empties the cache; the owner frees what it returns.
    public mutating func drain() -> [Address] {
        let all = free.values.flatMap { $0 }
        free = [:]
        cachedBytes = 0
        return all
    }

    public mutating func resetPeak() { peakBytesInUse = bytesInUse }
}
