import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// The memo-cache entry of `train`: a safetensors file that gives back the run and the adapter, and
/// anything else (an older Finch's format, a truncated or corrupt file, another adapter) is refused
/// as unusable (the memo cache's miss) without touching the adapter.
@Suite struct TrainCacheTests {
    func tempPath() throws -> String {
        let dir = NSTemporaryDirectory() + "finch-traincache-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/entry.bin"
    }

    func adapter(_ a: [Float], _ b: [Float]) throws -> TrainCache.Adapter {
        [("layers.0.q.lora_A", try Tensor(a, shape: [2, 3])), ("layers.0.q.lora_B", try Tensor(b, shape: [2]))]
    }

    func result() -> TrainResult {
        let r = TrainResult()
        r.steps = [StepMetrics(step: 1, totalSteps: 2, loss: 2.5, lr: 1e-4, gradNorm: 0.75, tokens: 17, tokensPerSecond: 123.25,
                               elapsed: 0.5, eta: 0.5, evalLoss: nil),
                   StepMetrics(step: 2, totalSteps: 2, loss: 2.125, lr: 0, gradNorm: 0.5, tokens: 34, tokensPerSecond: 130,
                               elapsed: 1, eta: 0, evalLoss: 2.3)]
        r.evals = [(step: 2, loss: 2.3)]
        r.initialEvalLoss = 2.75
        r.wallSeconds = 1.0625
        r.tokens = 34
        r.peakResidentBytes = 1 << 30
        r.trainableParameters = 8
        r.stopReason = .earlyStop(patience: 3)
        return r
    }

    func write(_ path: String) throws {
        try TrainCache.write(result(), adapter: try adapter([1, 2, 3, 4, 5, 6], [7, 8]), to: path)
    }

