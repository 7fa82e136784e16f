import Foundation
#if canImport(FinchTrain)
import FinchTrain
#endif

// A memo-cache entry of `train`: a little-endian u64 header length, the header JSON, then the adapter's f32
// values. The checks live here, with nothing but Foundation and StepMetrics, so the libFuzzer harness
// (fuzz/cache-entry) builds them alone. A corrupt entry is an error (MemoCache discards and recomputes it).
enum TrainCacheFormat {
    struct Header: Codable {
        var steps: [StepMetrics]
        var evals: [[Double]]
        var initialEval: Float?
        var wall: Double
        var tokens: Int
        var peak: Int
        var stopReason: String
        var trainable: Int
        var counts: [Int]
    }

    struct Corrupt: Error, CustomStringConvertible { var description: String }

    /// The header, decoded and checked against the adapter's tensor sizes, and the byte range of the values.
    static func parse(_ data: Data, counts: [Int]) throws -> (header: Header, evals: [(Int, Float)], values: Range<Int>) {
        let data = Data(data)  // indices from 0 even for a slice
        guard data.count >= 8 else { throw Corrupt(description: "cache entry too short") }
        let raw = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard let n = Int(exactly: raw), n > 0, n <= data.count - 8 else { throw Corrupt(description: "cache entry header out of range") }
        let h: Header
        do { h = try JSONDecoder().decode(Header.self, from: data.subdata(in: 8..<(8 + n))) } catch {
            throw Corrupt(description: "cache entry header is not valid: \(error)")
        }
        guard h.counts == counts else { throw Corrupt(description: "cache entry was made for other adapter shapes") }
        let total = counts.reduce(0, +)
        guard data.count - 8 - n == total * 4 else { throw Corrupt(description: "cache entry size mismatch") }
        let evals: [(Int, Float)] = try h.evals.map { e in
            guard e.count == 2, let step = Int(exactly: e[0].rounded()) else { throw Corrupt(description: "cache entry has a malformed eval") }
            return (step, Float(e[1]))
        }
        return (h, evals, (8 + n)..<data.count)
    }
}
