import Foundation
import FinchCUDA
import FinchLang
import FinchModels
import FinchTensor
import FinchTrain

// `train(..., devices=)`: data parallelism over GPUs (FinchTrain/DataParallel.swift).
//   devices=none / "cpu"   the model's own device (no data parallelism)
//   devices="all"          every visible GPU, one thread each, in this process
//   devices=[0, 1]         those GPUs
// Launched by torchrun or SLURM (one process per GPU), train() joins the other processes instead
// (LaunchConfig). NOT YET RUN ON A MULTI-GPU MACHINE: see README "Several GPUs".

/// What `devices=` asked for, validated before anything is loaded or trained.
enum TrainDevices: Equatable {
    case own
    case all
    case list([Int])

    static func parse(_ v: Value) throws -> TrainDevices {
        let usage = "train(): devices must be none, \"cpu\", \"all\" or a list of GPU numbers such as [0, 1]"
        switch v {
        case .none: return .own
        case .string(let s):
            switch s.lowercased() {
            case "cpu": return .own
            case "all": return .all
            default: throw FinchError("\(usage), got \"\(s)\"")
            }
        case .list(let l):
            var ordinals: [Int] = []
            for item in l.items {
                guard case .int(let n) = item, n >= 0 else { throw FinchError("\(usage); \(repr(item)) is not a GPU number (0, 1, …)") }
                guard !ordinals.contains(n) else { throw FinchError("\(usage); GPU \(n) is listed twice") }
                ordinals.append(n)
            }
            guard !ordinals.isEmpty else { throw FinchError("\(usage); the list is empty") }
            return .list(ordinals)
        default:
            throw FinchError("\(usage), got a \(v.typeName)")
        }
    }
}

/// How one train() call runs: on the model's device, on several GPUs of this process, or as one
/// process of a torchrun/SLURM launch.
enum TrainPlacement {
    case single
    case threads([Int])
    case process(LaunchConfig)

    /// Checks the request against this machine and the model (before any training starts).
    /// `gpuCount` and `launch` are passed in so that tests can describe other machines.
    static func plan(_ devices: TrainDevices, modelDevice: Device, gpuCount: () throws -> Int,
                     launch: LaunchConfig?) throws -> TrainPlacement {
        if let launch {
            guard devices == .own else {
                throw FinchError("train(): this process is rank \(launch.rank) of \(launch.worldSize) (started by \(launch.launcher)); each process trains on its own GPU, so leave devices= out")
            }
            guard modelDevice == .cuda(launch.localRank) else {
                throw FinchError("train(): rank \(launch.rank) must train on cuda:\(launch.localRank) (LOCAL_RANK) but the model is on \(modelDevice); load it with load_model(..., device=\"auto\") or device=\"cuda:\(launch.localRank)\"")
            }
            return .process(launch)
        }
        if devices == .own { return .single }
        let count: Int
        do { count = try gpuCount() } catch {
            throw FinchError("train(): devices=\(devices.text) needs CUDA GPUs, but none can be used here: \(error). Leave devices out (or devices=\"cpu\") to train on this machine's \(modelDevice)")
        }
        guard count > 0 else {
            throw FinchError("train(): devices=\(devices.text) needs CUDA GPUs, but this machine has none. Leave devices out (or devices=\"cpu\") to train on the \(modelDevice)")
        }
        var ordinals: [Int]
        switch devices {
        case .all: ordinals = Array(0..<count)
        case .list(let l):
            if let missing = l.first(where: { $0 >= count }) {
                throw FinchError("train(): devices lists GPU \(missing) but this machine has \(count) (0…\(count - 1)); CUDA_VISIBLE_DEVICES renumbers them")
            }
            ordinals = l
        case .own: ordinals = []
        }
        guard case .cuda(let home) = modelDevice, let first = ordinals.firstIndex(of: home) else {
            throw FinchError("train(): devices=\(devices.text) trains copies of the model on those GPUs, starting from the model's own; it is on \(modelDevice). Load it on one of them first: load_model(..., device=\"cuda:\(ordinals[0])\")")
        }
        // Rank 0 is the model itself (its GPU first): it reports, checkpoints and keeps the result.
        ordinals.swapAt(0, first)
        return ordinals.count == 1 ? .single : .threads(ordinals)
    }
}

extension TrainDevices {
    var text: String {
        switch self {
        case .own: return "none"
        case .all: return "\"all\""
        case .list(let l): return "[\(l.map(String.init).joined(separator: ", "))]"
        }
    }
}

/// Visible CUDA GPUs (the driver's count; throws why there are none usable).
func cudaGPUCount() throws -> Int { try NCCL.visibleGPUCount() }

/// The torchrun/SLURM launch this process belongs to, if any.
func currentLaunch() throws -> LaunchConfig? {
    do { return try LaunchConfig.fromEnvironment() } catch { throw FinchError("\(error)") }
}

/// The data-parallel run for a placement: rank 0's result (after every rank finished).
func trainInParallel(_ placement: TrainPlacement, model: Transformer, train: [TrainExample], eval: [TrainExample],
                     config: TrainConfig, padId: Int32, resume: String?, onStart: (Trainer) -> Void,
                     onStep: @escaping (StepMetrics) -> Void, shouldStop: @escaping () -> Bool) throws -> TrainResult {
    switch placement {
    case .single:
        throw FinchError("train(): internal: no data parallelism to run")
    case .threads(let ordinals):
        let reducers = try NCCL.reducers(devices: ordinals)
        let models = try [model] + ordinals.dropFirst().map { try model.replica(on: .cuda($0)) }
        return try DataParallelTraining.run(models: models, reducers: reducers, train: train, eval: eval, config: config,
                                            padId: padId, resume: resume, onStart: onStart, onStep: onStep, shouldStop: shouldStop)
    case .process(let launch):
        let reducer = try NCCL.reducer(launch: launch)
        var cfg = config
        if launch.rank != 0 { cfg.checkpointDir = nil }  // rank 0 writes checkpoints
        let trainer = try Trainer(model: model, train: train, eval: eval, config: cfg, padId: padId, reducer: reducer)
        if let resume { try trainer.resume(from: resume) }
        if launch.rank == 0 { onStart(trainer) }
        return try trainer.run(onStep: launch.rank == 0 ? onStep : { _ in }, shouldStop: shouldStop)
    }
}

extension TrainPlacement {
    /// " × 2 GPUs" in the announcement of a data-parallel run.
    var ranksText: String {
        switch self {
        case .single: return ""
        case .threads(let o): return " × \(o.count) GPUs"
        case .process(let l): return " × \(l.worldSize) processes"
        }
    }

    /// The GPUs take part in the memo key: the same run on other GPUs sums in another order.
    var memoInputs: [String] {
        switch self {
        case .single: return []
        case .threads(let o): return ["devices=\(o)"]
        case .process(let l): return ["world=\(l.worldSize)"]
        }
    }

    /// Processes of a launch never use the notebook cache: a hit on one rank and a miss on another
    /// would leave the others waiting in the all-reduce (and every rank would write the cache).
    var mayUseMemo: Bool {
        if case .process = self { return false }
        return true
    }
}
