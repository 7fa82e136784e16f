/// The backend seam.
///
/// Model and training code never touch memory directly: they call the ops in `Ops/` (each an
/// autograd-aware function whose forward and backward sit side by side), and every op hands its
/// numeric work to the `Backend` of its operands' device through the kernel methods below. The
/// CPU backend implements them with OpenBLAS and Dispatch-parallel loops over unsafe buffers. A
/// CUDA backend implements the same protocol over device storage (its `TensorStorage.device` is
/// `.cuda(n)`), with its own allocator; nothing above this protocol changes. Data-parallel
/// training over several devices would hold one backend per device and all-reduce gradients
/// between `backward` and the optimizer step.
///
/// Kernels write into outputs that the op allocated with `makeTensor` (shapes are already
/// checked by the op), and gradient kernels accumulate (`+=`) into gradient buffers.
///
/// Failures are sticky, never exits. Kernels and allocation do not throw (they sit under every op,
/// and backward closures cannot throw), so a backend that cannot allocate, or whose library call
/// fails, records a `DeviceError` in `DeviceErrors` and carries on harmlessly: an allocation hands
/// out a stand-in (address space only backed when written on the CPU; a placeholder block on CUDA
/// that no kernel touches), and while an error is pending the kernels skip their work (CPU:
/// `parallelFor` and `gemm`; CUDA: launches, products and copies), so the results of that op are
/// garbage that nobody keeps. Boundaries take the error and throw it: the trainer after the
/// forward, after the backward, before and after the optimizer step (which it applies only when
/// nothing is pending, and undoes from a snapshot if the step itself failed, so the adapter keeps
/// the values of the last good step), and every notebook built-in (`bridge`) before and after it
/// runs, so a failure reaches the cell as an error and the session goes on. A CUDA error that
/// poisons the context (`DeviceError.poisoned`) ends that device's use; the trainer then leaves the
/// adapter in host memory. `FaultInjection` (`FINCH_FAULT=alloc:N`, …) fails an allocation on
/// purpose to test all of this.
public protocol Backend: AnyObject {
    var device: Device { get }

    /// Uninitialised storage for `count` f32 elements on this device.
    func allocate(count: Int) -> TensorStorage
    /// Uninitialised storage of `bytes` bytes holding `dtype` elements (weights kept in a stored
    /// precision: bf16, or GGUF quant blocks that kernels decode as they read).
    func allocate(bytes: Int, dtype: DType) -> TensorStorage

    // MARK: Moving bytes between the host and this device
    /// Copies `byteCount` host bytes to `dst`'s first stored byte (its offset included).
    func upload(_ bytes: UnsafeRawPointer, byteCount: Int, into dst: Tensor)
    /// Copies `byteCount` stored bytes of `src` (from its offset) to host memory; waits for them.
    func download(_ src: Tensor, into bytes: UnsafeMutableRawPointer, byteCount: Int)
    /// Returns when all work queued on this device has finished (timing; a no-op on the CPU).
    func synchronize()
    /// Bytes this device offers (RAM for the CPU), and the most the engine held since `resetPeak`.
    var memoryCapacity: Int { get }
    var peakBytesInUse: Int { get }
    func resetPeak()

