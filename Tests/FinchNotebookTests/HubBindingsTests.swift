import Foundation
import Testing
import FinchTestHub

/// The Hub built-ins end to end from a notebook, against the local test server: secret → login →
/// load_dataset (a repo in the layout of FreedomIntelligence/medical-o1-reasoning-SFT, with its card's
/// `configs:`) → push of a folder; the token never shows in the output.
extension REPLProcessTests {
    @Test func notebookUsesTheHubThroughTheBuiltins() throws {
        let dir = try tempDirectory()
        let server = try TestHubServer(root: dir + "/hub").start()
        defer { server.stop() }
        server.addToken("hf_goodTokenForTests", user: "alice")
        let repo = dir + "/hub/datasets/FreedomIntelligence/medical-o1-reasoning-SFT"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try """
        ---
        configs:
        - config_name: en
          data_files: medical_o1_sft.json
        ---
        A fixture in the layout of the real dataset.
        """.write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        try #"[{"Question": "q1", "Complex_CoT": "c1", "Response": "r1"}, {"Question": "q2", "Complex_CoT": "c2", "Response": "r2"}, {"Question": "q3", "Complex_CoT": "c3", "Response": "r3"}]"#
            .write(toFile: repo + "/medical_o1_sft.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/work/adapter", withIntermediateDirectories: true)
        try #"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}"#
            .write(toFile: dir + "/work/adapter/adapter_config.json", atomically: true, encoding: .utf8)
        try """
        tok = secret("HF_TOKEN")
        login(tok)
        data = load_dataset("FreedomIntelligence/medical-o1-reasoning-SFT", "en", split="train[:2]")
        print(len(data), data.columns)
        print(push("adapter", "alice/medical-lora", token=tok))
        """.write(toFile: dir + "/work/nb.cell", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = ["run", "nb.cell"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir + "/work")
        var env = ProcessInfo.processInfo.environment
        env["HF_ENDPOINT"] = server.endpoint
        env["HF_HOME"] = dir + "/hf"
        env["HF_TOKEN"] = "hf_goodTokenForTests"
        env["XDG_CONFIG_HOME"] = dir + "/config"
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "HF_HUB_OFFLINE")
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(e)")
        #expect(o.contains("Logged in as alice"))
        #expect(o.contains(#"2 ["Question", "Complex_CoT", "Response"]"#))
        #expect(o.contains("\(server.endpoint)/alice/medical-lora"))
        #expect(!o.contains("hf_goodTokenForTests") && !e.contains("hf_goodTokenForTests"))
        let transcript = try String(contentsOfFile: dir + "/work/nb.out.md", encoding: .utf8)
        #expect(!transcript.contains("hf_goodTokenForTests"))
    }
}
