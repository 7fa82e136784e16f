import Foundation
#if canImport(FinchSupport)
import FinchSupport
#endif

// `state.json` of a training checkpoint and its checks against a run, with nothing but Foundation and
// FinchSupport's JSON so the libFuzzer harness (fuzz/checkpoint-state) builds it alone. A hand-edited or corrupt file is an error
// naming what is wrong, never a trap: offsets are checked without overflow, positions against the run.

struct CheckpointState {
    var version = 1
    var step: Int
    var epoch: Int
    var cursor: Int
    var optimizerSteps: Int
    var configFingerprint: String
    var tensors: [String: [Int]]  // name → [offset, count] in floats

    init(step: Int, epoch: Int, cursor: Int, optimizerSteps: Int, configFingerprint: String, tensors: [String: [Int]]) {
        (self.step, self.epoch, self.cursor, self.optimizerSteps) = (step, epoch, cursor, optimizerSteps)
        (self.configFingerprint, self.tensors) = (configFingerprint, tensors)
    }

    /// Reads `state.json`; a problem names the field.
    init(parsing data: Data, file: String) throws {
        let f = try JSONFields(parsing: data, file: file)
        version = try f.requiredInt("version")
        step = try f.requiredInt("step")
        epoch = try f.requiredInt("epoch")
        cursor = try f.requiredInt("cursor")
        optimizerSteps = try f.requiredInt("optimizerSteps")
        guard let fingerprint = try f.string("configFingerprint") else { throw f.error("configFingerprint", "is missing") }
        configFingerprint = fingerprint
        guard let entries = try f.object("tensors")?.json.objectValue else { throw f.error("tensors", "is missing") }
        var tensors: [String: [Int]] = [:]
        for (name, v) in entries {
            guard let a = v.arrayValue, let e = Optional(a.compactMap(\.intValue)), e.count == a.count else {
                throw f.error("tensors.\(name)", "must be [offset, count]")
            }
            tensors[name] = e
        }
        self.tensors = tensors
    }

    /// The file as written (keys sorted, so a checkpoint's bytes depend only on its contents).
    var json: JSON {
        ["version": .int(version), "step": .int(step), "epoch": .int(epoch), "cursor": .int(cursor),
         "optimizerSteps": .int(optimizerSteps), "configFingerprint": .string(configFingerprint),
         "tensors": .object(tensors.map { ($0.key, .array($0.value.map(JSON.int))) })]
    }

    /// Where each value lives in `tensors.bin`, checked against the run that resumes.
    struct Layout {
        var parameters: [Range<Int>]              // in the order of the run's parameters
        var optimizer: [String: Range<Int>]       // "m.3" → range
    }

    struct Problem: Error, CustomStringConvertible { var description: String }

    /// - floats: how many f32 values `tensors.bin` holds; parameters: the run's trainable tensors in order.
    func layout(floats total: Int, parameters: [(name: String, count: Int)], totalSteps: Int, rows: Int) throws -> Layout {
        func range(_ name: String) throws -> Range<Int> {
            // e[1] <= total - e[0], not e[0] + e[1] <= total: crafted offsets must not overflow
            guard let e = tensors[name], e.count == 2, e[0] >= 0, e[1] >= 0, e[0] <= total, e[1] <= total - e[0] else {
                throw Problem(description: "tensor \(name) is missing or out of range")
            }
            return e[0]..<(e[0] + e[1])
        }
        var params: [Range<Int>] = []
        for p in parameters {
            let r = try range("param." + p.name)
            guard r.count == p.count else { throw Problem(description: "\(p.name) has \(r.count) values, the model needs \(p.count)") }
            params.append(r)
        }
        guard step >= 0, step <= totalSteps, epoch >= 0, optimizerSteps >= 0, cursor >= 0, cursor <= rows else {
            throw Problem(description: "step \(step), epoch \(epoch), cursor \(cursor) or optimizer step \(optimizerSteps) is out of range for this run")
        }
        var optimizer: [String: Range<Int>] = [:]
        var slots: [Substring: Set<Int>] = [:]
        for name in tensors.keys where name.hasPrefix("opt.") {
            let key = name.dropFirst(4), r = try range(name)
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[1]), parameters.indices.contains(i), r.count == parameters[i].count else {
                throw Problem(description: "optimizer state \(key) does not fit this run's \(parameters.count) parameters")
            }
            slots[parts[0], default: []].insert(i)
            optimizer[String(key)] = r
        }
        guard slots.values.allSatisfy({ $0.count == parameters.count }) else { throw Problem(description: "the optimizer state is incomplete") }
        return Layout(parameters: params, optimizer: optimizer)
    }
}
