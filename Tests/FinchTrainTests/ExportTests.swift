import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// The three exporters on the tiny Llama-3 fixture (f32 weights, a rank-4 adapter whose B matrices are
/// random so it changes the logits): each saved form loads back and gives base + adapter's logits. The
/// adapter round trip is exact up to f32 sums (1e-5); the f32 merged folder differs only by the order of
/// the additions in W + s·B·A (1e-4); the f16 GGUF by f16 rounding of the merged weights (1e-2 on logits
/// of magnitude ≈ 1); q8_0 by its 8-bit blocks, here on the embedding and head too (10 % of the logits' range; measured 6 %, while the adapter moves them by 120 %). A missed adapter or a wrong Q/K row order in the
/// GGUF moves these logits by ≈ 0.1–1.
@Suite(.serialized) struct ExportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FinchModelsTests/Fixtures").standardized

    /// tiny-llama3 in Hugging Face layout with SmolLM2's tokenizer files (the model uses ids < 96).
    static func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-export-tiny-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tiny = fixtures.appendingPathComponent("tiny/tiny-llama3")
        for f in ["config.json", "model.safetensors", "generation_config.json"] {
            try FileManager.default.copyItem(at: tiny.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let tok = fixtures.appendingPathComponent("tokenizers/smollm2")
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: tok.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        return dir
    }

    static let ids: [Int32] = [1, 40, 41, 42, 7, 8, 90, 13, 55, 60, 61, 2]

    static func logits(_ m: LanguageModel) throws -> [Float] {
        try GradMode.noGrad { try m.network.logits(ids: ids, batch: 1, seqLen: ids.count) }.toArray()
    }

    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// The base model with a rank-4 adapter on every projection whose B matrices are random.
    static func adapted(_ path: String) throws -> LanguageModel {
        let model = try ModelLoader.load(path, options: LoadOptions(dtype: .f32))
        var lc = LoRAConfig()
        lc.rank = 4
        lc.seed = 3
        try model.network.attachLoRA(lc)
        var rng = SplitMix64(seed: 7)
        for (_, l) in model.network.namedProjections {
            for i in 0..<l.lora!.b.count { l.lora!.b.data[i] = (rng.nextFloat() - 0.5) * 0.5 }
        }
        return model
    }

    /// A byte-level BPE tokenizer spec of exactly the model's 96 tokens, standing in for GGUF metadata.
    static func tinySpec() -> GGUFTokenizerSpec {
        let printable = (33..<127).map { String(UnicodeScalar(UInt8($0))) }  // 94 one-byte tokens
        var spec = GGUFTokenizerSpec(model: "gpt2", tokens: ["<s>", "</s>"] + printable)
        spec.pre = "default"
        spec.bosTokenId = 0
        spec.eosTokenId = 1
        spec.tokenTypes = [3, 3] + Array(repeating: 1, count: printable.count)
        return spec
    }

    @Test func everySavedFormLoadsBackWithTheAdaptedLogits() throws {
        let src = try Self.folder()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("finch-export-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer {
            try? FileManager.default.removeItem(at: src)
            try? FileManager.default.removeItem(at: out)
        }
        let model = try Self.adapted(src.path)
        let reference = try Self.logits(model)
        let base = try Self.logits(try ModelLoader.load(src.path, options: LoadOptions(dtype: .f32)))
        let adapterEffect = Self.maxDiff(reference, base)
        #expect(adapterEffect > 0.1, "the adapter should change the logits")

        // PEFT adapter folder.
        try AdapterIO.save(model, to: out.appendingPathComponent("adapter").path)
        let reloaded = try ModelLoader.load(src.path, options: LoadOptions(dtype: .f32))
        try AdapterIO.load(into: reloaded, from: out.appendingPathComponent("adapter").path)
        #expect(Self.maxDiff(try Self.logits(reloaded), reference) < 1e-5)

        // Merged Hugging Face folder, f32 (isolates the merge) and bf16 (the default).
        try MergedExport.save(model, to: out.appendingPathComponent("merged").path, dtype: .f32)
        let merged = try ModelLoader.load(out.appendingPathComponent("merged").path)
        #expect(merged.network.namedProjections.allSatisfy { $0.1.lora == nil })
        #expect(Self.maxDiff(try Self.logits(merged), reference) < 1e-4)
        try MergedExport.save(model, to: out.appendingPathComponent("merged-bf16").path)
        let mergedBF16 = try ModelLoader.load(out.appendingPathComponent("merged-bf16").path)
        #expect(mergedBF16.storageTypes.contains("bf16"))
        #expect(Self.maxDiff(try Self.logits(mergedBF16), reference) < 5e-2)

        // Merged GGUF (llama.cpp's Q/K row order), f16 and q8_0.
        model.ggufTokenizer = Self.tinySpec()
        let range = reference.map(abs).max()!
        for (q, tol) in [(DType.f16, Float(1e-2)), (.q8_0, 0.1 * range)] {
            let path = out.appendingPathComponent("merged-\(q.rawValue).gguf").path
            try GGUFExport.save(model, to: path, quantize: q)
            let gguf = try ModelLoader.load(path)
            #expect(gguf.tokenizer.vocabSize == 96)
            let d = Self.maxDiff(try Self.logits(gguf), reference)
            #expect(d < tol, "\(q): \(d), adapter effect \(adapterEffect), range \(range)")
        }
    }

    @Test func aGGUFExportWithoutTokenizerMetadataSaysWhatToDo() throws {
        let src = try Self.folder()
        defer { try? FileManager.default.removeItem(at: src) }
        let model = try Self.adapted(src.path)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("finch-export-\(getpid()).gguf").path
        #expect(throws: SaveError.self) { try GGUFExport.save(model, to: path, quantize: .f16) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
