import Foundation
import FinchCUDA
import FinchModels
import FinchSupport
import FinchTensor
import FinchTrain

/// The GPU backend checked against the CPU backend (and the PEFT fixtures) op by op and for whole
/// training steps. Run by `finch selftest --device cuda` on a GPU machine and by FinchCUDATests,
/// which are skipped, visibly, where there is no GPU. Every comparison is ‖gpu − ref‖ / ‖ref‖ over
/// fresh random inputs; tolerances: f32 paths 1e-4 (1e-5 for pure element-wise), paths that round
/// activations to bf16 for the matrix units 2e-2.
public enum GPUChecks {
    public struct Result: Sendable {
        public let name: String
        public let error: Double
        public let tolerance: Double
        public var passed: Bool { error.isFinite && error <= tolerance }
    }

    /// All checks, in order; `fixtures` is the folder holding tiny-llama3.json etc.
    public static func run(device: Device, fixtures: String?, log: (Result) -> Void = { _ in }) throws -> [Result] {
        var results: [Result] = []
        // A device failure is not a numerical mismatch: each check throws it (see `Backend`).
        func add(_ r: Result) throws { try DeviceErrors.check(); results.append(r); log(r) }
        // Exact f32 first (SIMT attention, f32 products), then the default bf16 paths at their own tolerance.
        var cuda: CUDABackend?
        if case let .cuda(n) = device { cuda = CUDA.backend(n) }
        let saved = (cuda?.attentionPrecision ?? .f32, cuda?.f32Products ?? .f32)
        cuda?.attentionPrecision = .f32
        cuda?.f32Products = .f32
        defer { cuda?.attentionPrecision = saved.0; cuda?.f32Products = saved.1 }
        for r in try opChecks(device) { try add(r) }
        if let cuda {
            // The default attention: flash attention on the matrix units (bf16 operands) where the
            // shape allows, the SIMT kernels elsewhere.
            cuda.attentionPrecision = .bf16
            for r in try attentionChecks(device, tol: 2e-2, label: " (bf16, flash)") { try add(r) }
            for (precision, tol) in [(CUDABackend.ProductPrecision.tf32, 5e-3), (.bf16, 2e-2)] {
                cuda.f32Products = precision
                try add(try compare("linear f32 fwd+bwd (\(precision.rawValue))", device, tol: tol) { d in
                    var rng = SplitMix64(seed: 11)
                    let x = try leaf(random(300 * 64, &rng), [300, 64], d), w = try leaf(random(40 * 64, &rng, scale: 0.2), [40, 64], d)
                    let y = try Ops.linear(x, w)
                    try y.backward(seed: try Tensor(random(300 * 40, &rng), shape: [300, 40]).moved(to: d))
                    return [y, gradient(x), gradient(w)]
                })
                try add(try compare("LoRA linear, bf16 base, reused bf16 input (\(precision.rawValue))", device, tol: 2e-2) { d in
                    var rng = SplitMix64(seed: 12)
                    let x = try leaf(random(300 * 64, &rng), [300, 64], d)
                    let w1 = try Tensor(random(40 * 64, &rng, scale: 0.2), shape: [40, 64]).moved(to: d, dtype: .bf16)
                    let w2 = try Tensor(random(24 * 64, &rng, scale: 0.2), shape: [24, 64]).moved(to: d, dtype: .bf16)
                    let a = try leaf(random(4 * 64, &rng, scale: 0.2), [4, 64], d), b = try leaf(random(40 * 4, &rng, scale: 0.2), [40, 4], d)
                    // Two layers reading the same input, as q and k do: the second reuses its bf16 copy.
                    let y1 = try Ops.loraLinear(x, weight: w1, bias: nil, a: a, b: b, scale: 2)
                    let y2 = try Ops.linear(x, w2)
                    try y1.backward(seed: try Tensor.full(y1.shape, 1).moved(to: d))
                    try y2.backward(seed: try Tensor.full(y2.shape, 1).moved(to: d))
                    return [y1, y2, gradient(x), gradient(a), gradient(b)]
                })
            }
            for r in try trainingStepChecks(device, tol: 1e-2, label: " (bf16 attention and LoRA products)", lossesOnly: true) { try add(r) }
            // The default products with every activation "large": the bf16 copies written by the
            // producing kernels and read by the LoRA products are all taken.
            cuda.f32Products = .tf32
            let small = cuda.smallOperand
            cuda.smallOperand = 64
            defer { cuda.smallOperand = small }
            for r in try trainingStepChecks(device, tol: 1e-2, label: " (bf16 copies of every activation)", lossesOnly: true) { try add(r) }
            cuda.attentionPrecision = .f32
            cuda.f32Products = .f32
        }
        if let fixtures {
            for name in ["tiny-llama3", "tiny-qwen2"] {
                for r in try fixtureChecks(name, dir: fixtures, device: device) { try add(r) }
            }
        }
        for r in try trainingStepChecks(device) { try add(r) }
        return results
    }

