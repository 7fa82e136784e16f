// FinchTrain's StepMetrics (Trainer.swift), field for field, so the harness builds without the engine.
public struct StepMetrics: Sendable, Codable {
    public var step: Int
    public var totalSteps: Int
    public var loss: Float
    public var lr: Float
    public var gradNorm: Float
    public var tokens: Int
    public var tokensPerSecond: Double
    public var elapsed: Double
    public var eta: Double
    public var evalLoss: Float?
}
