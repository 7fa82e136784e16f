import Foundation
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
        return "\(c.optimizer.rawValue) lr=\(c.lr) bs=\(c.batchSize) ga=\(c.gradAccum) seed=\(c.seed) steps=\(totalSteps) rows=\(trainRows.count) msl=\(c.maxSeqLength) pack=\(c.packing) params=\(params.count)" + (worldSize > 1 ? " world=\(worldSize)" : "")
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
        let fm = FileManager.default
        let target = URL(fileURLWithPath: dir)
        let tmp = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(state).write(to: tmp.appendingPathComponent("state.json"))
            try floats.withUnsafeBytes { try Data($0).write(to: tmp.appendingPathComponent("tensors.bin")) }
            let old = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).old-\(getpid())")
            if fm.fileExists(atPath: target.path) { try fm.moveItem(at: target, to: old) }
            try fm.moveItem(at: tmp, to: target)
            try? fm.removeItem(at: old)
        } catch {
            try? fm.removeItem(at: tmp)
            throw TrainError.checkpoint("could not write \(dir): \(error.localizedDescription)")
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
            guard let e = state.tensors[name], e.count == 2, e[0] >= 0, e[1] >= 0, e[0] + e[1] <= total else {
                throw TrainError.checkpoint("\(dir): tensor \(name) is missing or out of range")
            }
            return blob.withUnsafeBytes { raw in
                let p = raw.bindMemory(to: Float.self)
                return Array(p[e[0]..<(e[0] + e[1])])
            }
        }
        for (name, t) in model.trainableParameters {
            let v = try values("param." + name)
            guard v.count == t.count else { throw TrainError.checkpoint("\(dir): \(name) has \(v.count) values, the model needs \(t.count)") }
            try t.assign(v)
        }
        var opt: [String: [Float]] = [:]
        for name in state.tensors.keys where name.hasPrefix("opt.") { opt[String(name.dropFirst(4))] = try values(name) }
        try optimizer.load(state: opt, stepCount: state.optimizerSteps)
        step = state.step
        epoch = state.epoch
        cursor = state.cursor
        order = permutation(epoch: epoch)
    }
}
