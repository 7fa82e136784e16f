import CFinchKernels
import Foundation

/// Frozen f32 weights packed once into the panels of Finch's packed SGEMM (`finch_sgemm_pack_b`), in the two
/// orientations training multiplies them in: y = x·Wᵀ (forward, "transposed") and dx = dy·W (input gradient,
/// "plain"). A product whose B is a registered weight, at the ISA level it was packed for, packs no B: LoRA
/// training otherwise repacks every frozen weight twice a step, straight from memory (2–12 % of each such
/// product on Zen 5: BENCHMARKS.md, session 8). Keyed by the weight's first element; an entry holds its
/// weight, so that memory cannot be reused by another tensor while registered.
/// A stored weight (quantized or 16-bit) is decoded once while it is packed and registered as it is: its products
/// read the packed forms, and no f32 copy of it stays (FrozenWeights packs SmolLM2's projections so, 0.4 GiB less
/// than keeping their f32 copies beside the packed ones). Other readers (decoding's mat-vecs) read the stored form.
/// Registered weights must not change (the trainer registers frozen ones for the length of a run).
final class PackedWeights: @unchecked Sendable {
    struct Packed {
        let storage: TensorStorage
        let level: Int32
        var floats: UnsafePointer<Float> { UnsafePointer(storage.raw.assumingMemoryBound(to: Float.self)) }
    }

    private struct Entry {
        let weight: Tensor
        var transposed: Packed?
        var plain: Packed?
    }

    private var entries: [UnsafeMutableRawPointer: Entry] = [:]
    private let lock = NSLock()

    /// Bytes one orientation of a rows × cols weight takes when packed at the calling thread's ISA level (0
    /// where there is no packed kernel: the scalar level, `FINCH_GEMM=blas`).
    static func bytes(rows: Int, cols: Int, transposed: Bool) -> Int {
        guard CPUBackend.usePackedGemm else { return 0 }
        let (n, k) = transposed ? (rows, cols) : (cols, rows)
        return finch_sgemm_packed_floats(finch_isa_active(), n, k) * MemoryLayout<Float>.stride
    }

    /// Where the registry keys `weight`: its first element's bytes (for f32, `data`).
    static func key(_ weight: Tensor) -> UnsafeMutableRawPointer { weight.rawBytes }

    /// Packs the f32 elements `values` of a frozen 2-D `shape` weight in one orientation at `level` into
    /// `storage` (`bytes` of it at that level); false where that is impossible. Allocates nothing, so it may
    /// run on any thread.
    static func pack(_ values: UnsafePointer<Float>, shape: [Int], transposed: Bool, level: Int32, into storage: TensorStorage) -> Bool {
        guard shape.count == 2 else { return false }
        let rows = shape[0], cols = shape[1]
        let (n, k) = transposed ? (rows, cols) : (cols, rows)
        guard storage.byteCount >= finch_sgemm_packed_floats(level, n, k) * MemoryLayout<Float>.stride else { return false }
        return finch_sgemm_pack_b(level, transposed ? 1 : 0, n, k, values, cols, storage.raw.assumingMemoryBound(to: Float.self)) == 0
    }

    /// Registers a packed form of `weight` (filled by `pack`); products at `packed.level` find it by `lookup`.
    func register(_ weight: Tensor, transposed: Bool, _ packed: Packed) {
        lock.lock()
        defer { lock.unlock() }
        let key = PackedWeights.key(weight)
        var entry = entries[key] ?? Entry(weight: weight)
        guard entry.weight.shape == weight.shape else { return }
        if transposed { entry.transposed = packed } else { entry.plain = packed }
        entries[key] = entry
    }

    /// The packed B of product `p` when B is a whole registered weight in the orientation `p` reads it, packed
    /// at the calling thread's level. A stored B is only ever the whole tensor (`offsetB` counts f32 elements).
    func lookup(_ p: GemmParams, b: Tensor) -> Packed? {
        guard p.batch == 1, b.dtype == .f32 || p.offsetB == 0 else { return nil }
        let key = b.dtype == .f32 ? UnsafeMutableRawPointer(b.data + p.offsetB) : PackedWeights.key(b)
        lock.lock()
        let entry = entries[key]
        lock.unlock()
        guard let entry else { return nil }
        let rows = entry.weight.shape[0], cols = entry.weight.shape[1]
        guard p.ldb == cols else { return nil }
        let packed: Packed?
        if p.transB { packed = p.n == rows && p.k == cols ? entry.transposed : nil }
        else { packed = p.k == rows && p.n == cols ? entry.plain : nil }
        guard let packed, packed.level == finch_isa_active() else { return nil }
        return packed
    }

