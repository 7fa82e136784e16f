import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook

/// Kill -9 mid-write, a full disk, two runs sharing one cache: the files a notebook writes (save, write_text,
/// the transcript, the memo cache) are always a previous complete version or the new one.
@Suite struct NothingHalfWrittenTests {
    /// Runs `finch run` with extra environment; `signal` is the signal that ended it, if any.
    static func run(_ args: [String], cwd: String, env extra: [String: String] = [:]) throws -> (code: Int32, signal: Int32?, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["FINCH_STDLIB"] = repoRoot + "/stdlib"
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "FINCH_FAULT")
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let signal = p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil
        return (p.terminationStatus, signal, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Every file below `dir` (relative path → bytes), hidden temporaries left out.
    static func snapshot(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for rel in FileManager.default.subpaths(atPath: dir) ?? [] where !rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
            if let d = FileManager.default.contents(atPath: dir + "/" + rel), !isFolder(dir + "/" + rel) { out[rel] = d }
        }
        return out
    }

    static func notebook(rank: Int, note: String, dir: String, tiny: String) -> String {
        """
        %% save
        m = load_model("\(tiny)")
        lora(m, r=\(rank), alpha=8)
        save(m, "\(dir)/adapter")
        write_text("\(dir)/notes.txt", "\(note)" * 2000)
        print("done")
        """
    }

    @Test func killedMidWriteLeavesThePreviousVersion() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        try Self.notebook(rank: 4, note: "v1", dir: dir, tiny: tiny).write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        let first = try Self.run(["run", "nb.cell"], cwd: dir)
        #expect(first.code == 0 && first.out == "done\n", "\(first.err)")
        let v1 = (adapter: Self.snapshot(dir + "/adapter"), notes: Self.snapshot(dir).filter { $0.key == "notes.txt" },
                  transcript: try Data(contentsOf: URL(fileURLWithPath: dir + "/nb.out.md")))
        #expect(v1.adapter.keys.sorted() == ["README.md", "adapter_config.json", "adapter_model.safetensors"])

