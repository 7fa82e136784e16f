import Foundation
import Testing
import FinchTestHub
@testable import FinchModels
@testable import FinchTrain

/// Newcomer paths through the Hub and files, run as `finch run` runs them: a typed token, a GGUF-only
/// Hub repo, a tracked run re-run from the memo cache.
extension REPLProcessTests {
    static let tinyFolderFixture = repoRoot + "/Tests/FinchModelsTests/Fixtures/tiny/tiny-llama3"
    static let smollmTokenizer = repoRoot + "/Tests/FinchModelsTests/Fixtures/tokenizers/smollm2"

    /// The tiny Llama-3 fixture as a Hugging Face folder (with the SmolLM2 tokenizer).
    static func tinyFolder(in dir: String) throws -> String {
        let folder = dir + "/tiny"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors", "generation_config.json"] {
            try FileManager.default.copyItem(atPath: tinyFolderFixture + "/" + f, toPath: folder + "/" + f)
        }
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: smollmTokenizer + "/" + f, toPath: folder + "/" + f)
        }
        return folder
    }

    func runFinch(_ args: [String], cwd: String, env extra: [String: String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        var env = ProcessInfo.processInfo.environment
        env["FINCH_STDLIB"] = repoRoot + "/stdlib"
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "HF_TOKEN")
        env.removeValue(forKey: "HF_HUB_OFFLINE")
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e)
    }

    @Test func typedTokenAndGGUFOnlyHubRepo() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // a GGUF-only repo as they are published: two quantizations, a README, no config.json
        let base = try ModelLoader.load(try Self.tinyFolder(in: dir))
        base.ggufTokenizer = GGUFTokenizerSpec(model: "gpt2", pre: "smollm", tokens: (0..<base.config.vocabSize).map { "t\($0)" },
                                               bosTokenId: 1, eosTokenId: 2)
        let repo = dir + "/hub/models/org/Tiny-GGUF"
        try GGUFExport.save(base, to: repo + "/tiny.Q8_0.gguf", quantize: .q8_0)
        try GGUFExport.save(base, to: repo + "/tiny.F16.gguf", quantize: .f16)
        try "# Tiny GGUF\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        let server = try TestHubServer(root: dir + "/hub").start()
        defer { server.stop() }
        server.addToken("hf_typedTokenForTests", user: "alice")
        try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
        try """
        %% login
        login("hf_typedTokenForTests")
        %% load
        m = load_model("org/Tiny-GGUF", file="*Q8_0.gguf")
        print(m.name, m.layers, m.dtype)
        %% push
        lora(m, r=4, alpha=8)
        print(push(m, "alice/tiny-lora"))
        %% several
        load_model("org/Tiny-GGUF")
        """.write(toFile: dir + "/work/nb.cell", atomically: true, encoding: .utf8)
        let r = try runFinch(["run", "nb.cell"], cwd: dir + "/work",
                             env: ["HF_ENDPOINT": server.endpoint, "HF_HOME": dir + "/hf", "XDG_CONFIG_HOME": dir + "/config"])
        #expect(r.code == 1, "\(r.err)")   // the last cell fails on purpose
        #expect(r.out.contains("Logged in as alice"))
        #expect(r.err.contains("note: a token typed into a notebook is stored in it"))
        #expect(r.out.contains("org/Tiny-GGUF 2 "), "\(r.out)\n\(r.err)")
        #expect(r.err.contains("Downloading org/Tiny-GGUF/tiny.Q8_0.gguf"))
        #expect(r.err.contains("org/Tiny-GGUF holds 2 GGUF files; choose one with file=") && r.err.contains("  tiny.F16.gguf\n  tiny.Q8_0.gguf"))
        // the pushed adapter's card is made for the repo: no placeholder link, no temporary folder
        let card = try String(contentsOfFile: dir + "/hub/models/alice/tiny-lora/README.md", encoding: .utf8)
        #expect(card.contains("# alice/tiny-lora") && card.contains("base_model: \"org/Tiny-GGUF\""), "\(card)")
        #expect(!card.contains("https://github.com/)") && !card.contains("finch-push-"))
        let config = try String(contentsOfFile: dir + "/hub/models/alice/tiny-lora/adapter_config.json", encoding: .utf8)
        #expect(!config.contains("\"library\""))
        let transcript = try String(contentsOfFile: dir + "/work/nb.out.md", encoding: .utf8)
        for text in [r.out, r.err, transcript] { #expect(!text.contains("hf_typedTokenForTests")) }
        // the failed load left no empty snapshot: the cache holds the one downloaded file
        let snaps = dir + "/hf/hub/models--org--Tiny-GGUF/snapshots"
        for s in try FileManager.default.contentsOfDirectory(atPath: snaps) {
            #expect(try FileManager.default.contentsOfDirectory(atPath: snaps + "/" + s) == ["tiny.Q8_0.gguf"])
        }
    }

    @Test func trackedRunRerunFromTheCacheKeepsStepsInOrder() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try Self.tinyFolder(in: dir)
        // digits are single tokens (ids < 96) in the SmolLM2 tokenizer: text the tiny model can read
        try """
        %% train
        m = load_model("\(tiny)")
        lora(m, r=4, alpha=8)
        run = track("p", run="fixed")
        data = dataset([{"text": "0123456789"}, {"text": "9876543210"}, {"text": "1357924680"}])
        r = train(m, data, steps=2, batch_size=1, eval=data)
        print(len(r.steps))
        """.write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        func loggedSteps() throws -> [Int] {
            try String(contentsOfFile: dir + "/runs/p/fixed/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return obj["step"] as! Int
            }
        }
        let first = try runFinch(["run", "nb.cell"], cwd: dir, env: [:])
        #expect(first.code == 0, "\(first.err)")
        #expect(try loggedSteps() == [0, 1, 2])   // step 0: the eval loss before training
        let second = try runFinch(["run", "nb.cell"], cwd: dir, env: [:])
        #expect(second.code == 0, "\(second.err)")
        #expect(second.err.contains("restored the trained adapter from the notebook cache"))
        #expect(try loggedSteps() == [0, 1, 2])
        let events = try FileManager.default.contentsOfDirectory(atPath: dir + "/runs/p/fixed").filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1)
    }

    /// An adapter pushed to the Hub loads back by its repo id, as its model card says: the same
    /// tensors, downloaded into the Hub cache (the two PEFT files only); a model repo is refused by
    /// name, and a loaded adapter is not replaced without replace=true.
    @Test func pushedAdapterLoadsBackByRepoId() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = try Self.tinyFolder(in: dir)
        try FileManager.default.createDirectory(atPath: dir + "/hub/models/org/tiny-model", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: tiny + "/config.json", toPath: dir + "/hub/models/org/tiny-model/config.json")
        let server = try TestHubServer(root: dir + "/hub").start()
        defer { server.stop() }
        server.addToken("hf_adapterRoundTripToken", user: "alice")
        let env = ["HF_ENDPOINT": server.endpoint, "HF_HOME": dir + "/hf", "XDG_CONFIG_HOME": dir + "/config",
                   "HF_TOKEN": "hf_adapterRoundTripToken"]
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        try """
        %% train
        m = load_model("\(tiny)")
        lora(m, r=4, alpha=8)
        train(m, dataset([{"text": "0123456789"}, {"text": "9876543210"}]), steps=2, batch_size=1)
        save(m, "trained")
        print(m.trainable_params)
        push(m, "alice/tiny-lora")
        """.write(toFile: dir + "/a/nb.cell", atomically: true, encoding: .utf8)
        let pushed = try runFinch(["run", "nb.cell"], cwd: dir + "/a", env: env)
        #expect(pushed.code == 0, "\(pushed.err)")
        let card = try String(contentsOfFile: dir + "/hub/models/alice/tiny-lora/README.md", encoding: .utf8)
        #expect(card.contains("load_adapter(m, \"alice/tiny-lora\")"), "\(card)")

        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        try """
        %% load
        m = load_model("\(tiny)")
        load_adapter(m, "alice/tiny-lora")
        print(m.trainable_params)
        save(m, "back")
        %% again
        load_adapter(m, "alice/tiny-lora")
        %% model
        load_adapter(m, "org/tiny-model", replace=true)
        %% missing
        load_adapter(m, "./no-such-folder", replace=true)
        """.write(toFile: dir + "/b/nb.cell", atomically: true, encoding: .utf8)
        let back = try runFinch(["run", "--keep-going", "nb.cell"], cwd: dir + "/b", env: env)
        let count = try #require(pushed.out.split(separator: "\n").first)
        #expect(back.out.split(separator: "\n").first == count, "\(back.out)\n\(back.err)")
        #expect(back.err.contains("already has an adapter loaded with load_adapter()") && back.err.contains("replace=true"), "\(back.err)")
        #expect(back.err.contains("org/tiny-model is not a PEFT adapter repo: it has no adapter_config.json"), "\(back.err)")
        #expect(back.err.contains("no-such-folder: no such adapter folder"), "\(back.err)")
        let original = try SafetensorsFile(path: dir + "/a/trained/adapter_model.safetensors")
        let loaded = try SafetensorsFile(path: dir + "/b/back/adapter_model.safetensors")
        #expect(original.tensors.map(\.name).sorted() == loaded.tensors.map(\.name).sorted())
        #expect(!original.tensors.isEmpty)
        for t in original.tensors {
            let u = try #require(loaded.tensor(named: t.name))
            #expect(Array(try original.data(for: t)) == Array(try loaded.data(for: u)), "\(t.name)")
        }
        // only the adapter's two files were downloaded
        let snaps = dir + "/hf/hub/models--alice--tiny-lora/snapshots"
        for snap in try FileManager.default.contentsOfDirectory(atPath: snaps) {
            #expect(try FileManager.default.contentsOfDirectory(atPath: snaps + "/" + snap).sorted() == ["adapter_config.json", "adapter_model.safetensors"])
        }
    }
}