    func remove(_ weights: [Tensor]) {
        lock.lock()
        for w in weights { entries[PackedWeights.key(w)] = nil }
        lock.unlock()
    }
}

extension CPUBackend {
    /// The bytes `packFrozenWeights` would take for these weights (same budget, same order).
    public func packedWeightBytes(transposed: [Tensor], plain: [Tensor], budgetBytes: Int) -> Int {
        plan(transposed: transposed, plain: plain, budgetBytes: budgetBytes).reduce(0) { $0 + $1.bytes }
    }

    private func plan(transposed: [Tensor], plain: [Tensor], budgetBytes: Int) -> [(weight: Tensor, transposed: Bool, bytes: Int)] {
        var out: [(weight: Tensor, transposed: Bool, bytes: Int)] = []
        var used = 0
        // Every forward orientation first (those products also run in evaluation), then the input gradients'.
        for (list, t) in [(transposed, true), (plain, false)] {
            // Any dtype: a stored weight is decoded while it is packed (or, in the old plan, before).
            for w in list where w.rank == 2 && w.device == .cpu && !w.needsGrad {
                let b = PackedWeights.bytes(rows: w.shape[0], cols: w.shape[1], transposed: t)
                guard b > 0, used + b <= budgetBytes else { continue }
                used += b
                out.append((w, t, b))
            }
        }
        return out
    }

    /// Packs frozen weights for the products that read them (`transposed`: y = x·Wᵀ; `plain`: dx = dy·W),
    /// forward orientations first, within `budgetBytes`, until `releasePackedWeights(_:)`. Returns the bytes taken.
    /// A stored (quantized or 16-bit) weight is decoded into one f32 scratch while its orientations are packed,
    /// one weight after another, so no more than the largest one's f32 copy exists at a time.
    @discardableResult
    public func packFrozenWeights(transposed: [Tensor], plain: [Tensor], budgetBytes: Int) -> Int {
        let work = plan(transposed: transposed, plain: plain, budgetBytes: budgetBytes)
        guard !work.isEmpty, !DeviceErrors.isPending else { return 0 }
        // Allocated on this thread, where an allocation failure is recorded and the caller checks for it
        // (pending errors are per thread): then nothing is packed, and the buffers go back with `storages`.
        var storages: [TensorStorage] = []
        for w in work {
            storages.append(TensorStorage(pooledBytes: w.bytes))
            if DeviceErrors.isPending { return 0 }
        }
        let largestStored = work.lazy.filter { $0.weight.dtype != .f32 }.map(\.weight.count).max() ?? 0
        let scratch = largestStored > 0 ? TensorStorage(pooledBytes: largestStored * MemoryLayout<Float>.stride) : nil
        if DeviceErrors.isPending { return 0 }
        let level = finch_isa_active()
        let done = UnsafeMutableBufferPointer<Bool>.allocate(capacity: work.count)
        done.initialize(repeating: false)
        defer { done.deallocate() }
        let f32Items = work.indices.filter { work[$0].weight.dtype == .f32 }
        parallelPerform(f32Items.count) { j in
            let w = work[f32Items[j]]
            done[f32Items[j]] = PackedWeights.pack(w.weight.data, shape: w.weight.shape, transposed: w.transposed, level: level, into: storages[f32Items[j]])
        }
        if let scratch {
            // One stored weight at a time through the scratch, its orientations (at most two) side by side.
            let values = scratch.raw.assumingMemoryBound(to: Float.self)
            let stored = Dictionary(grouping: work.indices.filter { work[$0].weight.dtype != .f32 }) { PackedWeights.key(work[$0].weight) }
            for items in stored.values {
                let w = work[items[0]].weight
                dequantizeRows(w, rows: 0..<w.shape[0], into: values)
                parallelPerform(items.count) { j in
                    done[items[j]] = PackedWeights.pack(values, shape: w.shape, transposed: work[items[j]].transposed, level: level, into: storages[items[j]])
                }
            }
        }
        withExtendedLifetime(scratch) {}
        var taken = 0
        for (i, w) in work.enumerated() where done[i] {
            packedWeights.register(w.weight, transposed: w.transposed, PackedWeights.Packed(storage: storages[i], level: level))
            taken += w.bytes
        }
        return taken
    }

    /// Frees the packed forms of `weights` (what `packFrozenWeights` was given); products read them as they
    /// are again.
    public func releasePackedWeights(_ weights: [Tensor]) {
        packedWeights.remove(weights)
        BufferPool.shared.trim()  // the packed buffers' sizes are unlike any other: keep none cached
    }
}
