import FinchModels
import FinchTensor

/// A finished training run stored for the notebook's memo cache: its metrics and the trained adapter,
/// as a safetensors file (layout in TrainCacheFormat.swift) written through `SafetensorsWriter`.
public enum TrainCache {
    public typealias Adapter = [(name: String, tensor: Tensor)]

    public static func write(_ r: TrainResult, adapter: Adapter, to path: String) throws {
        var e = TrainCacheEntry()
        e.steps = r.steps
        e.evals = r.evals
        e.initialEvalLoss = r.initialEvalLoss
        e.wallSeconds = r.wallSeconds
        e.tokens = r.tokens
        e.peakResidentBytes = r.peakResidentBytes
        e.trainableParameters = r.trainableParameters
        e.stopReason = r.stopReason.description
        var w = SafetensorsWriter(metadata: e.metadata)
        try e.addColumns(to: &w)
        for (name, t) in adapter {
            // copied from the device one tensor at a time, as the writer reaches it
            try w.add(name: "adapter." + name, dtype: .F32, shape: t.shape, data: .producer { out in
                t.toArray().withUnsafeBytes { out.copyMemory(from: $0) }
            })
        }
        try w.write(to: path)
    }

    /// The run stored at `path`, its adapter values copied into `adapter`. Everything is read and
    /// checked first: an entry that is not usable throws `TrainCacheError.unusable` and leaves the
    /// adapter as it was.
    public static func read(from path: String, into adapter: Adapter) throws -> TrainResult {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw TrainCacheError.unusable(path: path, reason: "\(error)") }
        let e = try TrainCacheEntry.parse(file, adapter: adapter.map { (name: $0.name, shape: $0.tensor.shape) })
        guard let stop = TrainStopReason(description: e.stopReason) else {
            throw TrainCacheError.unusable(path: path, reason: "unknown stop reason \"\(e.stopReason)\"")
        }
        let r = TrainResult()
        r.steps = e.steps
        r.evals = e.evals
        r.initialEvalLoss = e.initialEvalLoss
        r.wallSeconds = e.wallSeconds
        r.tokens = e.tokens
        r.peakResidentBytes = e.peakResidentBytes
        r.trainableParameters = e.trainableParameters
        r.stopReason = stop
        for ((_, t), info) in zip(adapter, e.adapter) {
            let bytes = file.data(for: info)
            try t.assign((0..<t.count).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) })
        }
        try DeviceErrors.check()
        return r
    }
}
