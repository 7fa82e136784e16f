import Foundation
import Testing
import FinchModels

let realModelEnabled = ProcessInfo.processInfo.environment["FINCH_REAL_MODEL"] == "1"

/// The shipped model notebooks, run by the release binary on the embedded model (scripts/test runs
/// these in release with FINCH_REAL_MODEL=1).
@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"), .serialized)
struct RealModelNotebookTests {
    func runRelease(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try runFinch(repoRoot + "/.build/release/finch", args, cwd: repoRoot,
                     env: ["FINCH_STDLIB": repoRoot + "/stdlib", "HF_HUB_OFFLINE": "1"])
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
        #expect(r.out.contains("\"peft_type\": \"LORA\""))
        #expect(r.err.contains("step 4/4"))
        for f in ["outputs/medical-cot-lora/adapter_model.safetensors", "outputs/medical-cot-lora/adapter_config.json",
                  "outputs/medical-cot-merged/config.json", "outputs/medical-cot-merged/model.safetensors",
                  "outputs/medical-cot-merged/tokenizer.json"] {
            #expect(FileManager.default.fileExists(atPath: repoRoot + "/notebooks/" + f), "\(f) missing beside the notebook")
        }
    }
}

/// Finch as installed software: the release binary and notebooks/ copied into a temporary folder, no
/// FINCH_STDLIB and no FINCH_MODELS, the model where scripts/setup puts it (the per-user data folder, emulated
/// with XDG_DATA_HOME and a link). The tutorial runs from inside the copy and from another folder, and writes
/// beside the copy.
@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"), .serialized)
struct RealModelInstalledTests {
    func runCopy(_ binary: String, _ args: [String], cwd: String, dataHome: String) throws -> (code: Int32, out: String, err: String) {
        try runFinch(binary, args, cwd: cwd,
                     env: ["FINCH_STDLIB": nil, "FINCH_MODELS": nil, "XDG_DATA_HOME": dataHome, "HF_HUB_OFFLINE": "1"])
    }

    @Test func copiedBinaryAndNotebooksRunFromAnyFolder() throws {
        let fm = FileManager.default
        let model = try #require(ModelLoader.defaultModelPath(), "the embedded model: scripts/setup fetches it")
        let root = try tempDirectory()
        defer { try? fm.removeItem(atPath: root) }
        // The binary and notebooks/, copied; nothing the repository's runs left behind.
        try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: repoRoot + "/.build/release/finch", toPath: root + "/bin/finch")
        try fm.createDirectory(atPath: root + "/copy", withIntermediateDirectories: true)
        try fm.copyItem(atPath: repoRoot + "/notebooks", toPath: root + "/copy/notebooks")
        let nb = root + "/copy/notebooks"
        for generated in ["outputs", "runs", "checkpoints", "out", ".finch-cache", "stdlib"] { try? fm.removeItem(atPath: nb + "/" + generated) }
        // The per-user data folder holding the model, as scripts/setup leaves it.
        let dataHome = root + "/data"
        try fm.createDirectory(atPath: dataHome + "/finch/models", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dataHome + "/finch/models/" + ModelLoader.defaultModelFile, withDestinationPath: model)
        let binary = root + "/bin/finch"
        let short = ["-p", "rows=40", "-p", "steps=2", "--fresh"]
        let adapter = nb + "/outputs/medical-cot-lora/adapter_model.safetensors"

        // Without the model anywhere: the error names the folders searched and the command that fetches it.
        let missing = try runCopy(binary, ["run", "medical_cot.cell", "--only", "params", "--only", "model", "--no-transcript"], cwd: nb, dataHome: root + "/empty")
        #expect(missing.code == 1)
        #expect(missing.err.contains(root + "/empty/finch/models") && missing.err.contains(nb + "/models") && missing.err.contains("scripts/setup"), "\(missing.err)")

        // From inside the copy.
        let inside = try runCopy(binary, ["run", "medical_cot.cell"] + short, cwd: nb, dataHome: dataHome)
        #expect(inside.code == 0, "\(inside.err)")
        #expect(inside.out.contains("=== before training vs after training ==="))
        #expect(inside.err.contains("saved adapter to outputs/medical-cot-lora"), "\(inside.err)")
        #expect(fm.fileExists(atPath: adapter))
        #expect(fm.fileExists(atPath: nb + "/medical_cot.out.md"))

        // From another folder, by a relative path.
        try fm.removeItem(atPath: nb + "/outputs")
        let elsewhere = try runCopy(binary, ["run", "copy/notebooks/medical_cot.cell", "--no-transcript"] + short, cwd: root, dataHome: dataHome)
        #expect(elsewhere.code == 0, "\(elsewhere.err)")
        #expect(elsewhere.err.contains("saved adapter to copy/notebooks/outputs/medical-cot-lora"), "\(elsewhere.err)")
        #expect(fm.fileExists(atPath: adapter))
        #expect(Set(try fm.contentsOfDirectory(atPath: root)) == ["bin", "copy", "data"], "the run wrote outside the notebook's folder")
    }
}
