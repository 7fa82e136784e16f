import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// What the saves write: only PEFT's config keys, real files (never the Hub cache's links), the
/// source's sampling defaults, parent folders created for every format.
@Suite struct SaveFilesTests {
    static let tokenizerFixtures = tinyFixtures.appendingPathComponent("../tokenizers/smollm2").standardized

    /// A Hugging Face folder from the tiny Llama-3 fixture and the SmolLM2 tokenizer, laid out as the
    /// Hub cache lays out a snapshot: every file a relative symlink into ../../blobs/. Returns
    /// (cache repo folder, snapshot folder).
    static func hubCacheSnapshot(generationConfig: String) throws -> (String, String) {
        let fm = FileManager.default
        let repo = NSTemporaryDirectory() + "finch-save-\(UUID().uuidString)/models--org--tiny"
        let snap = repo + "/snapshots/0123456789abcdef0123456789abcdef01234567"
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: snap, withIntermediateDirectories: true)
        var files: [(String, Data)] = []
        for f in ["config.json", "model.safetensors"] {
            files.append((f, try Data(contentsOf: tinyFixtures.appendingPathComponent("tiny-llama3/\(f)"))))
        }
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            files.append((f, try Data(contentsOf: tokenizerFixtures.appendingPathComponent(f))))
        }
        files.append(("generation_config.json", Data(generationConfig.utf8)))
        files.append(("chat_template.jinja", Data("{% for m in messages %}{{ m['content'] }}{% endfor %}".utf8)))
        for (i, (name, data)) in files.enumerated() {
            let blob = "blob\(i)"
            try data.write(to: URL(fileURLWithPath: repo + "/blobs/" + blob))
            try fm.createSymbolicLink(atPath: snap + "/" + name, withDestinationPath: "../../blobs/" + blob)
        }
        return (repo, snap)
    }

    static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    @Test func mergedSaveOfAHubCacheModelCopiesFilesAndKeepsSamplingDefaults() throws {
        let gen = #"{"bos_token_id": 1, "eos_token_id": 2, "do_sample": true, "temperature": 0.6, "top_p": 0.95, "transformers_version": "4.46.0"}"#
        let (repo, snap) = try Self.hubCacheSnapshot(generationConfig: gen)
        defer { try? FileManager.default.removeItem(atPath: (repo as NSString).deletingLastPathComponent) }
        let model = try ModelLoader.load(snap)
        var lc = LoRAConfig()
        lc.rank = 4
        try model.network.attachLoRA(lc)
        // the merged folder goes elsewhere: relative links copied from the cache would dangle there
        let out = NSTemporaryDirectory() + "finch-merged-\(UUID().uuidString)/merged"
        defer { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
        try MergedExport.save(model, to: out, dtype: .f32)
        for f in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"] {
            #expect(!Self.isSymlink(out + "/" + f), "\(f) is a link")
            #expect(FileManager.default.contents(atPath: out + "/" + f) == FileManager.default.contents(atPath: snap + "/" + f), "\(f)")
        }
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/generation_config.json"))) as! [String: Any]
        #expect(saved["do_sample"] as? Bool == true)
        #expect(saved["temperature"] as? Double == 0.6)
        #expect(saved["top_p"] as? Double == 0.95)
        #expect(saved["eos_token_id"] as? Int == 2)
        #expect(saved["transformers_version"] == nil)
        // and the folder reloads on its own
        let again = try ModelLoader.load(out)
        #expect(again.config.hiddenSize == model.config.hiddenSize)
    }

    @Test func adapterConfigHoldsOnlyWhatPEFTKnowsAndTheCardHasNoPlaceholder() throws {
        let (repo, snap) = try Self.hubCacheSnapshot(generationConfig: #"{"eos_token_id": 2}"#)
        defer { try? FileManager.default.removeItem(atPath: (repo as NSString).deletingLastPathComponent) }
        let model = try ModelLoader.load(snap)
        var lc = LoRAConfig()
        lc.rank = 4
        try model.network.attachLoRA(lc)
        let out = NSTemporaryDirectory() + "finch-adapter-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try AdapterIO.save(model, to: out)
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as! [String: Any]
        let unknown = Set(cfg.keys).subtracting(AdapterIO.peftLoraConfigKeys)
        #expect(unknown.isEmpty, "keys PEFT's LoraConfig does not have: \(unknown.sorted())")
        #expect(cfg["library"] == nil)
        #expect(cfg["r"] as? Int == 4 && cfg["peft_type"] as? String == "LORA")
        let card = try String(contentsOfFile: out + "/README.md", encoding: .utf8)
        #expect(!card.contains("https://github.com/)") && !card.contains("path/to/this/folder"))
        #expect(card.contains("Finch") && card.contains(out))
    }

    @Test func ggufSaveCreatesMissingParentFolders() throws {
        let (repo, snap) = try Self.hubCacheSnapshot(generationConfig: #"{"eos_token_id": 2}"#)
        defer { try? FileManager.default.removeItem(atPath: (repo as NSString).deletingLastPathComponent) }
        let model = try ModelLoader.load(snap)
        // GGUF export takes the tokenizer from GGUF metadata; a stand-in vocabulary is enough to write one
        model.ggufTokenizer = GGUFTokenizerSpec(model: "gpt2", pre: "smollm", tokens: (0..<model.config.vocabSize).map { "t\($0)" })
        let base = NSTemporaryDirectory() + "finch-gguf-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/out/sub/model.gguf"
        try GGUFExport.save(model, to: path, quantize: .f32)
        let file = try GGUFFile(path: path)
        #expect(file.tensors.contains { $0.name == "output.weight" })
    }
}
