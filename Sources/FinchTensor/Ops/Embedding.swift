// Embedding lookup: gathers rows of a (V, C) table (any DType) by token id. The backward
// scatter-adds rows into the table's gradient, so repeated ids and tied weights accumulate.

extension Ops {
    /// table (V, C), ids (N) → (N, C)
    public static func embedding(_ table: Tensor, ids: [Int32]) throws -> Tensor {
        guard table.rank == 2 else { throw TensorError.invalidShape(op: "embedding", shape: table.shape, expected: "(vocab, dim)") }
        let vocab = table.shape[0]
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw TensorError.outOfRange(op: "embedding token id", value: Int(bad), range: 0..<vocab)
        }
        let out = Tensor(uninitialized: [ids.count, table.shape[1]], device: table.device)
        table.backend.embeddingForward(table: table, ids: ids, out: out)
        let gt = table.gradSink, shape = table.shape
        return out.record([table]) { dout in
            guard let gt else { return }
            let dt = Tensor.zeros(shape, device: dout.device)
            dout.backend.embeddingBackward(ids: ids, dout: dout, dtable: dt)
            gt.accumulate(fresh: dt)
        }
    }
}

extension CPUBackend {
    public func embeddingForward(table: Tensor, ids: [Int32], out: Tensor) {
        Profiler.measure("embedding") {
        let c = table.cols
        let dtype = table.dtype
        let rowBytes = dtype.byteCount(elements: c)!
        let base = UnsafeRawPointer(table.rawBytes)
        let po = out.data
        ids.withUnsafeBufferPointer { idp in
            parallelFor(ids.count, minChunk: 16) { r in
                for i in r { dequantize(dtype, base + Int(idp[i]) * rowBytes, into: po + i * c, count: c) }
            }
        }
    }
    }

    public func embeddingBackward(ids: [Int32], dout: Tensor, dtable: Tensor) {
        let c = dtable.cols
        let pd = dout.data, pt = dtable.data
        for (i, id) in ids.enumerated() {
            let src = pd + i * c, dst = pt + Int(id) * c
            for j in 0..<c { dst[j] += src[j] }
        }
    }
}