    @Test func anEntryGivesBackTheRunAndTheAdapter() throws {
        let path = try tempPath()
        try write(path)
        let into = try adapter([0, 0, 0, 0, 0, 0], [0, 0])
        let r = try TrainCache.read(from: path, into: into)
        #expect(into[0].tensor.toArray() == [1, 2, 3, 4, 5, 6] && into[1].tensor.toArray() == [7, 8])
        let want = result()
        #expect(r.steps.map(\.step) == [1, 2] && r.steps.map(\.loss) == [2.5, 2.125] && r.steps.map(\.lr) == [1e-4, 0])
        #expect(r.steps.map(\.gradNorm) == [0.75, 0.5] && r.steps.map(\.tokens) == [17, 34] && r.steps.map(\.totalSteps) == [2, 2])
        #expect(r.steps.map(\.tokensPerSecond) == [123.25, 130] && r.steps.map(\.elapsed) == [0.5, 1] && r.steps.map(\.eta) == [0.5, 0])
        #expect(r.steps.map(\.evalLoss) == [nil, 2.3])
        #expect(r.evals.map(\.step) == [2] && r.evals.map(\.loss) == [2.3] && r.initialEvalLoss == 2.75)
        #expect(r.wallSeconds == want.wallSeconds && r.tokens == 34 && r.peakResidentBytes == 1 << 30 && r.trainableParameters == 8)
        #expect(r.stopReason == .earlyStop(patience: 3))
        // a plain safetensors file: the adapter under its names, the metrics as columns, scalars in __metadata__
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata?["format"] == "finch-train-cache" && file.metadata?["stop_reason"] == want.stopReason.description)
        #expect(file.tensor(named: "adapter.layers.0.q.lora_A")?.shape == [2, 3] && file.tensor(named: "steps.loss")?.dtype == .F32)
    }

    @Test func aRunWithoutEvaluationOrStepsReadsBack() throws {
        let path = try tempPath()
        let empty = TrainResult()
        empty.stopReason = .interrupted(step: 0)
        try TrainCache.write(empty, adapter: try adapter([1, 2, 3, 4, 5, 6], [7, 8]), to: path)
        let r = try TrainCache.read(from: path, into: try adapter([0, 0, 0, 0, 0, 0], [0, 0]))
        #expect(r.steps.isEmpty && r.evals.isEmpty && r.initialEvalLoss == nil && r.stopReason == .interrupted(step: 0))
    }

    /// Refused, and the adapter keeps its values.
    func expectUnusable(_ path: String, _ what: String, into: TrainCache.Adapter? = nil) throws {
        let into = try into ?? adapter([0, 0, 0, 0, 0, 0], [0, 0])
        let before = into.map { $0.tensor.toArray() }
        do {
            _ = try TrainCache.read(from: path, into: into)
            Issue.record("\(what): read as an entry")
        } catch let TrainCacheError.unusable(p, reason) {
            #expect(p == path && !reason.isEmpty, "\(what)")
        } catch {
            Issue.record("\(what): \(error) is not TrainCacheError.unusable")
        }
        #expect(into.map { $0.tensor.toArray() } == before, "\(what): the adapter changed")
    }

    /// What Finch wrote before entries were safetensors: a u64 header length, a JSON header, the adapter's f32 values.
    @Test func anOlderFinchsEntryIsUnusable() throws {
        let path = try tempPath()
        let header = #"{"steps":[],"evals":[],"wall":0,"tokens":0,"peak":0,"stopReason":"completed","trainable":8,"counts":[6,2]}"#
        var d = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        [Float](repeating: 9, count: 8).withUnsafeBufferPointer { d.append($0) }
        try d.write(to: URL(fileURLWithPath: path))
        try expectUnusable(path, "old format")
        // a safetensors file that is not a train cache entry
        var w = SafetensorsWriter()
        try w.add(name: "adapter.layers.0.q.lora_A", dtype: .F32, shape: [2, 3], data: .bytes([UInt8](repeating: 0, count: 24)))
        try w.write(to: path)
        try expectUnusable(path, "other safetensors")
    }

    @Test func aTruncatedOrCorruptEntryIsUnusable() throws {
        let path = try tempPath()
        try write(path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        for cut in [0, 5, 8, 8 + headerLength / 2, 8 + headerLength, good.count - 4, good.count - 1] {
            try good.prefix(cut).write(to: URL(fileURLWithPath: path))
            try expectUnusable(path, "cut at \(cut) of \(good.count)")
        }
        var longer = good
        longer.append(0)
        try longer.write(to: URL(fileURLWithPath: path))
        try expectUnusable(path, "a byte too many")
        var flipped = good
        flipped[3] ^= 0x40  // the header length
        try flipped.write(to: URL(fileURLWithPath: path))
        try expectUnusable(path, "header length")
        try FileManager.default.removeItem(atPath: path)
        try expectUnusable(path, "no file")
    }

    @Test func anEntryForAnotherAdapterIsUnusable() throws {
        let path = try tempPath()
        try write(path)
        try expectUnusable(path, "other shape", into: [("layers.0.q.lora_A", try Tensor([Float](repeating: 0, count: 6), shape: [3, 2])),
                                                       ("layers.0.q.lora_B", try Tensor([0, 0], shape: [2]))])
        try expectUnusable(path, "other name", into: [("layers.0.k.lora_A", try Tensor([Float](repeating: 0, count: 6), shape: [2, 3])),
                                                      ("layers.0.q.lora_B", try Tensor([0, 0], shape: [2]))])
        try expectUnusable(path, "fewer tensors", into: [("layers.0.q.lora_B", try Tensor([0, 0], shape: [2]))])
    }

    @Test func metadataThatDoesNotReadBackIsUnusable() throws {
        let path = try tempPath()
        for (key, value) in [("version", "0"), ("stop_reason", "steps"), ("tokens", "many"), ("initial_eval_loss", "")] {
            var e = TrainCacheEntry()
            e.stopReason = "completed"
            var m = e.metadata
            m[key] = value
            var w = SafetensorsWriter(metadata: m)
            try e.addColumns(to: &w)
            try w.add(name: "adapter.layers.0.q.lora_A", dtype: .F32, shape: [2, 3], data: .bytes([UInt8](repeating: 0, count: 24)))
            try w.add(name: "adapter.layers.0.q.lora_B", dtype: .F32, shape: [2], data: .bytes([UInt8](repeating: 0, count: 8)))
            try w.write(to: path)
            try expectUnusable(path, "\(key)=\(value)")
        }
    }
}
