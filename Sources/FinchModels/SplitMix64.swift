// The one random number generator of Finch's own: LoRA initialisation, sampling, data order,
// dropout seeds and the synthetic benchmark/check models all draw from it, so a seed means the
// same numbers on every platform.

/// SplitMix64: small, fast, reproducible across platforms (seeded initialisation and sampling).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
    public mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
