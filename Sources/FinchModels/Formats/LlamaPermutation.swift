// llama.cpp's converter permutes the rows of llama-type `q_proj` / `k_proj` weights (and biases) so
// that its "normal" rotary embedding, which rotates adjacent pairs (2i, 2i+1), matches Hugging Face's
// rotate_half, which rotates (i, i + hd/2). Per head h of head size hd (convert_hf_to_gguf.py `permute`):
//
//     GGUF row h·hd + 2i + j  =  HF row h·hd + j·(hd/2) + i        (i < hd/2, j ∈ {0, 1})
//
// i.e. numpy `w.reshape(n, 2, hd/2, in).swapaxes(1, 2)` (HF → GGUF); undoing it is
// `w.reshape(n, hd/2, 2, in).swapaxes(1, 2)`. Use n = head_count for attn_q, head_count_kv for attn_k.
// Whole rows move, and quantized rows are independent blocks along the row, so raw quantized rows can be
// moved without dequantizing. Architectures with NEOX rope (qwen2, …) are not permuted.

public enum LlamaPermutationError: Error, Equatable, CustomStringConvertible {
    case rowsNotDivisible(rows: Int, heads: Int)

    public var description: String {
        switch self {
        case let .rowsNotDivisible(rows, heads):
            return "cannot undo the llama Q/K permutation: \(rows) rows is not \(heads) heads of an even head size"
        }
    }
}

public enum LlamaPermutation {
    /// The GGUF row that holds Hugging Face row `hfRow`.
    @inlinable
    public static func ggufRow(forHFRow hfRow: Int, headDim: Int) -> Int {
        let h = hfRow / headDim, r = hfRow % headDim
        let half = headDim / 2
        let j = r / half, i = r % half
        return h * headDim + 2 * i + j
    }

    /// Copies `rows` rows of `rowBytes` bytes each from GGUF order at `src` into Hugging Face order at `dst`
    /// (`src` and `dst` must not overlap). Works on any row encoding: f32, f16, or quantized blocks.
    public static func unpermuteRows(_ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer,
                                     rows: Int, rowBytes: Int, heads: Int) throws {
        try moveRows(rows: rows, heads: heads) { hfRow, ggufRow in
            (dst + hfRow * rowBytes).copyMemory(from: src + ggufRow * rowBytes, byteCount: rowBytes)
        }
    }

    /// The inverse, for exporting to GGUF: copies rows from Hugging Face order at `src` into GGUF order at `dst`
    /// (convert_hf_to_gguf.py's `permute`).
    public static func permuteRows(_ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer,
                                   rows: Int, rowBytes: Int, heads: Int) throws {
        try moveRows(rows: rows, heads: heads) { hfRow, ggufRow in
            (dst + ggufRow * rowBytes).copyMemory(from: src + hfRow * rowBytes, byteCount: rowBytes)
        }
    }

    /// Convenience over arrays: `values` holds `rows` rows of equal length, in Hugging Face order.
    public static func permuteRows<T>(_ values: [T], rows: Int, heads: Int) throws -> [T] {
        try rowsMoved(values, rows: rows, heads: heads, by: permuteRows(_:into:rows:rowBytes:heads:))
    }

    /// Convenience over arrays: `values` holds `rows` rows of equal length, in GGUF order.
    public static func unpermuteRows<T>(_ values: [T], rows: Int, heads: Int) throws -> [T] {
        try rowsMoved(values, rows: rows, heads: heads, by: unpermuteRows(_:into:rows:rowBytes:heads:))
    }

    /// Checks that `rows` splits into `heads` heads of an even size, then calls `move(hfRow, ggufRow)` for every row.
    static func moveRows(rows: Int, heads: Int, _ move: (_ hfRow: Int, _ ggufRow: Int) -> Void) throws {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw LlamaPermutationError.rowsNotDivisible(rows: rows, heads: heads)
        }
        let headDim = rows / heads
        for hfRow in 0..<rows { move(hfRow, ggufRow(forHFRow: hfRow, headDim: headDim)) }
    }

    typealias RowMover = (UnsafeRawPointer, UnsafeMutableRawPointer, Int, Int, Int) throws -> Void

    /// Runs a raw-pointer mover over an array's bytes into a copy of it.
    static func rowsMoved<T>(_ values: [T], rows: Int, heads: Int, by mover: RowMover) throws -> [T] {
        guard rows > 0, !values.isEmpty, values.count % rows == 0 else { throw LlamaPermutationError.rowsNotDivisible(rows: rows, heads: heads) }
        var out = values
        try values.withUnsafeBytes { s in
            try out.withUnsafeMutableBytes { d in
                try mover(s.baseAddress!, d.baseAddress!, rows, s.count / rows, heads)
            }
        }
        return out
    }
}
