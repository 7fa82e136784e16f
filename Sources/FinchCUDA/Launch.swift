import Foundation
import FinchTensor
#if canImport(Glibc)
import Glibc
#endif

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

// Launching kernels, profiling them, and stopping on a device failure.
extension CUDABackend {

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
}
