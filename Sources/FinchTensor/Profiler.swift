import Foundation

/// Opt-in time per kernel (`FINCH_PROFILE=1`): where a training step spends its time.
public enum Profiler {
    public static let enabled = ProcessInfo.processInfo.environment["FINCH_PROFILE"] != nil
    nonisolated(unsafe) static var totals: [String: (seconds: Double, calls: Int)] = [:]
    static let lock = NSLock()

    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer {
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let key = name()
            lock.lock()
            let old = totals[key] ?? (0, 0)
            totals[key] = (old.seconds + dt, old.calls + 1)
            lock.unlock()
        }
        return try body()
    }

    public static func report() -> String {
        lock.lock(); defer { lock.unlock() }
        let total = totals.values.reduce(0) { $0 + $1.seconds }
        return totals.sorted { $0.value.seconds > $1.value.seconds }.map {
            String(format: "%-28@ %8.3f s %5.1f %% %8d calls", $0.key as NSString, $0.value.seconds, 100 * $0.value.seconds / max(total, 1e-9), $0.value.calls)
        }.joined(separator: "\n")
    }

    public static func reset() { lock.lock(); totals = [:]; lock.unlock() }
}
