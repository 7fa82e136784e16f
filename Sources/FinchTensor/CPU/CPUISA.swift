import CFinchKernels

/// The instruction-set level of the CPU kernels (one table in CFinchKernels/isa.c): `FINCH_ISA=avx512|avx2|scalar`
/// picks it (capped at what the CPU runs); every kernel with vector variants follows it.
public enum CPUISA: Int, CaseIterable, Sendable, CustomStringConvertible {
    case scalar = 0, avx2 = 1, avx512 = 2

    /// The level in use.
    public static var active: CPUISA { CPUISA(rawValue: Int(finch_isa_active())) ?? .scalar }
    /// The best level this CPU runs.
    public static var supported: CPUISA { CPUISA(rawValue: Int(finch_isa_supported())) ?? .scalar }
    /// Every level this CPU runs, lowest first (tests run each against the scalar reference).
    public static var runnable: [CPUISA] { allCases.filter { $0.rawValue <= supported.rawValue } }

    /// Switches every kernel to `level` (capped at `supported`) and returns the level now active.
    @discardableResult
    public static func set(_ level: CPUISA) -> CPUISA { CPUISA(rawValue: Int(finch_isa_set(Int32(level.rawValue)))) ?? .scalar }

    /// Runs `body` with this thread's kernels at `level` (capped at `supported`), then restores the thread's
    /// level; other threads (and parallel loops on them) keep theirs, so tests can run side by side. The
    /// one-call decoder's workers follow the thread that starts each token.
    public static func with<T>(_ level: CPUISA, _ body: () throws -> T) rethrows -> T {
        finch_isa_set_thread(Int32(level.rawValue))
        defer { finch_isa_set_thread(-1) }
        return try body()
    }

    public var description: String { String(cString: finch_isa_name(Int32(rawValue))) }
}
