import Foundation
import FinchTensor

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

/// A caching allocator: freed blocks are kept by size class (`SizeClassCache`, shared with the CPU
/// `BufferPool`) and handed out again, so a training step reaches a steady state with no
/// cuMemAlloc. One stream orders all work, so a block freed on the host can be reused by the next
/// kernel at once. When the device is full the cache is released and the allocation tried once more.
final class DeviceAllocator {
    let driver: Driver
    private var cache = SizeClassCache<CUdeviceptr>()
    private let lock = NSLock()
    var bytesInUse: Int { lock.lock(); defer { lock.unlock() }; return cache.bytesInUse }
    var peakBytesInUse: Int { lock.lock(); defer { lock.unlock() }; return cache.peakBytesInUse }
    var cachedBytes: Int { lock.lock(); defer { lock.unlock() }; return cache.cachedBytes }

    init(driver: Driver) { self.driver = driver }

    func take(_ bytes: Int) throws -> DeviceBlock {
        let size = max(256, SizeClassCache<CUdeviceptr>.sizeClass(bytes))
        if FaultInjection.shouldFailAllocation() { throw InjectedOutOfMemory(requested: size) }
        lock.lock()
        if let p = cache.take(size) {
            lock.unlock()
            return DeviceBlock(pointer: p, size: size, allocator: self)
        }
        lock.unlock()
        var p: CUdeviceptr = 0
        if driver.cuMemAlloc(&p, size) != 0 {
            releaseCache()
            let r = driver.cuMemAlloc(&p, size)
            if r != 0 {
                lock.lock(); cache.forget(size); lock.unlock()
                var f = 0, t = 0
                _ = driver.cuMemGetInfo(&f, &t)
                throw CUDAError.outOfMemory(requested: size, free: f, total: t)
            }
        }
        return DeviceBlock(pointer: p, size: size, allocator: self)
    }

    func give(_ block: DeviceBlock) {
        lock.lock()
        _ = cache.give(block.pointer, block.size)  // no cap: device memory is released only when full
        lock.unlock()
    }

    func releaseCache() {
        lock.lock()
        let all = cache.drain()
        lock.unlock()
        for p in all { _ = driver.cuMemFree(p) }
    }

    func resetPeak() { lock.lock(); cache.resetPeak(); lock.unlock() }
}

/// A failure `FaultInjection` asked for, taking the out-of-memory path.
struct InjectedOutOfMemory: Error { let requested: Int }
