import Foundation
import FinchSupport

/// A failure of a device (an allocation that could not be had, a CUDA call that failed), as the
/// trainer and the notebook report it.
public struct DeviceError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        /// No memory for `bytes` more (`inUse` held by tensors); `free`/`total` when the device says.
        case outOfMemory(bytes: Int, inUse: Int, free: Int?, total: Int?)
        /// Any other failure of the device's library (cuBLAS status, a CUDA driver error).
        case failed(String)
    }

    public var device: Device
    public var kind: Kind
    /// The device's context cannot run anything more (CUDA's sticky errors: an illegal address,
    /// a failed launch); its memory is gone with it.
    public var poisoned: Bool
    /// An injected fault (`FaultInjection`), not a real one: the message says so.
    public var injected: Bool

    public init(device: Device, kind: Kind, poisoned: Bool = false, injected: Bool = false) {
        self.device = device; self.kind = kind; self.poisoned = poisoned; self.injected = injected
    }

    public var description: String {
        let memory = device == .cpu ? "host memory" : "memory on \(device)"
        var s: String
        switch kind {
        case let .outOfMemory(bytes, inUse, free, total):
            s = "out of \(memory) allocating \(formatBytes(bytes)) (\(formatBytes(inUse)) in use by tensors"
            if let free, let total { s += ", \(formatBytes(free)) free of \(formatBytes(total))" }
            s += ")"
        case let .failed(message):
            s = "\(device) failed: \(message)"
        }
        if injected { s += " [injected by FINCH_FAULT]" }
        if poisoned { s += "; the device cannot run anything more until Finch restarts" }
        return s
    }

    /// What to change so the work fits.
    public var advice: String {
        switch kind {
        case .outOfMemory: return "lower batch_size or max_seq_length, set gradient_checkpointing=\"on\", or load the model with quantize=\"q4_0\""
        case .failed:
            return poisoned ? "restart finch (after a failed train() the adapter is in host memory: save it first)"
                : "run it again; if it keeps failing, report it with the command and FINCH_PROFILE=1 output"
        }
    }
}

/// The sticky device error. A backend cannot throw through its kernels (they sit below every op,
/// and autograd's backward closures do not throw), so a failed allocation or device call records
/// its error here and carries on harmlessly (see `Backend`); whoever is at an op or step boundary
/// (the trainer, every notebook built-in) takes it and throws. Only the first error is kept: the
/// rest are its consequences. An error belongs to the thread that met it, the one that runs the
/// ops and reaches the boundary (kernels' worker threads never allocate): concurrent work on other
/// threads (another test, another session) is not disturbed. A poisoned CUDA context fails every
/// later call on any thread anyway.
public enum DeviceErrors {
    private final class Box { let error: DeviceError; init(_ e: DeviceError) { error = e } }
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// Whether an error waits to be taken on this thread. Kernels skip their work while one does.
    public static var isPending: Bool { pthread_getspecific(key) != nil }

    public static var pending: DeviceError? {
        guard let p = pthread_getspecific(key) else { return nil }
        return Unmanaged<Box>.fromOpaque(p).takeUnretainedValue().error
    }

    public static func record(_ error: DeviceError) {
        guard pthread_getspecific(key) == nil else { return }
        pthread_setspecific(key, Unmanaged.passRetained(Box(error)).toOpaque())
    }

    /// The pending error, cleared.
    @discardableResult
    public static func take() -> DeviceError? {
        guard let p = pthread_getspecific(key) else { return nil }
        pthread_setspecific(key, nil)
        return Unmanaged<Box>.fromOpaque(p).takeRetainedValue().error
    }

    /// Throws (and clears) the pending error, if any.
    public static func check() throws {
        if let e = take() { throw e }
    }
}

