import CFinchKernels
import Testing
@testable import FinchTensor

/// finch_sgemv_rows (the one-call decoder's LoRA branches) at every ISA level against the scalar reference and f64.
@Suite struct SgemvRowsTests {
    @Test(arguments: [(2, 16), (3, 5), (7, 16), (9, 37), (16, 64), (5, 576)])
    func everyLevelMatchesTheReference(rows: Int, cols: Int) {
        let w = pseudoRandom(rows * cols, seed: 31 + UInt64(cols), scale: 0.7)
        let x = pseudoRandom(cols, seed: 5, scale: 1.5)
        let before = pseudoRandom(rows, seed: 11)
        for accumulate: Int32 in [0, 1] {
            // Rows 1..<rows only: the first row is left alone.
            var ref = before
            finch_sgemv_rows_scalar(w, x, &ref, 1, rows, cols, 0.375, accumulate)
            #expect(ref[0] == before[0])
            for r in 1..<rows {
                var dot = 0.0, magnitude = 0.0
                for c in 0..<cols { dot += Double(w[r * cols + c] * x[c]); magnitude += Double(abs(w[r * cols + c] * x[c])) }
                let expected = (accumulate == 1 ? Double(before[r]) : 0) + 0.375 * dot
                #expect(abs(Double(ref[r]) - expected) <= 1e-6 * (1 + magnitude), "row \(r): \(ref[r]) vs \(expected)")
            }
            for level in CPUISA.runnable {
                var y = before
                CPUISA.with(level) { finch_sgemv_rows(w, x, &y, 1, rows, cols, 0.375, accumulate) }
                #expect(y[0] == before[0], "\(level) wrote outside the rows")
                #expect(zip(y, ref).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($1)) }, "\(level) \(rows)×\(cols) accumulate \(accumulate): \(y) vs \(ref)")
            }
        }
    }
}
