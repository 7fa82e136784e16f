// The one FinchTensor type ModelConfig.swift needs, so the harness builds without the tensor library.
public final class RopeTable {
    public enum Scaling: Equatable, Sendable {
        case none
        case linear(factor: Float)
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
        case frequencyFactors([Float])
    }
}
