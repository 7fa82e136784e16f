import Foundation
import Testing

let realModelEnabled = ProcessInfo.processInfo.environment["FINCH_REAL_MODEL"] == "1"

/// The shipped model notebooks, run by the release binary on the embedded model (scripts/test runs
/// these in release with FINCH_REAL_MODEL=1).
@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"), .serialized)
struct RealModelNotebookTests {
    func runRelease(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: repoRoot + "/.build/release/finch")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: repoRoot)
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        env["FINCH_STDLIB"] = repoRoot + "/stdlib"
        env["HF_HUB_OFFLINE"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func quickstartRuns() throws {
        let r = try runRelease(["run", "notebooks/quickstart.cell", "--no-transcript"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Model smollm2"))
        #expect(r.out.contains("<|im_start|>user\nHello!<|im_end|>"))
        #expect(r.out.contains("perplexity"))
        #expect(r.err.contains("tokens/s decode"))
    }

    @Test func medicalTutorialRunsEndToEnd() throws {
        let r = try runRelease(["run", "notebooks/medical_cot.cell", "-p", "rows=40", "-p", "steps=4", "--fresh", "--no-transcript"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Skipping the Hub login") || r.out.contains("Logged in as"))
        #expect(r.out.contains("=== before training vs after training ==="))
        #expect(r.out.contains("\"peft_type\" : \"LORA\""))
        #expect(r.err.contains("step 4/4"))
        for f in ["outputs/medical-cot-lora/adapter_model.safetensors", "outputs/medical-cot-lora/adapter_config.json",
                  "outputs/medical-cot-merged/config.json", "outputs/medical-cot-merged/model.safetensors",
                  "outputs/medical-cot-merged/tokenizer.json"] {
            #expect(FileManager.default.fileExists(atPath: repoRoot + "/" + f), "\(f) missing")
        }
    }
}
