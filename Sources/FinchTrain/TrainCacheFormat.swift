// A memo-cache entry of `train` is a safetensors file (Formats/Safetensors.swift):
//
//   __metadata__   format "finch-train-cache", version "1", wall_seconds, tokens, peak_resident_bytes,
//                  trainable_parameters, stop_reason (TrainStopReason's text), initial_eval_loss (when evaluated)
//   steps.<field>  one value per optimizer step: step, total_steps, tokens (I64); loss, lr, grad_norm,
//                  eval_loss (F32, 0 where has_eval_loss is 0); tokens_per_second, elapsed, eta (F64); has_eval_loss (U8)
//   evals.step     I64 [k], evals.loss F32 [k]
//   adapter.<name> the trained adapter's tensor `name` (F32, its shape)
//
// Everything here is checked before the caller changes the adapter; anything else (another format, an
// older Finch's entry, a truncated file, other adapter shapes) is `TrainCacheError.unusable`, which the
// memo cache treats as a miss. Only FinchModels' formats and StepMetrics are needed, so the libFuzzer
// harness (fuzz/cache-entry) builds this file alone.
#if canImport(FinchModels)
import FinchModels
#endif

public enum TrainCacheError: Error, Equatable, CustomStringConvertible {
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unusable(path, reason): return "\(path) is not a usable train cache entry (\(reason)); train runs again"
        }
    }
}

/// An entry's contents, checked; the adapter's values stay in the file until they are copied out.
public struct TrainCacheEntry {
    public static let format = "finch-train-cache"
    public static let version = "1"

    public var steps: [StepMetrics] = []
    public var evals: [(step: Int, loss: Float)] = []
    public var initialEvalLoss: Float?
    public var wallSeconds: Double = 0
    public var tokens = 0
    public var peakResidentBytes = 0
    public var trainableParameters = 0
    public var stopReason = ""
    /// The adapter's tensors in the file, in the order they were asked for.
    public var adapter: [SafetensorsTensorInfo] = []

    public init() {}

    public var metadata: [String: String] {
        var m = ["format": Self.format, "version": Self.version, "wall_seconds": "\(wallSeconds)", "tokens": "\(tokens)",
                 "peak_resident_bytes": "\(peakResidentBytes)", "trainable_parameters": "\(trainableParameters)", "stop_reason": stopReason]
        if let e = initialEvalLoss { m["initial_eval_loss"] = "\(e)" }
        return m
    }

    /// The metrics as columns (everything but the adapter), for the writer.
    public func addColumns(to w: inout SafetensorsWriter) throws {
        func add(_ name: String, _ dtype: SafetensorsDType, _ bytes: [UInt8], count: Int) throws {
            try w.add(name: name, dtype: dtype, shape: [count], data: .bytes(bytes))
        }
        let s = steps
        try add("steps.step", .I64, Self.bytes(s.map { Int64($0.step) }), count: s.count)
        try add("steps.total_steps", .I64, Self.bytes(s.map { Int64($0.totalSteps) }), count: s.count)
        try add("steps.tokens", .I64, Self.bytes(s.map { Int64($0.tokens) }), count: s.count)
        try add("steps.loss", .F32, Self.bytes(s.map(\.loss)), count: s.count)
        try add("steps.lr", .F32, Self.bytes(s.map(\.lr)), count: s.count)
        try add("steps.grad_norm", .F32, Self.bytes(s.map(\.gradNorm)), count: s.count)
        try add("steps.eval_loss", .F32, Self.bytes(s.map { $0.evalLoss ?? 0 }), count: s.count)
        try add("steps.has_eval_loss", .U8, s.map { UInt8($0.evalLoss == nil ? 0 : 1) }, count: s.count)
        try add("steps.tokens_per_second", .F64, Self.bytes(s.map(\.tokensPerSecond)), count: s.count)
        try add("steps.elapsed", .F64, Self.bytes(s.map(\.elapsed)), count: s.count)
        try add("steps.eta", .F64, Self.bytes(s.map(\.eta)), count: s.count)
        try add("evals.step", .I64, Self.bytes(evals.map { Int64($0.step) }), count: evals.count)
        try add("evals.loss", .F32, Self.bytes(evals.map(\.loss)), count: evals.count)
    }

    static let columnCount = 13

