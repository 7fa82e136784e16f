import Foundation
import FinchSupport
import FinchModels
import FinchTensor

// A resumable training checkpoint: a folder with `state.json` (step, data position, optimizer
// step count, the settings it belongs to) and `tensors.bin` (adapter weights and optimizer
// state as little-endian f32, laid out as `state.json` indexes them). Written into a temporary
// folder and renamed over the old one, so an interruption never leaves a half-written checkpoint.

struct CheckpointState: Codable {
    var version = 1
    var step: Int
    var epoch: Int
    var cursor: Int
    var optimizerSteps: Int
    var configFingerprint: String
    var tensors: [String: [Int]]  // name → [offset, count] in floats
}

extension Trainer {
    var configFingerprint: String {
        let c = config
        return "\(c.optimizer.rawValue) lr=\(c.lr) bs=\(c.batchSize) ga=\(c.gradAccum) seed=\(c.seed) steps=\(totalSteps) rows=\(trainRows.count) msl=\(c.maxSeqLength) pack=\(c.packing) params=\(params.count)"
    }

    public func saveCheckpoint(to dir: String) throws {
        var floats: [Float] = []
        var index: [String: [Int]] = [:]
        func add(_ name: String, _ values: [Float]) {
            index[name] = [floats.count, values.count]
            floats += values
        }
        for (name, t) in model.trainableParameters { add("param." + name, t.toArray()) }
        for (name, values) in optimizer.state() { add("opt." + name, values) }
        let state = CheckpointState(step: step, epoch: epoch, cursor: cursor, optimizerSteps: optimizer.stepCount,
                                    configFingerprint: configFingerprint, tensors: index)
        do {
            try AtomicFolder.write(dir) { tmp in
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try enc.encode(state), to: tmp + "/state.json")
                try floats.withUnsafeBytes { bytes in try AtomicFile.write(to: tmp + "/tensors.bin") { sink in try sink.write(bytes) } }
            }
        } catch {
            throw TrainError.checkpoint("could not write \(dir): \(error)")
        }
    }

    /// Restores adapter weights, optimizer state and the data position from `dir`.
    public func resume(from dir: String) throws {
        let url = URL(fileURLWithPath: dir)
        let stateData: Data, blob: Data
        do {
            stateData = try Data(contentsOf: url.appendingPathComponent("state.json"))
            blob = try Data(contentsOf: url.appendingPathComponent("tensors.bin"))
        } catch {
            throw TrainError.checkpoint("\(dir) is not a Finch checkpoint (state.json and tensors.bin are needed)")
        }
        guard let state = try? JSONDecoder().decode(CheckpointState.self, from: stateData) else {
            throw TrainError.checkpoint("\(dir)/state.json is corrupt")
        }
        guard state.configFingerprint == configFingerprint else {
            throw TrainError.checkpoint("\(dir) was written by a run with other settings (\(state.configFingerprint)); resume with the same arguments")
        }
        let total = blob.count / 4
        func values(_ name: String) throws -> [Float] {
            // e[1] <= total - e[0], not e[0] + e[1] <= total: crafted offsets must not overflow
            guard let e = state.tensors[name], e.count == 2, e[0] >= 0, e[1] >= 0, e[0] <= total, e[1] <= total - e[0] else {
                throw TrainError.checkpoint("\(dir): tensor \(name) is missing or out of range")
            }
            return blob.withUnsafeBytes { raw in
                let p = raw.bindMemory(to: Float.self)
                return Array(p[e[0]..<(e[0] + e[1])])
            }
        }
        var weights: [(Tensor, [Float])] = []
        for (name, t) in model.trainableParameters {
            let v = try values("param." + name)
            guard v.count == t.count else { throw TrainError.checkpoint("\(dir): \(name) has \(v.count) values, the model needs \(t.count)") }
            weights.append((t, v))
        }
        // A hand-edited state.json must not index past the data, the parameters or the rows.
        guard state.step >= 0, state.step <= totalSteps, state.epoch >= 0, state.optimizerSteps >= 0,
              state.cursor >= 0, state.cursor <= trainRows.count else {
            throw TrainError.checkpoint("\(dir)/state.json: step \(state.step), epoch \(state.epoch), cursor \(state.cursor) or optimizer step \(state.optimizerSteps) is out of range for this run")
        }
        var opt: [String: [Float]] = [:]
        var slots: [Substring: Set<Int>] = [:]
        for name in state.tensors.keys where name.hasPrefix("opt.") {
            let key = name.dropFirst(4), v = try values(name)
            let parts = key.split(separator: ".")
            guard parts.count == 2, let i = Int(parts[1]), params.indices.contains(i), v.count == params[i].count else {
                throw TrainError.checkpoint("\(dir): optimizer state \(key) does not fit this run's \(params.count) parameters")
            }
            slots[parts[0], default: []].insert(i)
            opt[String(key)] = v
        }
        guard slots.values.allSatisfy({ $0.count == params.count }) else {
            throw TrainError.checkpoint("\(dir): the optimizer state is incomplete")
        }
        // everything checked: now change the model and the optimizer
        for (t, v) in weights { try t.assign(v) }
        try optimizer.load(state: opt, stepCount: state.optimizerSteps)
        step = state.step
        epoch = state.epoch
        cursor = state.cursor
        order = permutation(epoch: epoch)
    }
}