    // MARK: Matrix products
    /// C = alpha · op(A) · op(B) + beta · C for row-major matrices, `batch` times with the given
    /// element strides between consecutive matrices. op(X) is X or Xᵀ. A may be stored in any
    /// DType (quantized rows are dequantized into scratch); B and C are f32.
    func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor)

    // MARK: Element-wise and row-wise kernels (forward and backward side by side in Ops/)
    func elementwise(_ op: ElementwiseOp, _ x: Tensor, _ y: Tensor?, out: Tensor)
    func rmsNormForward(x: Tensor, weight: Tensor, eps: Float, out: Tensor, rstd: Tensor)
    func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, dweight: Tensor?)
    /// The same, adding dx onto what dx holds when `accumulate` (a default in RMSNorm.swift: fresh, then added).
    func rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dout: Tensor, dx: Tensor?, accumulate: Bool, dweight: Tensor?)
    /// sum = x + a, out = rmsNorm(sum) (a default in RMSNorm.swift: the add, then the norm).
    func addRMSNormForward(x: Tensor, a: Tensor, weight: Tensor, eps: Float, sum: Tensor, out: Tensor, rstd: Tensor)
    func rope(x: Tensor, cos: Tensor, sin: Tensor, positions: [Int32], heads: Int, inverse: Bool, out: Tensor)
    func swigluForward(gate: Tensor, up: Tensor, out: Tensor)
    func swigluBackward(gate: Tensor, up: Tensor, dout: Tensor, dgate: Tensor, dup: Tensor)
    func attentionForward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor)
    func attentionBackward(_ p: AttentionParams, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                           dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor)
    func embeddingForward(table: Tensor, ids: [Int32], out: Tensor)
    func embeddingBackward(ids: [Int32], dout: Tensor, dtable: Tensor)
    func logSoftmaxForward(x: Tensor, out: Tensor)
    func logSoftmaxBackward(out: Tensor, dout: Tensor, dx: Tensor)
    /// The LM head's cross-entropy, one chunk of rows (`Ops.linearCrossEntropy` drives the chunks):
    /// losses[i] = logsumexp(logits[i]) − logits[i, labels[i]] for rows that all count; with
    /// `gradient`, each row becomes softmax − onehot in place (d loss / d logits).
    func crossEntropyRows(logits: Tensor, labels: [Int32], losses: Tensor, gradient: Bool)
    /// Bytes of f32 logits one chunk of the LM-head cross-entropy may hold.
    var crossEntropyChunkBytes: Int { get }
    /// dst (n, C) = the rows `rows` of src.
    func gatherRows(_ src: Tensor, rows: [Int32], into dst: Tensor)
    /// The rows `rows` of dst += src (n, C).
    func scatterAddRows(_ src: Tensor, rows: [Int32], into dst: Tensor)
    func sumSquares(_ x: Tensor) -> Double

    // MARK: Optimizer steps (in place over parameter, gradient and state of one tensor)
    /// PyTorch's AdamW: p ← p·(1 − lr·wd); m, v moments; p ← p − stepSize · m / (√v / √bc2 + eps).
    func adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, _ h: AdamWStep)
    /// PyTorch's SGD with coupled weight decay and optional momentum buffer.
    func sgdStep(param: Tensor, grad: Tensor, buffer: Tensor?, lr: Float, momentum: Float, weightDecay: Float, first: Bool)
    func fill(_ x: Tensor, _ value: Float)
    func copy(_ src: Tensor, into dst: Tensor)

    /// `t` is about to be the input of several products (base projections and their LoRA A
    /// products): a backend that multiplies in lower precision may make its copy now, so that
    /// every product reads the same copy. Only a hint.
    func prepareSharedOperand(_ t: Tensor)

    // MARK: Pairs of matrix products (LoRA branches). Last in the protocol, so that code built against the
    // protocol without them keeps its witness-table offsets for the requirements above.
    /// C = op(A)·op(B) + op(A2)·op(B2) + β·C (β from `p`, each product's α from its own parameters; `p2` has
    /// p's m, n, ldc and offsetC): a LoRA branch beside its base product, which a backend may run as one
    /// product (the CPU packs the branch as more k columns) so that C is written once. The default,
    /// `gemmInTurn`, runs the branch first and the base product adds onto it.
    func gemm(_ p: GemmParams, a: Tensor, b: Tensor, plus p2: GemmParams, a2: Tensor, b2: Tensor, c: Tensor)
    /// C = op(A)·op(B) per `p` and C2 = op(A)ᵀ·op(B2) per `q` (q.transA == !p.transA): two products over the
    /// same A (the LoRA backward's dxa = s·dy·B and dB = s·dyᵀ·xa), which a backend may run in one pass over A.
    /// The default runs them in turn.
    func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor, andTransposed q: GemmParams, b2: Tensor, c2: Tensor)

    // MARK: Optimizer passes over many tensors (an adapter is hundreds of small ones). Defaults: each in turn.
    /// `adamwStep(param:grad:m:v:_:)` on each, which a backend may run as one parallel pass.
    func adamwStep(_ tensors: [AdamWTensors], _ h: AdamWStep)
    /// Σ x² over all of `xs`.
    func sumSquares(_ xs: [Tensor]) -> Double

    // MARK: Fused passes (last, for the same reason as the pairs above)
    /// `swigluBackward` with an adapter's dA = dxaᵀ · (silu(gate) ⊙ up) (a default in SwiGLU.swift: the product
    /// rebuilt whole).
    func swigluLoRABackward(gate: Tensor, up: Tensor, dout: Tensor, dxa: Tensor, dgate: Tensor, dup: Tensor, da: Tensor)
}

