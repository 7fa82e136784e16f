import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A flag a Ctrl-C sets and the interpreter polls. Sessions share `Interrupt.shared`; tests can give an
/// interpreter its own so they do not disturb each other.
public final class InterruptFlag: @unchecked Sendable {
    let flag = Atomic<Bool>(false)
    /// Written to `acknowledgementFD` the moment a request arrives, while armed (see `acknowledge`).
    let acknowledgement = Atomic<UnsafeMutablePointer<CChar>?>(nil)
    /// Standard error, or a pipe in tests.
    public var acknowledgementFD: Int32 = 2
    public init() {}
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
    /// Sets the flag; returns whether it was already set. The first request writes the armed
    /// acknowledgement at once. Async-signal-safe (the SIGINT handler calls it): an atomic and write(2).
    @discardableResult
    public func request() -> Bool {
        let already = flag.exchange(true, ordering: .relaxed)
        if !already, let message = acknowledgement.load(ordering: .acquiring) {
            _ = write(acknowledgementFD, message, strlen(message))
        }
        return already
    }
    public func clear() { flag.store(false, ordering: .relaxed) }

    /// While `body` runs, a Ctrl-C is acknowledged at once with `message` (e.g. "stopping after this
    /// step…") although the work only notices the flag later.
    public func acknowledge<T>(_ message: String, during body: () throws -> T) rethrows -> T {
        let previous = acknowledgement.exchange(InterruptFlag.cString(message), ordering: .acquiringAndReleasing)
        defer { acknowledgement.store(previous, ordering: .releasing) }
        return try body()
    }

    /// Messages as C strings that are never freed: a signal handler may still be reading one.
    nonisolated(unsafe) static var messages: [String: UnsafeMutablePointer<CChar>] = [:]
    static let messagesLock = Mutex<Void>(())
    static func cString(_ message: String) -> UnsafeMutablePointer<CChar> {
        messagesLock.withLock { _ in
            if let p = messages[message] { return p }
            let p = strdup(message)!
            messages[message] = p
            return p
        }
    }
    /// Throws `Interrupted` when requested, clearing the flag.
    public func check() throws {
        if flag.load(ordering: .relaxed) {
            clear()
            throw Interrupted()
        }
    }
}

/// Ctrl-C. A SIGINT handler only sets an atomic flag; the interpreter checks it in loops and calls,
/// and long-running built-ins (generation, training) poll `Interrupt.isRequested` between steps
/// (or `ctx.interruptFlag.check()`, which throws `Interrupted`).
public enum Interrupt {
    public static let shared = InterruptFlag()
    nonisolated(unsafe) static var installed = false

    public static var isRequested: Bool { shared.isRequested }
    public static func request() { shared.request() }
    public static func clear() { shared.clear() }
    public static func check() throws { try shared.check() }

    /// Installs the SIGINT handler (idempotent). Without SA_RESTART so a blocking read returns EINTR.
    public static func install() {
        if installed { return }
        installed = true
        _ = shared.isRequested  // initialise the global before a signal can touch it
        var action = sigaction()
        // A second Ctrl-C before the first was noticed (a built-in stuck in C code) ends the process the
        // default way. Only async-signal-safe calls here.
        let handler: @convention(c) (Int32) -> Void = { sig in
            if Interrupt.shared.request() {
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        // A parent that spawned us from a thread with SIGINT blocked (libdispatch workers block signals)
        // leaves them blocked in us; Ctrl-C and termination must get through.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
