/// An n-dimensional array computed in f32, row-major and contiguous. Its storage may be f32 or, for
/// frozen weights, any `DType` (only the ops that read weights accept those: `linear`, `embedding`).
///
/// Tensors are reference types: the autograd graph links outputs to the inputs they came from.
public final class Tensor: CustomStringConvertible {
    public let shape: [Int]
    public let storage: TensorStorage
    /// Offset of the first element in the storage, in elements (views share storage).
    public let offset: Int
    public let count: Int
    public var name: String?
    /// The autograd node: set for trainable leaves and for results computed from them.
    var node: GradNode?

    public init(shape: [Int], storage: TensorStorage, offset: Int = 0, requiresGrad: Bool = false) {
        self.shape = shape
        self.storage = storage
        self.offset = offset
        self.count = shape.reduce(1, *)
        if requiresGrad { self.requiresGrad = true }
    }

    /// A new uninitialised f32 tensor on `device`.
    public convenience init(uninitialized shape: [Int], device: Device = .cpu) {
        let n = shape.reduce(1, *)
        self.init(shape: shape, storage: Backends.backend(for: device).allocate(count: n))
    }

    public static func zeros(_ shape: [Int], device: Device = .cpu) -> Tensor {
        let t = Tensor(uninitialized: shape, device: device)
        t.backend.fill(t, 0)
        return t
    }

    public static func full(_ shape: [Int], _ value: Float, device: Device = .cpu) -> Tensor {
        let t = Tensor(uninitialized: shape, device: device)
        t.backend.fill(t, value)
        return t
    }

