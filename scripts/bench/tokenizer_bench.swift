// Tokenizer throughput: `scripts/bench/tokenizer_bench.sh` builds this with the tokenizer sources (-Ounchecked -wmo).
// Usage: tokenizer-bench TOKENIZER_JSON CORPUS_TXT
import Foundation

@main
struct TokenizerBench {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    static func main() throws {
        let args = CommandLine.arguments
        guard args.count == 3 else { print("usage: tokenizer-bench TOKENIZER_JSON CORPUS_TXT"); exit(2) }
        let json = try Data(contentsOf: URL(fileURLWithPath: args[1]))
        let text = try String(contentsOfFile: args[2], encoding: .utf8)
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true).map { String(String.UnicodeScalarView($0)) }
        var tok: Tokenizer!
        let load = try seconds { tok = try Tokenizer(tokenizerJSON: json) }
        var ids: [Int] = []
        let cold = seconds { ids = tok.encode(text) }
        let warm = seconds { ids = tok.encode(text) }
        var lineTokens = 0
        let perLine = seconds { for l in lines { lineTokens += tok.encode(l).count } }
        var decoded = ""
        let dec = seconds { decoded = tok.decode(ids) }
        let mb = Double(text.utf8.count) / 1e6
        print(String(format: "finch  load %.3f s | encode whole text: %d tokens, cold %.3f s (%.0f tok/s, %.2f MB/s), warm %.3f s (%.0f tok/s)",
                     load, ids.count, cold, Double(ids.count) / cold, mb / cold, warm, Double(ids.count) / warm))
        // Order-sensitive checksum of the ids, compared with the Python side's.
        var checksum: UInt64 = 0
        for (k, id) in ids.enumerated() { checksum = checksum &* 1_000_003 &+ UInt64(id) &+ UInt64(k) }
        print("finch  ids checksum \(checksum % 1_000_000_007)")
        print(String(format: "finch  encode %d lines one by one: %d tokens, %.3f s (%.0f tok/s) | decode %.3f s | round trip %@",
                     lines.count, lineTokens, perLine, Double(lineTokens) / perLine, dec, decoded == text ? "exact" : "DIFFERS"))
    }
}