    /// Reads and checks an entry made for an adapter of these tensors (name, shape).
    public static func parse(_ file: SafetensorsFile, adapter: [(name: String, shape: [Int])]) throws -> TrainCacheEntry {
        func unusable(_ reason: String) -> TrainCacheError { .unusable(path: file.path, reason: reason) }
        guard let m = file.metadata, m["format"] == format else { throw unusable("not a \(format) file") }
        guard m["version"] == version else { throw unusable("written in version \(m["version"] ?? "?") of the format; this Finch reads \(version)") }
        func number<T: LosslessStringConvertible>(_ key: String, _: T.Type) throws -> T {
            guard let text = m[key], let v = T(text) else { throw unusable("metadata \"\(key)\" is missing or not a number") }
            return v
        }
        var e = TrainCacheEntry()
        e.wallSeconds = try number("wall_seconds", Double.self)
        e.tokens = try number("tokens", Int.self)
        e.peakResidentBytes = try number("peak_resident_bytes", Int.self)
        e.trainableParameters = try number("trainable_parameters", Int.self)
        if m["initial_eval_loss"] != nil { e.initialEvalLoss = try number("initial_eval_loss", Float.self) }
        guard let stop = m["stop_reason"] else { throw unusable("metadata \"stop_reason\" is missing") }
        e.stopReason = stop

        func column<T>(_ name: String, _ dtype: SafetensorsDType, _: T.Type) throws -> [T] {
            guard let t = file.tensor(named: name) else { throw unusable("no tensor \(name)") }
            guard t.dtype == dtype, t.shape.count == 1 else { throw unusable("tensor \(name) is \(t.dtype.rawValue) \(t.shape), not a \(dtype.rawValue) column") }
            let bytes = file.data(for: t)
            guard bytes.count == t.shape[0] * MemoryLayout<T>.size else { throw unusable("tensor \(name) does not fit the file") }
            return (0..<t.shape[0]).map { bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
        let step = try column("steps.step", .I64, Int64.self), total = try column("steps.total_steps", .I64, Int64.self)
        let tokens = try column("steps.tokens", .I64, Int64.self), loss = try column("steps.loss", .F32, Float.self)
        let lr = try column("steps.lr", .F32, Float.self), grad = try column("steps.grad_norm", .F32, Float.self)
        let eval = try column("steps.eval_loss", .F32, Float.self), hasEval = try column("steps.has_eval_loss", .U8, UInt8.self)
        let rate = try column("steps.tokens_per_second", .F64, Double.self), elapsed = try column("steps.elapsed", .F64, Double.self)
        let eta = try column("steps.eta", .F64, Double.self)
        let n = step.count
        guard [total, tokens].allSatisfy({ $0.count == n }), [loss, lr, grad, eval].allSatisfy({ $0.count == n }),
              [rate, elapsed, eta].allSatisfy({ $0.count == n }), hasEval.count == n else { throw unusable("the steps.* columns differ in length") }
        guard hasEval.allSatisfy({ $0 <= 1 }) else { throw unusable("steps.has_eval_loss holds a value other than 0 and 1") }
        e.steps = (0..<n).map { i in
            StepMetrics(step: Int(step[i]), totalSteps: Int(total[i]), loss: loss[i], lr: lr[i], gradNorm: grad[i], tokens: Int(tokens[i]),
                        tokensPerSecond: rate[i], elapsed: elapsed[i], eta: eta[i], evalLoss: hasEval[i] == 1 ? eval[i] : nil)
        }
        let evalStep = try column("evals.step", .I64, Int64.self), evalLoss = try column("evals.loss", .F32, Float.self)
        guard evalStep.count == evalLoss.count else { throw unusable("evals.step and evals.loss differ in length") }
        e.evals = zip(evalStep, evalLoss).map { (step: Int($0), loss: $1) }

        guard file.tensors.count == columnCount + adapter.count else {
            throw unusable("it holds \(file.tensors.count - columnCount) adapter tensors, the model has \(adapter.count)")
        }
        e.adapter = try adapter.map { name, shape in
            guard let t = file.tensor(named: "adapter." + name) else { throw unusable("no tensor adapter.\(name): made for another adapter") }
            guard t.dtype == .F32, t.shape == shape else { throw unusable("adapter.\(name) is \(t.dtype.rawValue) \(t.shape), the model's is F32 \(shape)") }
            return t
        }
        return e
    }

    /// Little-endian bytes of fixed-width numbers.
    static func bytes<T>(_ values: [T]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }
}