extension Backend {
    public func prepareSharedOperand(_ t: Tensor) {}

    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, plus p2: GemmParams, a2: Tensor, b2: Tensor, c: Tensor) {
        gemmInTurn(p, a: a, b: b, plus: p2, a2: a2, b2: b2, c: c)
    }

    public func gemm(_ p: GemmParams, a: Tensor, b: Tensor, c: Tensor, andTransposed q: GemmParams, b2: Tensor, c2: Tensor) {
        gemm(p, a: a, b: b, c: c)
        gemm(q, a: a, b: b2, c: c2)
    }

    public func adamwStep(_ tensors: [AdamWTensors], _ h: AdamWStep) {
        for t in tensors { adamwStep(param: t.param, grad: t.grad, m: t.m, v: t.v, h) }
    }

    public func sumSquares(_ xs: [Tensor]) -> Double { xs.reduce(0) { $0 + sumSquares($1) } }

    /// The two products of `gemm(_:a:b:plus:…)` one after the other: the branch (small) first, then the base
    /// product adds onto it with β = 1 (reading C back hides under the large product).
    public func gemmInTurn(_ p: GemmParams, a: Tensor, b: Tensor, plus p2: GemmParams, a2: Tensor, b2: Tensor, c: Tensor) {
        var branch = p2
        branch.beta = p.beta
        gemm(branch, a: a2, b: b2, c: c)
        var base = p
        base.beta = 1
        gemm(base, a: a, b: b, c: c)
    }
}

/// One parameter's tensors for an AdamW step: the parameter, its gradient and its two moments (same size).
public struct AdamWTensors {
    public let param: Tensor, grad: Tensor, m: Tensor, v: Tensor
    public init(param: Tensor, grad: Tensor, m: Tensor, v: Tensor) {
        self.param = param; self.grad = grad; self.m = m; self.v = v
    }
}

/// One AdamW step's scalars (bias corrections already folded in by the optimizer).
public struct AdamWStep: Sendable {
    public var beta1: Float, beta2: Float, eps: Float
    /// lr / (1 − β1ᵗ)
    public var stepSize: Float
    /// √(1 − β2ᵗ)
    public var bc2Sqrt: Float
    /// 1 − lr · weight decay
    public var decay: Float
    public init(beta1: Float, beta2: Float, eps: Float, stepSize: Float, bc2Sqrt: Float, decay: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        self.stepSize = stepSize; self.bc2Sqrt = bc2Sqrt; self.decay = decay
    }
}

public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)
    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .cuda(n): return "cuda:\(n)"
        }
    }
}

/// Row-major GEMM description: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C.
public struct GemmParams: Sendable {
    public var m: Int, n: Int, k: Int
    public var transA: Bool, transB: Bool
    public var lda: Int, ldb: Int, ldc: Int
    public var offsetA = 0, offsetB = 0, offsetC = 0
    public var alpha: Float = 1, beta: Float = 0
    public var batch = 1
    public var strideA = 0, strideB = 0, strideC = 0

    public init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, lda: Int, ldb: Int, ldc: Int) {
        self.m = m; self.n = n; self.k = k
        self.transA = transA; self.transB = transB
        self.lda = lda; self.ldb = ldb; self.ldc = ldc
    }
}

/// Causal scaled-dot-product attention over the (B, T, H·D) layout the projections produce:
/// no transposes are materialised. Query head h reads key/value head h / (H / KVH) (GQA).
public struct AttentionParams: Sendable {
    public var batch: Int, seqLen: Int, heads: Int, kvHeads: Int, headDim: Int
    public var scale: Float
    /// Positions of the first query within the key sequence (0 unless keys include a cache).
    public var queryOffset: Int = 0
    /// Key length (≥ seqLen + queryOffset when a KV cache precedes the queries).
    public var keyLen: Int

    public init(batch: Int, seqLen: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil) {
        self.batch = batch; self.seqLen = seqLen; self.heads = heads; self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.keyLen = seqLen
    }
}

public enum ElementwiseOp: Sendable {
    case add, sub, mul
    /// x + y where y has shape (C) and x (…, C).
    case addRow
    /// out = x · scalar
    case scale(Float)
    /// out = x + scalar · y  (axpy)
    case addScaled(Float)
    case silu
}

/// The backend for a device. Only the CPU backend is built in; others register themselves
/// (FinchCUDA registers `.cuda(n)` once it has found a GPU and loaded the driver).
public enum Backends {
    public static let cpu = CPUBackend()
    nonisolated(unsafe) public static var registered: [Device: Backend] = [:]

    public static func backend(for device: Device) -> Backend {
        if device == .cpu { return cpu }
        // A tensor can only exist on a device whose backend made its storage, so this is a
        // programming error, never a user-input path.
        guard let b = registered[device] else { preconditionFailure("no backend registered for \(device)") }
        return b
    }

    public static func isAvailable(_ device: Device) -> Bool { device == .cpu || registered[device] != nil }
}