        // the same notebook with a bigger adapter and other notes, killed after N bytes written
        try Self.notebook(rank: 8, note: "v2", dir: dir, tiny: tiny).write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        var seen: [(adapter: [String: Data], notes: [String: Data])] = []
        for n in [0, 300, 3_000, 20_000, 60_000, 90_000] {
            let r = try Self.run(["run", "nb.cell"], cwd: dir, env: ["FINCH_FAULT": "write:\(n)"])
            guard r.signal == SIGKILL else { continue }  // N past every byte this run writes
            seen.append((Self.snapshot(dir + "/adapter"), Self.snapshot(dir).filter { $0.key == "notes.txt" }))
            // the transcript is the last write: a killed run leaves the previous one, byte for byte
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/nb.out.md")) == v1.transcript)
        }
        #expect(seen.count >= 4, "the fault hook killed \(seen.count) runs")
        let last = try Self.run(["run", "nb.cell"], cwd: dir)
        #expect(last.code == 0, "\(last.err)")
        let v2 = (adapter: Self.snapshot(dir + "/adapter"), notes: Self.snapshot(dir).filter { $0.key == "notes.txt" })
        #expect(v2.adapter != v1.adapter && v2.notes != v1.notes)
        for (i, s) in seen.enumerated() {
            #expect(s.adapter == v1.adapter || s.adapter == v2.adapter, "run \(i): a mixed or half-written adapter folder")
            #expect(s.notes == v1.notes || s.notes == v2.notes, "run \(i): half-written notes.txt")
        }
        #expect(seen.first.map { $0.adapter == v1.adapter } == true)  // killed inside save: the old adapter is whole
        // the killed runs' temporary files and folders were cleaned up by the next write of the same names
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".adapter.") || $0.hasPrefix(".notes.txt.") }.isEmpty)
    }

    /// `finch secrets set` killed mid-write: the store still holds every earlier secret, mode 0600.
    @Test func secretsStoreSurvivesAKill() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["XDG_CONFIG_HOME": dir + "/config", "HOME": dir]
        func set(_ name: String, _ value: String, fault: String? = nil) throws -> (code: Int32, signal: Int32?) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: finchBinary)
            p.arguments = ["secrets", "set", name]
            var e = ProcessInfo.processInfo.environment.merging(env) { $1 }
            e.removeValue(forKey: "FINCH_FAULT")
            if let fault { e["FINCH_FAULT"] = fault }
            p.environment = e
            let input = Pipe()
            p.standardInput = input; p.standardOutput = Pipe(); p.standardError = Pipe()
            try p.run()
            input.fileHandleForWriting.write(Data((value + "\n").utf8))
            try input.fileHandleForWriting.close()
            p.waitUntilExit()
            return (p.terminationStatus, p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil)
        }
        #expect(try set("HF_TOKEN", "hf_first").code == 0)
        let store = dir + "/config/finch/secrets.json"
        let before = try Data(contentsOf: URL(fileURLWithPath: store))
        for n in [0, 5, 20] {
            #expect(try set("WANDB_API_KEY", String(repeating: "k", count: 200), fault: "write:\(n)").signal == SIGKILL)
            #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == before)
        }
        let mode = (try FileManager.default.attributesOfItem(atPath: store)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
    }

    /// train() with checkpoints and the memo cache, killed at several points: every checkpoint folder
    /// that exists resumes, and the memo cache holds no half-written entry (the next run never reports one).
    @Test func checkpointsAndCacheSurviveAKill() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        func notebook(resume: Bool) -> String {
            """
            %% train
            m = load_model("\(tiny)")
            lora(m, r=4, alpha=8)
            d = dataset([{"text": "0123456789"}, {"text": "9876543210"}, {"text": "1357924680"}])
            r = train(m, d, steps=4, batch_size=1, checkpoint_every=1, checkpoint_dir="\(dir)/ckpt"\(resume ? ", resume=\"\(dir)/ckpt\"" : ""))
            print(r.loss)
            """
        }
        try notebook(resume: false).write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        try notebook(resume: true).write(toFile: dir + "/resume.cell", atomically: true, encoding: .utf8)
        var kills = 0
        for n in [100, 2_000, 9_000, 30_000, 60_000] {
            try? FileManager.default.removeItem(atPath: dir + "/.finch-cache")
            let r = try Self.run(["run", "nb.cell", "--no-transcript"], cwd: dir, env: ["FINCH_FAULT": "write:\(n)"])
            guard r.signal == SIGKILL else { continue }
            kills += 1
            if isFolder(dir + "/ckpt") {
                let resumed = try Self.run(["run", "resume.cell", "--no-transcript", "--fresh"], cwd: dir)
                #expect(resumed.code == 0, "killed after \(n) bytes: \(resumed.err)")
            }
            let again = try Self.run(["run", "nb.cell", "--no-transcript"], cwd: dir)
            #expect(again.code == 0 && !again.err.contains("failed to load"), "killed after \(n) bytes: \(again.err)")
        }
        #expect(kills >= 3)
    }

    @Test func fullDiskSaysSoAndKeepsThePreviousAdapter() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        try Self.notebook(rank: 4, note: "v1", dir: dir, tiny: tiny).write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        #expect(try Self.run(["run", "nb.cell"], cwd: dir).code == 0)
        let before = Self.snapshot(dir)
        try Self.notebook(rank: 8, note: "v2", dir: dir, tiny: tiny).write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        let r = try Self.run(["run", "nb.cell", "--no-transcript"], cwd: dir, env: ["FINCH_FAULT": "enospc:2000"])
        #expect(r.code == 1 && r.signal == nil)
        #expect(r.err.contains("nb.cell:4") && r.err.contains("no space left on device writing \(dir)/adapter/adapter_model.safetensors"), "\(r.err)")
        var after = Self.snapshot(dir)
        after["nb.cell"] = before["nb.cell"]
        #expect(after == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".adapter") }.isEmpty)
    }

    @Test func twoRunsShareTheMemoCache() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try REPLProcessTests.tinyFolder(in: dir)
        try """
        %% train
        m = load_model("\(tiny)")
        lora(m, r=4, alpha=8)
        d = dataset([{"text": "0123456789"}, {"text": "9876543210"}])
        r = train(m, d, steps=3, batch_size=2)
        print(r.loss)
        """.write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        // two processes at once, both storing the same entry
        let group = DispatchGroup()
        let results = Results()
        for i in 0..<2 {
            DispatchQueue.global().async(group: group) {
                let r = try? Self.run(["run", "nb.cell", "--no-transcript"], cwd: dir)
                results.set(i, r.map { ($0.code, $0.out, $0.err) })
            }
        }
        group.wait()
        let a = try #require(results.get(0)), b = try #require(results.get(1))
        #expect(a.0 == 0 && b.0 == 0, "\(a.2)\n\(b.2)")
        #expect(a.1 == b.1 && !a.1.isEmpty)
        #expect(!a.2.contains("failed to load") && !b.2.contains("failed to load"))
        let memo = try FileManager.default.contentsOfDirectory(atPath: dir + "/.finch-cache/memo")
        #expect(memo.count == 1 && memo[0].hasSuffix(".bin"), "\(memo)")  // one entry, no temporary left
        // a third run reads the entry the two wrote
        let c = try Self.run(["run", "nb.cell", "--no-transcript"], cwd: dir)
        #expect(c.code == 0 && c.out == a.1 && c.err.contains("train: restored from cache"), "\(c.err)")
    }
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int: (Int32, String, String)] = [:]
    func set(_ i: Int, _ v: (Int32, String, String)?) { lock.lock(); values[i] = v; lock.unlock() }
    func get(_ i: Int) -> (Int32, String, String)? { lock.lock(); defer { lock.unlock() }; return values[i] }
}

func isFolder(_ p: String) -> Bool { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue }
