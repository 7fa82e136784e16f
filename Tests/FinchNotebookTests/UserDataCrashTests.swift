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

    /// An entry of the memo cache that this Finch cannot use (an older Finch's format, a truncated file)
    /// is a miss: train() runs again, the same as the first time, and stores an entry the next run restores.
    @Test func anUnusableTrainCacheEntryIsAMiss() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        let text = """
        %% t
        m = load_model("\(tiny)")
        lora(m, r=4, alpha=8)
        d = dataset([{"text": "0123456789"}, {"text": "9876543210"}])
        r = train(m, d, steps=2, batch_size=2)
        print(r.loss, r.cached)
        """
        let first = try runNotebook(text: text, dir: dir)
        #expect(first.code == 0 && first.stdout.hasSuffix("false\n"), "\(first.stderr)")
        let memo = dir + "/.finch-cache/memo/"
        let entries = try FileManager.default.contentsOfDirectory(atPath: memo)
        #expect(entries.count == 1)
        let entry = memo + entries[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: entry))
        // what Finch wrote before entries were safetensors: u64 header length, JSON header, the adapter's f32 values
        let header = #"{"steps":[],"evals":[],"wall":0,"tokens":0,"peak":0,"stopReason":"completed","trainable":3,"counts":[3]}"#
        var old = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { old.append(contentsOf: $0) }
        old.append(Data(header.utf8))
        [Float](repeating: 9, count: 3).withUnsafeBufferPointer { old.append($0) }
        for (what, bytes) in [("old format", old), ("truncated", good.prefix(good.count / 2)), ("empty", Data())] {
            try bytes.write(to: URL(fileURLWithPath: entry))
            let again = try runNotebook(text: text, dir: dir)
            #expect(again.code == 0 && again.stdout == first.stdout, "\(what): \(again.stderr)")
            #expect(again.stderr.contains("failed to load") && !again.stderr.contains("restored the trained adapter"), "\(what): \(again.stderr)")
            let restored = try runNotebook(text: text, dir: dir)
            #expect(restored.code == 0 && restored.stdout.hasSuffix("true\n") && restored.stderr.contains("restored the trained adapter"), "\(what): \(restored.stderr)")
        }
    }
}