    // MARK: Helpers

    static func relError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    static func random(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
    }

    /// A tensor's gradient, or an empty tensor (which fails the comparison) when it has none.
    static func gradient(_ t: Tensor) -> Tensor {
        t.grad ?? Tensor(shape: [0], storage: TensorStorage(pooledBytes: 0))
    }

    static func leaf(_ v: [Float], _ shape: [Int], _ d: Device, grad: Bool = true, dtype: DType = .f32) throws -> Tensor {
        let t = try Tensor(v, shape: shape).moved(to: d, dtype: dtype)
        if grad { t.requiresGrad = true }
        return t
    }

    /// Runs `body` on the CPU and on `device` with the same inputs and compares every returned tensor.
    static func compare(_ name: String, _ device: Device, tol: Double, _ body: (Device) throws -> [Tensor]) throws -> Result {
        let cpu = try body(.cpu).map { $0.toArray() }
        let gpu = try body(device).map { $0.toArray() }
        var worst = 0.0
        for (g, c) in zip(gpu, cpu) { worst = max(worst, relError(g, c)) }
        if gpu.count != cpu.count { worst = .infinity }
        return Result(name: name, error: worst, tolerance: tol)
    }

    // MARK: Ops

    static func opChecks(_ dev: Device) throws -> [Result] {
        var out: [Result] = []
        // Decoding's products on frozen weights (GPU: quantized blocks through matvec_stored, bf16 cuBLAS): 1 and
        // 3 rows, 34 blocks of 32 (a full and a partial 1024-column chunk), 37 outputs, β 0 and 1.
        // bf16 weights go through cuBLAS with x rounded to bf16 (hence its tolerance); the blocks are exact.
        // nf4 rows are 17 blocks of 64: matvec_stored reads them as 34 halves.
        for (dtype, tol) in [(DType.bf16, 2e-2), (.q8_0, 1e-4), (.q4_0, 1e-4), (.q4_1, 1e-4), (.nf4, 1e-4)] {
            out.append(try compare("decode linear \(dtype), 1 and 3 rows, + LoRA branch", dev, tol: tol) { d in
                var rng = SplitMix64(seed: 25)
                let k = 34 * 32
                let w = try Tensor(random(37 * k, &rng, scale: 0.2), shape: [37, k]).moved(to: .cpu, dtype: dtype).moved(to: d)
                let a = try leaf(random(4 * k, &rng, scale: 0.1), [4, k], d, grad: false), b = try leaf(random(37 * 4, &rng), [37, 4], d, grad: false)
                let x1 = try leaf(random(k, &rng), [1, k], d, grad: false), x3 = try leaf(random(3 * k, &rng), [3, k], d, grad: false)
                return try GradMode.noGrad {
                    [try Ops.linear(x1, w), try Ops.linear(x3, w), try Ops.loraLinear(x3, weight: w, bias: nil, a: a, b: b, scale: 0.5)]
                }
            })
        }
        // Two LoRA linears on one input, large enough for the short-inner-size product kernel:
        // xa·Bᵀ (k = 40: a full and a partial 32-step), dxa·A into a fresh and an existing dx (β 0, 1).
        out.append(try compare("LoRA linear f32, r 40 and 16, shared input, fwd+bwd", dev, tol: 1e-4) { d in
            var rng = SplitMix64(seed: 24)
            let x = try leaf(random(300 * 256, &rng), [300, 256], d)
            let w1 = try leaf(random(520 * 256, &rng, scale: 0.1), [520, 256], d, grad: false)
            let w2 = try leaf(random(128 * 256, &rng, scale: 0.1), [128, 256], d, grad: false)
            let a1 = try leaf(random(40 * 256, &rng, scale: 0.1), [40, 256], d), b1 = try leaf(random(520 * 40, &rng, scale: 0.1), [520, 40], d)
            let a2 = try leaf(random(16 * 256, &rng, scale: 0.1), [16, 256], d), b2 = try leaf(random(128 * 16, &rng, scale: 0.1), [128, 16], d)
            let y1 = try Ops.loraLinear(x, weight: w1, bias: nil, a: a1, b: b1, scale: 2)
            let y2 = try Ops.loraLinear(x, weight: w2, bias: nil, a: a2, b: b2, scale: 0.5)
            try y1.backward(seed: try Tensor(random(300 * 520, &rng), shape: [300, 520]).moved(to: d))
            try y2.backward(seed: try Tensor(random(300 * 128, &rng), shape: [300, 128]).moved(to: d))
            return [y1, y2, gradient(x), gradient(a1), gradient(b1), gradient(a2), gradient(b2)]
        })
        // linear: f32 (x and W gradients), then frozen weights in each stored type (x gradient).
        for (dtype, tol) in [(DType.f32, 1e-4), (.bf16, 2e-2), (.q8_0, 2e-2), (.q4_0, 2e-2), (.q4_1, 2e-2), (.nf4, 2e-2)] {
            out.append(try compare("linear \(dtype) fwd+bwd", dev, tol: tol) { d in
                var rng = SplitMix64(seed: 11)
                let x = try leaf(random(37 * 64, &rng), [37, 64], d)
                let wHost = try Tensor(random(40 * 64, &rng, scale: 0.2), shape: [40, 64]).moved(to: .cpu, dtype: dtype)
                let w = try wHost.moved(to: d)
                if dtype == .f32 { w.requiresGrad = true }
                let b = try leaf(random(40, &rng), [40], d, grad: false)
                let y = try Ops.linear(x, w, bias: b)
                try y.backward(seed: try Tensor(random(37 * 40, &rng), shape: [37, 40]).moved(to: d))
                return [y, gradient(x)] + (dtype == .f32 ? [gradient(w)] : [])
            })
        }
        out.append(try compare("matmul batched, transposes", dev, tol: 1e-4) { d in
            var rng = SplitMix64(seed: 12)
            let a = try leaf(random(3 * 20 * 17, &rng), [3, 20, 17], d)
            let b = try leaf(random(3 * 23 * 20, &rng), [3, 23, 20], d)
            let c = try Ops.matmul(a, b, transA: true, transB: true)  // (3, 17, 23)
            try c.backward(seed: try Tensor(random(3 * 17 * 23, &rng), shape: [3, 17, 23]).moved(to: d))
            return [c, gradient(a), gradient(b)]
        })
        out.append(try compare("rmsnorm fwd+bwd", dev, tol: 1e-5) { d in
            var rng = SplitMix64(seed: 13)
            let x = try leaf(random(33 * 96, &rng), [33, 96], d)
            let w = try leaf(random(96, &rng), [96], d)
            let y = try Ops.rmsNorm(x, weight: w, eps: 1e-5)
            try y.backward(seed: try Tensor(random(33 * 96, &rng), shape: [33, 96]).moved(to: d))
            return [y, gradient(x), gradient(w)]
        })
        out.append(try compare("rope (llama3 scaling) fwd+bwd", dev, tol: 1e-5) { d in
            var rng = SplitMix64(seed: 14)
            let table = RopeTable(headDim: 16, maxPositions: 64, theta: 500_000,
                                  scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16))
            let x = try leaf(random(21 * 48, &rng), [21, 48], d)
            let pos = (0..<21).map { _ in Int32(rng.next() % 64) }
            let y = try Ops.rope(x, table: table, positions: pos, heads: 3)
            try y.backward(seed: try Tensor(random(21 * 48, &rng), shape: [21, 48]).moved(to: d))
            return [y, gradient(x)]
        })
        out.append(try compare("swiglu fwd+bwd", dev, tol: 1e-5) { d in
            var rng = SplitMix64(seed: 15)
            let g = try leaf(random(1000, &rng, scale: 4), [10, 100], d), u = try leaf(random(1000, &rng), [10, 100], d)
            let y = try Ops.swiglu(gate: g, up: u)
            try y.backward(seed: try Tensor(random(1000, &rng), shape: [10, 100]).moved(to: d))
            return [y, gradient(g), gradient(u)]
        })
        out += try attentionChecks(dev, tol: 1e-4, label: "")
        // Queries after a KV cache: (offset, queries), keys = offset + queries.
        for (offset, t) in [(29, 3), (20, 40)] {
            out.append(try compare("attention after a KV cache (offset \(offset), \(t) queries)", dev, tol: 1e-4) { d in
                var rng = SplitMix64(seed: 17)
                let tk = offset + t
                let q = try leaf(random(t * 64, &rng), [t, 64], d, grad: false)
                let k = try leaf(random(tk * 32, &rng), [tk, 32], d, grad: false), v = try leaf(random(tk * 32, &rng), [tk, 32], d, grad: false)
                var p = AttentionParams(batch: 1, seqLen: t, heads: 4, kvHeads: 2, headDim: 16)
                p.queryOffset = offset; p.keyLen = tk
                return [try Ops.attention(q: q, k: k, v: v, p)]
            })
        }
        return out + (try restOfOpChecks(dev))
    }

    /// Short sequences take the fused kernel, longer ones the blocked matrix-unit path (600 rows
    /// cross its 512-row blocks).
    static func attentionChecks(_ dev: Device, tol: Double, label: String) throws -> [Result] {
        var out: [Result] = []
        // Head sizes: 16 and 80 take the generic flash kernels, 64 and 128 the unrolled ones, 8 and
        // 256 (and T ≤ 16) the SIMT kernels in every mode.
        for (b, t, h, kvh, hd) in [(2, 37, 4, 2, 16), (1, 70, 3, 1, 64), (2, 45, 2, 2, 128), (1, 9, 4, 2, 8), (1, 600, 8, 2, 64), (2, 12, 4, 1, 128),
                                   (1, 33, 2, 2, 80), (1, 40, 2, 1, 256)] {
            out.append(try compare("attention B\(b) T\(t) H\(h)/\(kvh) D\(hd) fwd+bwd\(label)", dev, tol: tol) { d in
                var rng = SplitMix64(seed: 16)
                let q = try leaf(random(b * t * h * hd, &rng), [b * t, h * hd], d)
                let k = try leaf(random(b * t * kvh * hd, &rng), [b * t, kvh * hd], d)
                let v = try leaf(random(b * t * kvh * hd, &rng), [b * t, kvh * hd], d)
                let y = try Ops.attention(q: q, k: k, v: v, AttentionParams(batch: b, seqLen: t, heads: h, kvHeads: kvh, headDim: hd))
                try y.backward(seed: try Tensor(random(b * t * h * hd, &rng), shape: [b * t, h * hd]).moved(to: d))
                return [y, gradient(q), gradient(k), gradient(v)]
            })
        }
        // Queries after a prefix (a KV cache), with gradients: the causal mask shifts by the offset.
        out.append(try compare("attention offset 24 T40 Tk64 H4/2 D64 fwd+bwd\(label)", dev, tol: tol) { d in
            var rng = SplitMix64(seed: 23)
            let q = try leaf(random(40 * 4 * 64, &rng), [40, 4 * 64], d)
            let k = try leaf(random(64 * 2 * 64, &rng), [64, 2 * 64], d), v = try leaf(random(64 * 2 * 64, &rng), [64, 2 * 64], d)
            var p = AttentionParams(batch: 1, seqLen: 40, heads: 4, kvHeads: 2, headDim: 64)
            p.queryOffset = 24; p.keyLen = 64
            let y = try Ops.attention(q: q, k: k, v: v, p)
            try y.backward(seed: try Tensor(random(40 * 4 * 64, &rng), shape: [40, 4 * 64]).moved(to: d))
            return [y, gradient(q), gradient(k), gradient(v)]
        })
        return out
    }

    static func restOfOpChecks(_ dev: Device) throws -> [Result] {
        var out: [Result] = []
        out.append(try compare("embedding f32 fwd+bwd, bf16 fwd", dev, tol: 1e-5) { d in
            var rng = SplitMix64(seed: 18)
            let table = try leaf(random(50 * 24, &rng), [50, 24], d)
            let ids = (0..<30).map { _ in Int32(rng.next() % 50) }
            let y = try Ops.embedding(table, ids: ids)
            try y.backward(seed: try Tensor(random(30 * 24, &rng), shape: [30, 24]).moved(to: d))
            let half = try Tensor(random(50 * 32, &rng), shape: [50, 32]).moved(to: d, dtype: .bf16)
            return [y, gradient(table), try GradMode.noGrad { try Ops.embedding(half, ids: ids) }]
        })
        out.append(try compare("log-softmax fwd+bwd", dev, tol: 1e-5) { d in
            var rng = SplitMix64(seed: 19)
            let x = try leaf(random(7 * 300, &rng, scale: 5), [7, 300], d)
            let y = try Ops.logSoftmax(x)
            try y.backward(seed: try Tensor(random(7 * 300, &rng), shape: [7, 300]).moved(to: d))
            return [y, gradient(x)]
        })
        for (dtype, tol) in [(DType.f32, 1e-4), (.bf16, 2e-2)] {
            out.append(try compare("LM-head cross-entropy \(dtype) (ignored rows)", dev, tol: tol) { d in
                var rng = SplitMix64(seed: 20)
                let h = try leaf(random(29 * 32, &rng), [29, 32], d)
                let w = try Tensor(random(300 * 32, &rng, scale: 0.5), shape: [300, 32]).moved(to: d, dtype: dtype)
                if dtype == .f32 { w.requiresGrad = true }
                let labels = (0..<29).map { i in i % 4 == 0 ? Int32(-100) : Int32(rng.next() % 300) }
                let (loss, _) = try Ops.linearCrossEntropy(hidden: h, weight: w, labels: labels)
                try loss.backward()
                return [loss, gradient(h)] + (dtype == .f32 ? [gradient(w)] : [])
            })
        }
        out.append(try compare("AdamW (3 steps) and gradient norm", dev, tol: 1e-6) { d in
            var rng = SplitMix64(seed: 21)
            let p = try leaf(random(5000, &rng), [5000], d)
            let opt = AdamW(weightDecay: 0.01)
            var norms: [Float] = []
            for _ in 0..<3 {
                p.grad = try Tensor(random(5000, &rng), shape: [5000]).moved(to: d)
                norms.append(clipGradNorm([p], maxNorm: 1.0))
                opt.step([p], lr: 1e-2)
            }
            return [p, try Tensor(norms, shape: [3])]
        })
        out.append(try compare("SGD with momentum (2 steps)", dev, tol: 1e-6) { d in
            var rng = SplitMix64(seed: 22)
            let p = try leaf(random(3000, &rng), [3000], d)
            let opt = SGD(momentum: 0.9, weightDecay: 0.1)
            for _ in 0..<2 {
                p.grad = try Tensor(random(3000, &rng), shape: [3000]).moved(to: d)
                opt.step([p], lr: 0.1)
            }
            return [p]
        })
        out.append(try compare("dropout (same mask on every device)", dev, tol: 0) { d in
            var rng = SplitMix64(seed: 23)
            let x = try leaf(random(4000, &rng), [40, 100], d)
            let y = try Ops.dropout(x, p: 0.25, seed: 99)
            try y.backward(seed: try Tensor(random(4000, &rng), shape: [40, 100]).moved(to: d))
            return [y, gradient(x)]
        })
        return out
    }

    // MARK: Fixtures (transformers + PEFT references, scripts/reference/tiny_models.py)

    static func json(_ path: String) throws -> JSON {
        guard let d = FileManager.default.contents(atPath: path) else { throw ModelError.fileNotFound(path, hint: "") }
        let j: JSON
        do { j = try JSON.parse(d, options: .lenient) } catch { throw ModelError.invalidFile(path, problem: "\(error)") }
        guard j.objectValue != nil else { throw ModelError.invalidFile(path, problem: "is not a JSON object") }
        return j
    }

    static func floats(_ a: JSON?) -> [Float] { (a?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
    static func ints(_ a: JSON?) -> [Int32] { (a?.arrayValue ?? []).flatMap { ($0.arrayValue ?? []).map { Int32($0.intValue ?? 0) } } }
    static func shape(_ a: JSON?) -> [Int] { (a?.arrayValue ?? []).map { $0.intValue ?? -1 } }

    static func tinyModel(_ name: String, dir: String, device: Device, dtype: DType) throws -> (Transformer, JSON) {
        let doc = try json(dir + "/\(name).json")
        let config = try ModelConfig.fromHuggingFace(Data((doc["config"] ?? .object([])).serialized().utf8), file: name)
        var tensors: [String: Tensor] = [:]
        for (k, w) in doc["weights"]?.objectValue ?? [] {
            let t = try Tensor(floats(w["data"]), shape: shape(w["shape"]))
            tensors[k] = try t.moved(to: device, dtype: t.rank == 2 ? dtype : .f32)
        }
        return (try Transformer(config: config, weights: WeightSet(tensors, source: name), source: name), doc)
    }

    static func fixtureChecks(_ name: String, dir: String, device: Device) throws -> [Result] {
        var out: [Result] = []
        let loraDoc = try json(dir + "/\(name)-lora.json")
        let lora = loraDoc["lora"] ?? .object([])
        let alpha = Float(loraDoc["alpha"]?.doubleValue ?? 8)
        let ids = ints(loraDoc["input_ids"]), labels = ints(loraDoc["labels"])
        /// Logits, then the summed loss and every LoRA gradient (with and without checkpointing).
        func evaluate(_ device: Device, _ dtype: DType) throws -> (logits: Tensor, loss: [Float], grads: [[Float]], doc: JSON) {
            let (model, doc) = try tinyModel(name, dir: dir, device: device, dtype: dtype)
            let logits = try GradMode.noGrad { try model.logits(ids: ints(doc["input_ids"]), batch: 2, seqLen: 9) }
            for (path, linear) in model.namedProjections {
                let a = lora["base_model.model.\(path).lora_A.default.weight"], b = lora["base_model.model.\(path).lora_B.default.weight"]
                linear.lora = LoRA(a: try Tensor(floats(a?["data"]), shape: shape(a?["shape"])).moved(to: device),
                                   b: try Tensor(floats(b?["data"]), shape: shape(b?["shape"])).moved(to: device), alpha: alpha)
            }
            var losses: [Float] = [], grads: [[Float]] = []
            for checkpointing in [false, true] {
                model.gradientCheckpointing = checkpointing
                for (_, l) in model.namedProjections { l.lora?.a.grad = nil; l.lora?.b.grad = nil }
                let (sum, _) = try model.loss(ids: ids, labels: labels, batch: 2, seqLen: 9)
                try sum.backward()
                losses.append(sum.item)
                for (_, linear) in model.namedProjections {
                    guard let l = linear.lora else { continue }
                    grads.append(l.a.grad?.toArray() ?? [])
                    grads.append(l.b.grad?.toArray() ?? [])
                }
            }
            return (logits, losses, grads, doc)
        }
        // f32 weights: against transformers and PEFT (the fixtures).
        let f32 = try evaluate(device, .f32)
        out.append(Result(name: "\(name) f32 logits vs transformers", error: relError(f32.logits.toArray(), floats(f32.doc["logits"])), tolerance: 1e-4))
        let refLoss = Float(loraDoc["loss_sum"]?.doubleValue ?? .nan)
        var worst = f32.loss.map { Double(abs($0 - refLoss) / refLoss) }.max() ?? .infinity
        var refGrads: [[Float]] = []
        for (path, _) in try tinyModel(name, dir: dir, device: .cpu, dtype: .f32).0.namedProjections {
            for suffix in ["lora_A", "lora_B"] {
                refGrads.append(floats(lora["base_model.model.\(path).\(suffix).default.weight"]?["grad"]))
            }
        }
        for (i, g) in f32.grads.enumerated() { worst = max(worst, relError(g, refGrads[i % refGrads.count])) }
        out.append(Result(name: "\(name) f32 loss + LoRA grads vs PEFT (± checkpointing)", error: worst, tolerance: 1e-3))
        // bf16 weights: against the CPU backend with the same bf16 weights.
        let cpu = try evaluate(.cpu, .bf16), gpu = try evaluate(device, .bf16)
        var bf = relError(gpu.logits.toArray(), cpu.logits.toArray())
        bf = max(bf, relError(gpu.loss, cpu.loss))
        for (g, c) in zip(gpu.grads, cpu.grads) { bf = max(bf, relError(g, c)) }
        out.append(Result(name: "\(name) bf16 logits, loss, LoRA grads vs CPU", error: bf, tolerance: 2e-2))
        return out
    }

    // MARK: Whole training steps, CPU against GPU

    /// With `lossesOnly` (the TF32 run) only the per-step losses are compared: AdamW's first steps
    /// move each parameter by about ±lr whatever the gradient's size, so rounding noise in a
    /// near-zero gradient flips single elements.
    static func trainingStepChecks(_ device: Device, tol: Double = 1e-4, label: String = "", lossesOnly: Bool = false) throws -> [Result] {
        // A tiny Llama (GQA, 2 layers) with random f32 weights, LoRA on all projections, 3 AdamW steps.
        func run(_ d: Device) throws -> [Tensor] {
            var rng = SplitMix64(seed: 31)
            let config = try ModelConfig.fromHuggingFace(Data(#"""
            {"model_type": "llama", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
             "rope_theta": 10000.0, "tie_word_embeddings": false}
            """#.utf8), file: "tiny")
            var tensors: [String: Tensor] = [:]
            for (name, shape, role) in BenchTrain.weightLayout(config) {
                let scale: Float = role == .embedding ? 1 : role == .head ? 0.1 : 0.15
                tensors[name] = try (role == .norm ? Tensor.full(shape, 1) : Tensor(random(shape.reduce(1, *), &rng, scale: scale), shape: shape)).moved(to: d)
            }
            let model = try Transformer(config: config, weights: WeightSet(tensors, source: "tiny"), source: "tiny")
            var lc = LoRAConfig()
            lc.rank = 4; lc.alpha = 8
            try model.attachLoRA(lc)
            // B starts at zero: give it values so every gradient path is exercised from step 1.
            for (_, t) in model.trainableParameters where t.shape[1] == 4 {
                try t.assign(random(t.count, &rng, scale: 0.05))
            }
            var cfg = TrainConfig()
            cfg.steps = 3; cfg.batchSize = 2; cfg.lr = 1e-2; cfg.warmup = 0; cfg.gradientCheckpointing = .on
            let rows = (0..<6).map { i in TrainExample(ids: (0..<(20 + 3 * i)).map { _ in Int32(rng.next() % 300) }) }
            let trainer = try Trainer(model: model, train: rows, config: cfg, padId: 0)
            let result = try trainer.run()
            let losses = try Tensor(result.steps.map(\.loss), shape: [result.steps.count])
            return lossesOnly ? [losses] : model.trainableParameters.map(\.tensor) + [losses]
        }
        return [try compare("tiny Llama: 3 AdamW steps (\(lossesOnly ? "losses" : "LoRA params + losses")), CPU vs GPU\(label)", device, tol: tol, run)]
    }
}
