import Foundation

// Sizes, durations and counts for people: the one way every target prints them (model summaries,
// memory estimates, out-of-memory errors, download and training progress, cell timings).

/// Bytes in binary units with three significant digits: "512 B", "4.50 KiB", "92.3 MiB", "513 MiB", "1.68 GiB".
public func formatBytes(_ n: Int64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
    guard abs(n) >= 1024 else { return "\(n) B" }
    var v = Double(n) / 1024, i = 0
    // 1023.6 KiB would print as "1024 KiB": move up a unit before rounding does
    while abs(v) >= 1023.5 && i < units.count - 1 { v /= 1024; i += 1 }
    // the precision follows the rounded value ("%.2f" of 9.999 prints "10.00")
    let digits = abs(v) >= 99.95 ? 0 : abs(v) >= 9.995 ? 1 : 2
    return String(format: "%.\(digits)f %@", v, units[i])
}

public func formatBytes(_ n: Int) -> String { formatBytes(Int64(n)) }

/// Elapsed times and ETAs: "340 ms", "4.2 s", "2m05s", "1h02m"; "—" when unknown (infinite, NaN, negative).
public func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0, s < 1e12 else { return "—" }
    if s < 0.9995 { return String(format: "%.0f ms", s * 1000) }
    if s < 59.95 { return String(format: "%.1f s", s) }
    let t = Int(s.rounded())
    if t < 3600 { return "\(t / 60)m" + String(format: "%02ds", t % 60) }
    return "\(t / 3600)h" + String(format: "%02dm", t / 60 % 60)
}

/// Counts: "512", "32.8K", "134.5M", "1.24B".
public func formatCount(_ n: Int) -> String {
    let d = Double(n)
    if abs(d) >= 1e9 { return String(format: "%.2fB", d / 1e9) }
    if abs(d) >= 1e6 { return String(format: "%.1fM", d / 1e6) }
    if abs(d) >= 1e3 { return String(format: "%.1fK", d / 1e3) }
    return String(n)
}
