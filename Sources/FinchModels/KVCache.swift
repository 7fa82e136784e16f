import FinchTensor

/// Keys and values of the tokens seen so far, per layer, for one sequence: (capacity, KVH·D)
/// buffers filled row by row, so each new token attends to the cache without recomputing it.
public final class KVCache {
    public let capacity: Int
    public private(set) var length = 0
    var keys: [Tensor]
    var values: [Tensor]

    public init(config: ModelConfig, capacity: Int, device: Device = .cpu) {
        self.capacity = capacity
        let width = config.numKeyValueHeads * config.headDim
        keys = (0..<config.numHiddenLayers).map { _ in Tensor(uninitialized: [capacity, width], device: device) }
        values = (0..<config.numHiddenLayers).map { _ in Tensor(uninitialized: [capacity, width], device: device) }
    }

    /// Stores `k`, `v` (T, KVH·D) of `layer` at rows length..<length+T and returns views of all rows so far.
    func append(layer: Int, k: Tensor, v: Tensor) throws -> (Tensor, Tensor) {
        let t = k.rows
        guard length + t <= capacity else { throw ModelError.contextOverflow(tokens: length + t, limit: capacity) }
        let kd = try keys[layer].rowSlice(length..<(length + t)), vd = try values[layer].rowSlice(length..<(length + t))
        k.backend.copy(k, into: kd)
        v.backend.copy(v, into: vd)
        return (try keys[layer].rowSlice(0..<(length + t)), try values[layer].rowSlice(0..<(length + t)))
    }

    /// Called once all layers have appended `t` tokens.
    func advance(by t: Int) { length += t }

    /// Drops everything after the first `n` tokens (reuse a shared prompt prefix).
    public func truncate(to n: Int) { length = min(length, max(0, n)) }
}
