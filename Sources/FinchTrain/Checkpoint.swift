import Foundation
import FinchSupport
import FinchModels
import FinchTensor

// A resumable training checkpoint: a folder with `state.json` (step, data position, optimizer
// step count, the settings it belongs to) and `tensors.bin` (adapter weights and optimizer
// state as little-endian f32, laid out as `state.json` indexes them). Written into a temporary
// folder and renamed over the old one, so an interruption never leaves a half-written checkpoint.

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
        do {
            try AtomicFolder.write(dir) { tmp in
                try AtomicFile.write(Data(state.json.serialized(sortKeys: true, indent: 2).utf8), to: tmp + "/state.json")
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
            // Mapped, not copied: Finch replaces a checkpoint by renaming a new folder over it, never by
            // rewriting this file in place, so the mapping stays whole while it is read.
            blob = try Data(contentsOf: url.appendingPathComponent("tensors.bin"), options: .alwaysMapped)
        } catch {
            throw TrainError.checkpoint("\(dir) is not a Finch checkpoint (state.json and tensors.bin are needed)")
        }
        let state: CheckpointState
        do { state = try CheckpointState(parsing: stateData, file: "state.json") } catch {
            throw TrainError.checkpoint("\(dir)/state.json is corrupt (\(error))")
        }
        guard state.configFingerprint == configFingerprint else {
            throw TrainError.checkpoint("\(dir) was written by a run with other settings (\(state.configFingerprint)); resume with the same arguments")
        }
        let layout: CheckpointState.Layout
        do {
            layout = try state.layout(floats: blob.count / 4, parameters: model.trainableParameters.map { ($0.name, $0.tensor.count) },
                                      totalSteps: totalSteps, rows: trainRows.count)
        } catch {
            throw TrainError.checkpoint("\(dir)/state.json: \(error)")
        }
        let params = model.trainableParameters.map(\.tensor)
        guard params.allSatisfy({ $0.dtype == .f32 }) else {
            throw TrainError.checkpoint("\(dir): the adapter's parameters are not f32; resume before converting them")
        }
        // Everything checked: one pass over tensors.bin, each tensor copied from it straight into its
        // buffer (on the parameter's device). The optimizer goes first: it can still refuse its state,
        // and then nothing has changed.
        try blob.withUnsafeBytes { raw in
            let floats = raw.bindMemory(to: Float.self)
            func slice(_ r: Range<Int>) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: floats[r]) }
            try optimizer.load(state: layout.optimizer.mapValues(slice), stepCount: state.optimizerSteps, params: params)
            for (t, r) in zip(params, layout.parameters) { try t.assign(slice(r)) }
        }
        step = state.step
        epoch = state.epoch
        cursor = state.cursor
        order = permutation(epoch: epoch)
    }
}
