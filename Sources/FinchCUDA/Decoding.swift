import Foundation
import FinchTensor

// Decoding: products of a few rows against frozen stored weights read the blocks directly.
extension CUDABackend {
    /// Decoding's products (≤ 8 rows of x against frozen quantized weights) read the blocks once,
    /// rather than decoding them into a bf16 copy for cuBLAS per token (q4_0 decode 29 → 101
    /// tokens/s for the 8B shape on an H100). bf16 weights stay with cuBLAS.
    static let matVecRows = 8
    static let matVecTypes: Set<DType> = [.q8_0, .q4_0, .q4_1]

    func storedMatVec(_ p: GemmParams, x: Tensor, w: Tensor, y: Tensor) {
        launch("matvec_stored", grid: ((p.n + 7) / 8, 1, 1), block: 256,
               [.i32(dtypeCode(w.dtype)), .ptr(ptr(w)), .ptr(ptr(x)), .ptr(UnsafeRawPointer(mptr(y) + p.offsetC * 4)),
                .i32(Int32(p.m)), .i32(Int32(p.n)), .i32(Int32(p.k)), .i32(Int32(p.ldc)), .f32(p.alpha), .f32(p.beta)])
    }
}