/// Test-only fault injection: fail the Nth allocation (any device) counted from when the fault is
/// armed, or from when the trainer enters a phase of a given step. `arm` (tests) counts the
/// calling thread's allocations; `FINCH_FAULT` arms it for every thread of a process (the REPL
/// tests): `alloc:N`, or `forward:N`, `backward:N`, `optimizer:N`, each
/// optionally `@STEP` (default 1), e.g. `FINCH_FAULT=backward:3@2` fails the third allocation of
/// step 2's backward pass. The failure takes the allocator's real out-of-memory path.
public enum FaultInjection {
    public enum Phase: String, Sendable { case any = "alloc", forward, backward, optimizer }

    public struct Spec: Equatable, Sendable {
        public var phase: Phase
        public var allocation: Int
        public var step: Int
        public init(phase: Phase, allocation: Int, step: Int = 1) {
            self.phase = phase; self.allocation = allocation; self.step = step
        }

        /// `alloc:N`, `forward:N`, `backward:N[@STEP]`, `optimizer:N[@STEP]`; nil when malformed.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let phase = Phase(rawValue: parts[0]) else { return nil }
            let rest = parts[1].split(separator: "@", maxSplits: 1).map(String.init)
            guard let n = Int(rest[0]), n > 0 else { return nil }
            var step = 1
            if rest.count == 2 { guard let s = Int(rest[1]), s > 0 else { return nil }; step = s }
            self.init(phase: phase, allocation: n, step: step)
        }
    }

    private static let lock = NSLock()
    /// `FINCH_FAULT`: every thread's allocations count.
    nonisolated(unsafe) private static var processSpec: Spec? = ProcessInfo.processInfo.environment["FINCH_FAULT"].flatMap(Spec.init)
    nonisolated(unsafe) private static var processCounted = 0
    private static let processArmed = ProcessInfo.processInfo.environment["FINCH_FAULT"] != nil
    /// `arm`: one thread's own fault (tests run side by side in one process).
    private final class Armed { var spec: Spec; var counted = 0; init(_ s: Spec) { spec = s } }
    private static let armedKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    /// Where this thread's trainer is: phase raw index + 4 × step (nil: between phases).
    private static let phaseKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    private static let phases: [Phase] = [.any, .forward, .backward, .optimizer]

    /// Arms `s` for allocations made on the calling thread only.
    public static func arm(_ s: Spec) {
        disarm()
        pthread_setspecific(armedKey, Unmanaged.passRetained(Armed(s)).toOpaque())
    }

    /// Disarms the calling thread's fault.
    public static func disarm() {
        guard let p = pthread_getspecific(armedKey) else { return }
        pthread_setspecific(armedKey, nil)
        Unmanaged<Armed>.fromOpaque(p).release()
    }

    /// The trainer marks where it is (`.any` between phases), for its own thread.
    public static func enter(_ phase: Phase, step: Int) {
        let code = phases.firstIndex(of: phase)! + 4 * max(0, step)
        pthread_setspecific(phaseKey, phase == .any ? nil : UnsafeRawPointer(bitPattern: code))
    }

    /// Called by allocators for each allocation: true for the one to fail (the fault then disarms).
    /// A phase fault counts only allocations made on a thread in that phase of that step.
    public static func shouldFailAllocation() -> Bool {
        if let p = pthread_getspecific(armedKey) {
            let armed = Unmanaged<Armed>.fromOpaque(p).takeUnretainedValue()
            guard inPhase(armed.spec) else { return false }
            armed.counted += 1
            guard armed.counted == armed.spec.allocation else { return false }
            disarm()
            return true
        }
        guard processArmed else { return false }  // the usual case: no lock per allocation
        lock.lock(); defer { lock.unlock() }
        guard let s = processSpec, inPhase(s) else { return false }
        processCounted += 1
        guard processCounted == s.allocation else { return false }
        processSpec = nil
        return true
    }

    private static func inPhase(_ s: Spec) -> Bool {
        s.phase == .any || Int(bitPattern: pthread_getspecific(phaseKey)) == phases.firstIndex(of: s.phase)! + 4 * s.step
    }
}
