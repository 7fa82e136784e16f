import Foundation
import Testing
import FinchHub
@testable import FinchLang
@testable import FinchNotebook

@Test func sha256MatchesKnownVectors() {
    #expect(Hashing.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(Hashing.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(Hashing.sha256Hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
}

/// A registry with `slow_square(x, data=none)`: counts real computations and memoizes through the cache.
func memoRegistry(counter: Counter) -> BuiltinRegistry {
    let r = makeRegistry()
    r.register("slow_square", params: [.positional("x"), .keyword("data", default: .none)], doc: "test: an expensive built-in") { a, ctx in
        guard let memo = NotebookContext.of(ctx)?.memo,
              let fx = MemoCache.fingerprint(a["x"]), let fd = MemoCache.fingerprint(a["data"]) else {
            counter.count += 1
            return .int(try a.int("x") * a.int("x"))
        }
        let (v, _) = try memo.memoize("slow_square", inputs: [fx, fd],
            encode: { (n: Int) in Data(String(n).utf8) },
            decode: { d in
                guard let n = Int(String(decoding: d, as: UTF8.self)) else { throw FinchError("corrupt") }
                return n
            },
            compute: { counter.count += 1; return try a.int("x") * a.int("x") })
        return .int(v)
    }
    return r
}

final class Counter: @unchecked Sendable { var count = 0 }

@Test func memoCacheRestoresUnchangedInputsAndRecomputesChangedOnes() throws {
    let dir = try tempDirectory()
    let counter = Counter()
    let text = "%% t\nd = dataset([{\"a\": 1}])\nprint(slow_square(7, data=d))\n"
    let r1 = try runNotebook(text: text, registry: memoRegistry(counter: counter), dir: dir)
    #expect(r1.stdout == "49\n" && counter.count == 1)
    let r2 = try runNotebook(text: text, registry: memoRegistry(counter: counter), dir: dir)
    #expect(r2.stdout == "49\n" && counter.count == 1)
    #expect(r2.stderr.contains("slow_square: restored from cache"))
    // Different dataset content: a different key.
    _ = try runNotebook(text: text.replacingOccurrences(of: "\"a\": 1", with: "\"a\": 2"), registry: memoRegistry(counter: counter), dir: dir)
    #expect(counter.count == 2)
    // --fresh ignores the cache.
    var o = RunOptions()
    o.fresh = true
    _ = try runNotebook(text: text, options: o, registry: memoRegistry(counter: counter), dir: dir)
    #expect(counter.count == 3)
}

@Test func corruptCacheEntryIsDiscardedNotTrusted() throws {
    let dir = try tempDirectory()
    let counter = Counter()
    let text = "%% t\nprint(slow_square(5))\n"
    _ = try runNotebook(text: text, registry: memoRegistry(counter: counter), dir: dir)
    let memoDir = dir + "/.finch-cache/memo"
    let entries = try FileManager.default.contentsOfDirectory(atPath: memoDir)
    #expect(entries.count == 1)
    try "garbage".write(toFile: memoDir + "/" + entries[0], atomically: true, encoding: .utf8)
    let r = try runNotebook(text: text, registry: memoRegistry(counter: counter), dir: dir)
    #expect(r.stdout == "25\n")
    #expect(counter.count == 2)
    #expect(r.stderr.contains("failed to load"))
    #expect(try String(contentsOfFile: memoDir + "/" + entries[0], encoding: .utf8) == "25")
}

@Test func uncacheableInputsAreNeverKeyed() {
    #expect(MemoCache.fingerprint(.list([.int(1), .string("a")])) == "[1,\"a\"]")
    #expect(MemoCache.fingerprint(.builtin(BuiltinFunction(name: "f", params: [], doc: "") { _, _ in .none })) == nil)
    #expect(MemoCache.key("train", ["a", "bc"]) != MemoCache.key("train", ["ab", "c"]))
}