    /// A CPU tensor holding `values` (row-major).
    public convenience init(_ values: [Float], shape: [Int]) throws {
        let n = shape.reduce(1, *)
        guard n == values.count else { throw TensorError.countMismatch(op: "Tensor", expected: n, got: values.count) }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: n) }
    }

    /// A tensor over stored (possibly quantized) bytes, e.g. a weight in a memory-mapped file.
    public convenience init(shape: [Int], dtype: DType, bytes: UnsafeRawPointer, owner: AnyObject?) throws {
        let n = shape.reduce(1, *)
        guard let inner = shape.last, inner % dtype.blockSize == 0, let size = dtype.byteCount(elements: n) else {
            throw TensorError.invalidShape(op: "Tensor(\(dtype))", shape: shape,
                                           expected: "a last dimension that is a multiple of \(dtype.blockSize)")
        }
        self.init(shape: shape, storage: TensorStorage(borrowing: bytes, byteCount: size, dtype: dtype, owner: owner))
    }

    public var dtype: DType { storage.dtype }
    public var device: Device { storage.device }
    public var backend: Backend { Backends.backend(for: storage.device) }
    public var rank: Int { shape.count }
    /// Rows when viewed as a matrix (all but the last dimension).
    public var rows: Int { shape.count <= 1 ? 1 : count / shape[shape.count - 1] }
    public var cols: Int { shape.last ?? 1 }

    /// The f32 elements (CPU, f32 storage only).
    @inlinable public var data: UnsafeMutablePointer<Float> {
        storage.raw.assumingMemoryBound(to: Float.self) + offset
    }

    /// Stored bytes of the first element (any dtype, offset in whole rows for block formats).
    public var rawBytes: UnsafeMutableRawPointer {
        storage.raw + (dtype.byteCount(elements: offset) ?? 0)
    }

    /// Copies the elements out (dequantizing if needed; from a device, waiting for its queued work).
    public func toArray() -> [Float] {
        if device != .cpu {
            var out = [Float](repeating: 0, count: count)
            let bytes = dtype.byteCount(elements: count) ?? 0
            if dtype == .f32 {
                out.withUnsafeMutableBytes { backend.download(self, into: $0.baseAddress!, byteCount: bytes) }
            } else {
                let staged = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
                defer { staged.deallocate() }
                backend.download(self, into: staged, byteCount: bytes)
                out.withUnsafeMutableBufferPointer { dequantize(dtype, staged, into: $0.baseAddress!, count: count) }
            }
            return out
        }
        if dtype == .f32 { return Array(UnsafeBufferPointer(start: data, count: count)) }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dequantize(dtype, rawBytes, into: $0.baseAddress!, count: count) }
        return out
    }

    /// This tensor's values on `device`, stored as `dtype` (default: as now). Stored precisions
    /// convert on the host: f32/f16/bf16 to any of them or to q8_0/q4_0/q4_1 by quantizing; quant
    /// blocks only to f32/f16/bf16 (decoded). A tensor already there in that dtype is returned
    /// as is. No autograd history is carried over: this is for placing weights and data.
    public func moved(to device: Device, dtype target: DType? = nil) throws -> Tensor {
        let want = target ?? dtype
        if device == self.device && want == dtype { return self }
        // Host bytes in the wanted dtype.
        var host: Tensor = self
        if self.device != .cpu || (dtype != want && dtype != .f32) { host = try Tensor(toArray(), shape: shape) }
        if host.dtype != want {
            guard let bytes = want.byteCount(elements: count), count % want.blockSize == 0 else {
                throw ConversionError.notWholeBlocks(dtype: want, count: count)
            }
            let encoded = Tensor(shape: shape, storage: TensorStorage(pooledBytes: bytes, dtype: want))
            try quantize(want, host.data, into: encoded.rawBytes, count: count)
            host = encoded
        }
        if device == .cpu { return host }
        let bytes = host.dtype.byteCount(elements: count)!
        let dst = Tensor(shape: shape, storage: Backends.backend(for: device).allocate(bytes: bytes, dtype: host.dtype))
        dst.backend.upload(UnsafeRawPointer(host.rawBytes), byteCount: bytes, into: dst)
        return dst
    }

    /// Overwrites this f32 tensor's elements with `values` (row-major), on whatever device it lives.
    public func assign(_ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try assign($0) }
    }

    /// Copies `values` in (to the device, if the tensor is on one) without an intermediate array.
    public func assign(_ values: UnsafeBufferPointer<Float>) throws {
        guard dtype == .f32 else { throw TensorError.unsupportedDType(op: "assign", dtype: dtype) }
        guard values.count == count else { throw TensorError.countMismatch(op: "assign", expected: count, got: values.count) }
        guard let base = values.baseAddress else { return }
        backend.upload(UnsafeRawPointer(base), byteCount: count * 4, into: self)
    }

    /// The single value of a one-element tensor.
    public var item: Float { toArray()[0] }

    /// A tensor sharing this one's storage with another shape of the same element count.
    /// Gradients flow back through the view.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var dims = newShape
        if let i = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", lhs: shape, rhs: newShape)
            }
            dims[i] = count / known
        }
        guard dims.reduce(1, *) == count, dims.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch(op: "reshape", lhs: shape, rhs: newShape)
        }
        let view = Tensor(shape: dims, storage: storage, offset: offset)
        if let sink = gradSink {
            let sourceShape = shape
            view.record([self]) { dview in
                // A view's gradient is the same numbers in the source's shape.
                sink.accumulate(Tensor(shape: sourceShape, storage: dview.storage, offset: dview.offset))
            }
        }
        return view
    }

    /// Rows [range] of a tensor seen as a matrix, sharing storage (f32 or block formats by whole rows).
    public func rowSlice(_ range: Range<Int>) throws -> Tensor {
        guard range.lowerBound >= 0, range.upperBound <= rows else {
            throw TensorError.outOfRange(op: "rowSlice", value: range.upperBound, range: 0..<(rows + 1))
        }
        var dims = [range.count, cols]
        if shape.count == 1 { dims = [range.count * cols] }
        return Tensor(shape: dims, storage: storage, offset: offset + range.lowerBound * cols)
    }

    /// A copy with no autograd history.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, offset: offset)
    }

    /// A deep copy (f32).
    public func clone() -> Tensor {
        let t = Tensor(uninitialized: shape, device: device)
        backend.copy(self, into: t)
        return t
    }

    public var description: String {
        let n = Swift.min(count, 6)
        let head = dtype == .f32 && device == .cpu ? (0..<n).map { String(format4(data[$0])) }.joined(separator: ", ") : "…"
        return "Tensor(\(shape), \(dtype)\(device == .cpu ? "" : ", \(device)"): [\(head)\(count > n ? ", …" : "")])"
    }
}

private func format4(_ x: Float) -> String {
    let v = (Double(x) * 10_000).rounded() / 10_000
    return "\(v)"
}

// MARK: - Validation helpers shared by the ops

@usableFromInline
func requireF32(_ op: String, _ tensors: Tensor...) throws {
    for t in tensors where t.dtype != .f32 {
        throw TensorError.unsupportedDType(op: op, dtype: t.dtype)
    }
}

@usableFromInline
func requireSameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: op, lhs: a.shape, rhs: b.shape) }
}
