import Foundation
import Testing
import FinchSupport
@testable import FinchLang
@testable import FinchNotebook
@testable import FinchTensor
@testable import FinchTrain

/// Data a user can hand Finch (dataset rows, a corrupt cache entry) gives an error, never a trap.
@Suite struct UserDataCrashTests {
    @Test func responseStartOutsideTheTextIsAnError() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        for start in ["-5", "1000000", "-9223372036854775807"] {
            let r = try runNotebook(text: """
            %% t
            m = load_model("\(tiny)")
            lora(m, r=4, alpha=8)
            d = dataset([{"text": "hello there", "_response_start": \(start)}])
            train(m, d, steps=1, train_on="responses")
            """, dir: dir)
            #expect(r.code == 1)
            #expect(r.stderr.contains("nb.cell:5") && r.stderr.contains("row 0 has _response_start \(start), outside its text (0...11)"), "\(r.stderr)")
        }
    }

    /// Huge numbers typed into train(), lora() and generate() are errors (or clamp), not integer overflow traps.
    @Test func hugeArgumentsAreErrorsNotOverflows() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        let huge = "9223372036854775807"  // Int.max
        let cases: [(String, String)] = [
            ("train(m, d, batch_size=\(huge))", "batch_size and grad_accum must be at most"),
            ("train(m, d, grad_accum=\(huge))", "batch_size and grad_accum must be at most"),
            ("train(m, d, epochs=1e300)", "epochs must be at most 1,000,000"),
            ("train(m, d, steps=\(huge))", "steps must be at most"),
            ("lora(m, r=\(huge))", "lora: r must be at most 65536"),
        ]
        for (call, message) in cases {
            let r = try runNotebook(text: """
            %% t
            m = load_model("\(tiny)")
            lora(m, r=4, alpha=8)
            d = dataset([{"text": "0123456789"}])
            \(call)
            """, dir: dir)
            #expect(r.code == 1 && r.stderr.contains("nb.cell:5") && r.stderr.contains(message), "\(call): \(r.stderr)")
        }
        // max_tokens past the context: generation stops where the context ends
        let g = try runNotebook(text: "%% g\nm = load_model(\"\(tiny)\")\nt = generate(m, \"0123\", max_tokens=\(huge))\nprint(\"ok\")\n", dir: dir)
        #expect(g.code == 0 && g.stdout.hasSuffix("ok\n"), "\(g.stderr)")
    }

    /// An entry in the memo-cache format with this header JSON and these floats.
    func entry(_ header: String, floats: [Float], length: UInt64? = nil) -> Data {
        var d = Data()
        var n = (length ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        floats.withUnsafeBufferPointer { d.append($0) }
        return d
    }

    func header(evals: String) -> String {
        #"{"steps":[],"evals":\#(evals),"wall":0,"tokens":0,"peak":0,"stopReason":"steps","trainable":3,"counts":[3]}"#
    }

    @Test func corruptTrainCacheEntriesAreErrorsAndChangeNothing() throws {
        let p = try Tensor([1, 2, 3], shape: [3])
        let bad: [(String, Data)] = [
            ("header length past Int.max", entry(header(evals: "[]"), floats: [4, 5, 6], length: UInt64.max)),
            ("header length past the end", entry(header(evals: "[]"), floats: [4, 5, 6], length: 1 << 40)),
            ("eval step too big for an Int", entry(header(evals: "[[1e300, 0.5]]"), floats: [4, 5, 6])),
            ("eval with one number", entry(header(evals: "[[1]]"), floats: [4, 5, 6])),
            ("truncated values", entry(header(evals: "[]"), floats: [4, 5])),
        ]
        for (what, data) in bad {
            #expect(throws: FinchError.self, "\(what)") { try TrainCache.decode(data, params: [p]) }
            #expect(p.toArray() == [1, 2, 3], "\(what): the adapter changed")
        }
        let ok = try TrainCache.decode(entry(header(evals: "[[2, 0.5]]"), floats: [4, 5, 6]), params: [p])
        #expect(p.toArray() == [4, 5, 6] && ok.evals.map(\.0) == [2])
    }
}
