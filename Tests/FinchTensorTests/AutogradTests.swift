import Foundation
import CFinchKernels
import Testing
@testable import FinchTensor

@Suite struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() throws {
        let w = tensor([1, 2, 3, 4], [2, 2], grad: true)
        let x = tensor([0.5, -1, 2, 1], [2, 2])
        for _ in 0..<2 {
            let y = try Ops.sum(try Ops.linear(x, w))
            try y.backward()
        }
        // d/dW Σ x·Wᵀ = column sums of x per output row, twice.
        let g = w.grad!.toArray()
        #expect(g == [5, 0, 5, 0])
    }

    @Test func sharedWeightGetsBothContributions() throws {
        // y = Σ (x·Wᵀ) + Σ (W ⊙ W): the gradient is the sum of both paths.
        let w = tensor([1, -2, 0.5, 3], [2, 2], grad: true)
        let x = tensor([1, 1], [1, 2])
        let a = try Ops.sum(try Ops.linear(x, w))
        let b = try Ops.sum(try Ops.mul(w, w))
        try (try Ops.add(a, b)).backward()
        let expected: [Float] = [3, -3, 2, 7]
        #expect(w.grad!.toArray() == expected)
    }

    @Test func frozenTensorsGetNoGradientBuffers() throws {
        let w = tensor([1, 2, 3, 4], [2, 2])          // frozen
        let lora = tensor([0.1, 0.2], [1, 2], grad: true)
        let x = tensor([1, 2], [1, 2], grad: false)
        let y = try Ops.add(try Ops.linear(x, w), try Ops.linear(try Ops.linear(x, lora), tensor([1, 1], [2, 1])))
        try (try Ops.sum(y)).backward()
        #expect(w.grad == nil)
        #expect(x.grad == nil)
        #expect(lora.grad != nil)
    }

    @Test func noGradRecordsNothing() throws {
        let w = tensor([1, 2], [1, 2], grad: true)
        let y = try GradMode.noGrad { try Ops.linear(tensor([1, 1], [1, 2]), w) }
        #expect(!y.needsGrad || y.isLeaf)
        #expect(throws: TensorError.self) { try y.backward() }
    }

    @Test func checkpointGivesTheSameGradients() throws {
        var rng = TestRNG(7)
        let x0 = rng.array(12), w0 = rng.array(16), n0 = rng.array(4)
        func run(_ useCheckpoint: Bool) throws -> ([Float], [Float], Float) {
            let x = tensor(x0, [3, 4], grad: true)
            let w = tensor(w0, [4, 4], grad: true)
            let nw = tensor(n0, [4], grad: true)
            let block: ([Tensor]) throws -> Tensor = { inp in
                let h = try Ops.rmsNorm(inp[0], weight: nw, eps: 1e-5)
                return try Ops.add(inp[0], try Ops.silu(try Ops.linear(h, w)))
            }
            let y = useCheckpoint ? try checkpoint([x], block) : try block([x])
            let loss = try Ops.sum(try Ops.mul(y, y))
            try loss.backward()
            return (x.grad!.toArray(), w.grad!.toArray() + nw.grad!.toArray(), loss.item)
        }
        let plain = try run(false), ckpt = try run(true)
        #expect(plain.2 == ckpt.2)
        #expect(plain.0 == ckpt.0)
        #expect(plain.1 == ckpt.1)
    }

    @Test func storedWeightsMatchTheirF32Values() throws {
        // A linear layer over f16 and bf16 weights equals one over the same values decoded to f32.
        var rng = TestRNG(3)
        let x = tensor(rng.array(3 * 64), [3, 64])
        let values = rng.array(40 * 64).map(Float.init)
        for dtype in [DType.f16, .bf16] {
            var bits: [UInt16]
            if dtype == .f16 {
                bits = [UInt16](repeating: 0, count: values.count)
                finchF32ToF16(values, &bits)
            } else {
                bits = values.map { UInt16($0.bitPattern >> 16) }
            }
            let stored = try bits.withUnsafeBytes { try Tensor(shape: [40, 64], dtype: dtype, bytes: $0.baseAddress!, owner: nil) }
            let decoded = try Tensor(stored.toArray(), shape: [40, 64])
            let a = try bits.withUnsafeBytes { _ in try Ops.linear(x, stored).toArray() }
            let b = try Ops.linear(x, decoded).toArray()
            #expect(maxRelError(a.map(Double.init), b.map(Double.init)) < 1e-6)
            #expect(maxRelError(decoded.toArray().map(Double.init), values.map(Double.init)) < (dtype == .f16 ? 1e-3 : 1e-2))
        }
    }

    @Test func steadyStateStepsAllocateNothingNew() throws {
        var rng = TestRNG(11)
        let w = tensor(rng.array(32 * 16), [32, 16], grad: true)
        let x = tensor(rng.array(8 * 16), [8, 16])
        func step() throws {
            let y = try Ops.swiglu(gate: try Ops.linear(x, w), up: try Ops.linear(x, w))
            try (try Ops.sum(y)).backward()
            w.grad = nil
        }
        try step()
        try step()
        let before = BufferPool.shared.systemAllocations
        for _ in 0..<5 { try step() }
        #expect(BufferPool.shared.systemAllocations == before)
    }

    /// A training step frees all its activations at the end of the backward and takes them back in the
    /// next forward: beyond `maxFreeBytes` the pool still keeps them (up to twice the most it ever had in
    /// use), so the next step gets no fresh, page-faulting memory from the system — also for the buffers
    /// of other sizes taken while the activations sit in the free lists (the adapter's gradients and the
    /// optimizer's snapshot), which before went back to the system every step.
    @Test func poolKeepsAStepsBuffersUpToItsHighWaterMark() {
        let pool = BufferPool()
        pool.maxFreeBytes = 4096
        func cycle() {
            let buffers = (0..<4).map { _ in pool.take(4096) }
            for p in buffers { pool.give(p, 4096) }
            let late = (0..<2).map { _ in pool.take(8192) }  // another class, after the step's went back
            for p in late { pool.give(p, 8192) }
        }
        cycle()
        let before = pool.systemAllocations
        cycle()
        cycle()
        #expect(pool.systemAllocations == before)
        // Past twice the mark (16 KiB in use at most, 32 KiB cached): a 12 KiB buffer goes back to the system.
        let other = pool.take(12288)
        pool.give(other, 12288)
        let again = pool.take(12288)
        #expect(pool.systemAllocations == before + 2)
        pool.give(again, 12288)
        pool.trim()
    }

    @Test func shapeErrorsNameTheOpAndShapes() {
        #expect(throws: TensorError.shapeMismatch(op: "linear", lhs: [2, 3], rhs: [4, 5])) {
            try Ops.linear(tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([Double](repeating: 0, count: 20), [4, 5]))
        }
        #expect(throws: TensorError.outOfRange(op: "embedding token id", value: 9, range: 0..<2)) {
            try Ops.embedding(tensor([1, 2, 3, 4], [2, 2]), ids: [0, 9])
        }
        #expect(throws: TensorError.self) { try Tensor([1, 2, 3], shape: [2, 2]) }
        #expect(TensorError.shapeMismatch(op: "add", lhs: [1], rhs: [2]).description.contains("add"))
        // sub and addScaled share one implementation; each still names itself.
        let a = tensor([1, 2], [2]), b = tensor([1, 2, 3], [3])
        #expect(throws: TensorError.shapeMismatch(op: "sub", lhs: [2], rhs: [3])) { try Ops.sub(a, b) }
        #expect(throws: TensorError.shapeMismatch(op: "addScaled", lhs: [2], rhs: [3])) { try Ops.addScaled(a, b, 2) }
    }
}

func finchF32ToF16(_ src: [Float], _ dst: inout [UInt16]) {
    src.withUnsafeBufferPointer { s in dst.withUnsafeMutableBufferPointer { d in
        finch_f32_to_f16(s.baseAddress!, d.baseAddress!, s.count)
    } }
}

@Suite struct BufferPoolTests {
    @Test func sizeClassesBoundTheWaste() {
        for n in [1, 63, 64, 65, 1000, 4096, 4097, 123_456, 10_000_000] {
            let c = BufferPool.sizeClass(n)
            #expect(c >= n)
            #expect(Double(c) <= max(64, Double(n) * 1.25))
        }
        #expect(BufferPool.sizeClass(5000) == BufferPool.sizeClass(5100))
    }
}
