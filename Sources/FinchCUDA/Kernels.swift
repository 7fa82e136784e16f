// The CUDA kernels, as CUDA C source compiled at run time by NVRTC for the GPU at hand (no CUDA
// toolkit at build time; the compiled module is cached on disk by a hash of this source, the
// architecture and the NVRTC version). The source lives in Kernels/*.cu by op family, embedded
// into the binary at build time (SwiftPM `embedInCode`), so nothing is read from disk at run time.
// Each op's forward sits beside its backward, as in Ops/. Activations are f32; frozen weights
// are bf16, GGUF blocks (q8_0, q4_0, q4_1) or NF4 blocks, decoded as read. Shapes follow the CPU kernels:
// rows of (B·T, C) matrices, heads side by side within a row.

import FinchTensor

enum CUDAKernels {
    /// Element-wise op codes shared with `CUDABackend.elementwise`.
    enum Op: Int32 { case add = 0, sub, mul, addRow, scale, addScaled, silu }
    /// The stored-type code `load_elem` switches on, or nil for types kept off the device.
    static func dtypeCode(_ d: DType) -> Int32? {
        switch d {
        case .f32: return 0
        case .f16: return 1
        case .bf16: return 2
        case .q8_0: return 3
        case .q4_0: return 4
        case .q4_1: return 5
        case .nf4: return 6
        default: return nil
        }
    }

    /// The kernel files in the order they are joined: common.cu first (types, conversions,
    /// reductions), quantized.cu before the files whose kernels read stored types.
    static let parts: [(name: String, bytes: [UInt8])] = [
        ("common.cu", PackageResources.common_cu),
        ("quantized.cu", PackageResources.quantized_cu),
        ("elementwise.cu", PackageResources.elementwise_cu),
        ("cross_entropy.cu", PackageResources.cross_entropy_cu),
        ("optimizer.cu", PackageResources.optimizer_cu),
        ("attention.cu", PackageResources.attention_cu),
    ]

    /// The whole translation unit NVRTC compiles; `#line` marks make a compile error name the
    /// file and line of Kernels/ it is on.
    static let source: String = parts.map { "#line 1 \"\($0.name)\"\n" + String(decoding: $0.bytes, as: UTF8.self) }.joined(separator: "\n")
}
