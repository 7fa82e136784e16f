import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// Device failures (#13): an allocation that fails mid-step becomes a typed error at the next
/// step boundary, the adapter keeps the values of the step before, and the engine goes on.
/// Faults are injected per phase; phase faults and pending errors belong to the test's thread,
/// so suites running beside these are not disturbed.
@Suite(.serialized) struct DeviceFailureTests {
    func adapter(_ m: Transformer) -> [Float] { m.trainableParameters.flatMap { $0.tensor.toArray() } }

    func trainer(_ model: Transformer, steps: Int = 3) throws -> Trainer {
        var cfg = TrainConfig(); cfg.steps = steps; cfg.batchSize = 2
        return try Trainer(model: model, train: countingRows(8, length: 6, seed: 1), config: cfg, padId: 0)
    }

    @Test(arguments: [FaultInjection.Phase.forward, .backward, .optimizer])
    func aFailedStepKeepsTheAdapterOfTheStepBefore(phase: FaultInjection.Phase) throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        let t = try trainer(model)
        var afterStep1: [Float] = []
        FaultInjection.arm(.init(phase: phase, allocation: 2, step: 2))
        defer { FaultInjection.disarm() }
        var failure: TrainError?
        do { _ = try t.run(onStep: { s in if s.step == 1 { afterStep1 = adapter(model) } }) } catch let e as TrainError { failure = e }
        guard case let .device(step, phaseName, kept, error, hint, onHost)? = failure else {
            Issue.record("expected a device failure, got \(String(describing: failure))"); return
        }
        #expect(step == 2 && kept == 1 && !onHost)
        #expect(phaseName.contains(phase.rawValue))
        #expect(error.injected && error.device == .cpu)
        if case .outOfMemory = error.kind {} else { Issue.record("expected out of memory, got \(error.kind)") }
        #expect(hint.contains("batch_size (now 2)") && hint.contains("max_seq_length"))
        #expect(failure!.description.contains("keeps the values of step 1"))
        // Step 1 moved the adapter (B starts at zero), and nothing of step 2 reached it.
        #expect(afterStep1.contains { $0 != 0 })
        #expect(adapter(model) == afterStep1)
        #expect(DeviceErrors.pending == nil)
        // The engine goes on: the same model trains again, to the end.
        let again = try trainer(model).run()
        #expect(again.steps.count == 3 && again.loss.isFinite)
    }

    @Test func aFailureInTheFirstStepLeavesTheFreshAdapter() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        let before = adapter(model)
        FaultInjection.arm(.init(phase: .backward, allocation: 1, step: 1))
        defer { FaultInjection.disarm() }
        let e = #expect(throws: TrainError.self) { try trainer(model).run() }
        guard case let .device(step, _, kept, _, _, _)? = e else { Issue.record("expected a device failure, got \(String(describing: e))"); return }
        #expect(step == 1 && kept == 0 && "\(e!)".contains("before train()"))
        #expect(adapter(model) == before)
    }

    /// Running out of memory while packing the frozen weights for the run (its first allocations when the CPU
    /// has the packed kernels) is a typed error before the first step: nothing is packed or left registered,
    /// the adapter is untouched, and the next run trains. `stored`: f16 projections, packed from their stored form.
    @Test(arguments: [false, true])
    func aFailureWhilePackingTheFrozenWeightsStopsBeforeTheFirstStep(stored: Bool) throws {
        guard CPUBackend.usePackedGemm, ProcessInfo.processInfo.environment["FINCH_PACK_WEIGHTS"] != "0" else { return }
        let (model, _) = try tinyModel()
        if stored { for (_, l) in model.namedProjections { l.weight = try ModelLoader.convertTensor(l.weight, to: .f16) } }
        try model.attachLoRA(LoRAConfig())
        let before = adapter(model)
        let t = try trainer(model)
        FaultInjection.arm(.init(phase: .any, allocation: 2))
        defer { FaultInjection.disarm() }
        let e = #expect(throws: TrainError.self) { try t.run() }
        guard case let .device(step, phaseName, kept, error, _, _)? = e else { Issue.record("expected a device failure, got \(String(describing: e))"); return }
        #expect(step == 1 && kept == 0 && phaseName.contains("preparing"))
        #expect(error.injected)
        #expect(adapter(model) == before)
        #expect(DeviceErrors.pending == nil)
        for (_, l) in model.namedProjections {
            let w = l.weight, rows = w.shape[0], cols = w.shape[1]
            let fwd = GemmParams(m: 32, n: rows, k: cols, transA: false, transB: true, lda: cols, ldb: cols, ldc: rows)
            #expect(Backends.cpu.packedWeights.lookup(fwd, b: w) == nil)
        }
        let again = try trainer(model).run()
        #expect(again.steps.count == 3 && again.loss.isFinite)
    }

    /// A CUDA launch can fail after some parameters were updated: the step is undone.
    final class FailsHalfway: Optimizer {
        let inner = AdamW()
        var failAtStep: Int
        var stepCount: Int { inner.stepCount }
        init(failAtStep: Int) { self.failAtStep = failAtStep }
        func step(_ params: [Tensor], lr: Float) {
            guard inner.stepCount + 1 == failAtStep else { return inner.step(params, lr: lr) }
            inner.step(Array(params.prefix(params.count / 2)), lr: lr)  // half of them move…
            DeviceErrors.record(DeviceError(device: .cpu, kind: .failed("launch failed (simulated)")))  // …then the device fails
        }
        func state() -> [String: [Float]] { inner.state() }
        func load(state: [String: UnsafeBufferPointer<Float>], stepCount: Int, params: [Tensor]) throws {
            try inner.load(state: state, stepCount: stepCount, params: params)
        }
    }

    @Test func anOptimizerStepThatFailsHalfwayIsUndone() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        let t = try trainer(model)
        t.optimizer = FailsHalfway(failAtStep: 2)
        var afterStep1: [Float] = []
        let e = #expect(throws: TrainError.self) { try t.run(onStep: { s in if s.step == 1 { afterStep1 = adapter(model) } }) }
        guard case let .device(step, phase, kept, _, _, _)? = e else { Issue.record("expected a device failure, got \(String(describing: e))"); return }
        #expect(step == 2 && kept == 1 && phase == "the optimizer step" && "\(e!)".contains("launch failed"))
        #expect(!afterStep1.isEmpty && adapter(model) == afterStep1)
    }

    /// After a poisoned GPU context the adapter is put back from its host copy, tensor by tensor
    /// in the trainer's parameter order (the GPU part cannot run here; this is the CPU half).
    @Test func theHostCopyOfTheAdapterReplacesTheDevicesInParameterOrder() throws {
        let (model, _) = try tinyModel()
        try model.attachLoRA(LoRAConfig())
        let t = try trainer(model)
        let values = model.trainableParameters.enumerated().map { i, p in (0..<p.tensor.count).map { Float(i) + Float($0) * 1e-3 } }
        t.hostCopy = (values, 7, 0)
        #expect(t.restoreHostCopy() == 7)
        #expect(model.trainableParameters.map { $0.tensor.toArray() } == values)
        #expect(model.trainableParameters.allSatisfy { $0.tensor.device == .cpu && $0.tensor.requiresGrad })
        let e = TrainError.device(step: 9, phase: "the backward pass", kept: 7,
                                  error: DeviceError(device: .cuda(0), kind: .failed("CUDA cuLaunchKernel failed (719)"), poisoned: true),
                                  hint: "restart", onHost: true)
        #expect("\(e)".contains("keeps the values of step 7 (copied to host memory: save it with save(model, \"adapter\"), then restart finch)"))
        #expect("\(e)".contains("cannot run anything more until Finch restarts"))
    }

    @Test func faultSpecsParse() {
        #expect(FaultInjection.Spec("alloc:5") == .init(phase: .any, allocation: 5))
        #expect(FaultInjection.Spec("backward:3@2") == .init(phase: .backward, allocation: 3, step: 2))
        #expect(FaultInjection.Spec("optimizer:1") == .init(phase: .optimizer, allocation: 1, step: 1))
        for bad in ["", "alloc", "alloc:0", "alloc:x", "sideways:1", "forward:1@0", "forward:1@x"] {
            #expect(FaultInjection.Spec(bad) == nil, "\(bad)")
        }
    }

    /// The allocator's out-of-memory path: a stand-in buffer that can be written, a sticky error,
    /// and work skipped while it is pending.
    @Test func aFailedAllocationHandsOutAStandInAndRecordsTheError() throws {
        FaultInjection.enter(.forward, step: 999)
        defer { FaultInjection.enter(.any, step: 0) }
        FaultInjection.arm(.init(phase: .forward, allocation: 1, step: 999))
        defer { FaultInjection.disarm() }
        do {
            let t = Tensor(uninitialized: [1000])
            let e = try #require(DeviceErrors.pending)
            #expect(e.injected && e.device == .cpu && "\(e)".contains("out of host memory"))
            t.data[999] = 1  // the stand-in is real address space
            t.backend.fill(t, 7)  // kernels skip while the error is pending
            #expect(t.data[0] == 0 && t.data[999] == 1)
            #expect(DeviceErrors.take() == e)
            #expect(DeviceErrors.pending == nil)
        }
        let u = Tensor.full([1000], 2)  // and the next allocation and kernel work
        #expect(u.data[999] == 2 && DeviceErrors.pending == nil)
    }
}
