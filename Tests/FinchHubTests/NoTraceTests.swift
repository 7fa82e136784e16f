import Foundation
import Testing
import FinchTestHub
@testable import FinchHub

/// A session that reads a secret, prints it, logs in with it, downloads, pushes and tracks a run leaves
/// no trace of the value in the cache, the run folder, printed text or error messages. (The token file
/// $HF_HOME/token holds it on purpose, as huggingface-cli login does.)
@Suite struct NoTraceTests {
    func grep(_ dir: String, for needle: String) -> [String] {
        var hits: [String] = []
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            let full = dir + "/" + rel
            guard !Files.isDirectory(full), let d = FileManager.default.contents(atPath: full) else { continue }
            if d.range(of: Data(needle.utf8)) != nil { hits.append(rel) }
        }
        return hits
    }

    @Test func secretValueLeavesNoTrace() throws {
        let fx = try HubFixture()
        let config = makeTempDir("xdg"); defer { removeDir(config) }
        let store = SecretStore.default(environment: ["XDG_CONFIG_HOME": config, "HOME": config])
        try store.set(name: "HF_TOKEN", value: HubFixture.token)
        let secret = try store.secret(named: "HF_TOKEN")
        var printed = "\(secret)\n\(String(describing: secret))\n"
        let hub = HubClient(config: fx.config(), token: secret, http: HTTPClient(retry: .none), progress: TerminalProgress(output: { printed += $0 }))
        printed += "Logged in as \(try hub.login(token: secret))\n"
        _ = try hub.snapshot(repo: "org/tiny")
        let local = makeTempDir("push"); defer { removeDir(local) }
        writeFile(local + "/adapter_config.json", #"{"r":4,"base_model_name_or_path":"org/tiny"}"#)
        writeFile(local + "/adapter_model.safetensors", randomBytes(2_000_000, seed: 2))
        printed += try hub.upload(folder: local, repo: "\(HubFixture.user)/traced").repoURL + "\n"
        let runs = makeTempDir("runs"); defer { removeDir(runs) }
        // a careless script puts the token in the run config and in a message: both are redacted
        let tracker = try RunTracker(project: "p", run: "r", config: .obj(["token": .string(HubFixture.token)]), root: runs)
        try tracker.log(step: 1, [("loss", 1)])
        try tracker.finish()
        // errors that might echo the token
        do { _ = try hub.download(repo: "org/tiny", path: "../\(HubFixture.token)") } catch { printed += "\(error)\n" }
        printed += Redactor.shared.redact("echo \(HubFixture.token)\n")

        #expect(!printed.contains(HubFixture.token))
        #expect(printed.contains("Secret(HF_TOKEN: ••••••)"))
        #expect(printed.contains("Logged in as \(HubFixture.user)"))
        #expect(grep(fx.home + "/hub", for: HubFixture.token).isEmpty)
        #expect(grep(runs, for: HubFixture.token).isEmpty)
        #expect(grep(fx.root, for: HubFixture.token).isEmpty)   // nothing pushed contains it either
        #expect(grep(fx.home, for: HubFixture.token).sorted() == ["stored_tokens", "token"])
    }
}
