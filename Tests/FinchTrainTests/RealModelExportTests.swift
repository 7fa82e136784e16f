import Foundation
import Testing
@testable import FinchModels
@testable import FinchTensor
@testable import FinchTrain

/// Saving the embedded model with an adapter: the PEFT adapter, the merged Hugging Face folder and the
/// merged GGUF each load back in Finch and give the logprobs of base + adapter (f32 folder within 2e-3,
/// f16 GGUF within 2e-2; a wrong Q/K row order or a missed adapter would be off by whole nats).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FINCH_REAL_MODEL"] == "1", "set FINCH_REAL_MODEL=1"), .serialized)
struct RealModelExportTests {
    @Test func savedFormatsReloadWithTheSameLogprobs() throws {
        let model = try ModelLoader.load("smollm2")
        var lc = LoRAConfig()
        lc.rank = 4
        try model.network.attachLoRA(lc)
        var rng = SplitMix64(seed: 5)
        for (_, t) in model.network.trainableParameters where t.shape[1] == 4 {  // B matrices: make the adapter matter
            for i in 0..<t.count { t.data[i] = (rng.nextFloat() - 0.5) * 0.02 }
        }
        let text = "A 45-year-old man presents with crushing chest pain. What is the most likely diagnosis?"
        let reference = try model.logprobs(text).logprobs
        let base = try ModelLoader.load("smollm2").logprobs(text).logprobs
        #expect(zip(reference, base).map { abs($0 - $1) }.max()! > 0.05, "the adapter should change the logprobs")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finch-export-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AdapterIO.save(model, to: dir + "/adapter")
        let withAdapter = try ModelLoader.load("smollm2")
        try AdapterIO.load(into: withAdapter, from: dir + "/adapter")
        #expect(zip(try withAdapter.logprobs(text).logprobs, reference).map { abs($0 - $1) }.max()! < 1e-4)

        // f32 isolates the merge (W + scale·B·A); bf16 rounding alone moves logprobs by up to ~0.1.
        try MergedExport.save(model, to: dir + "/merged", dtype: .f32)
        #expect(zip(try ModelLoader.load(dir + "/merged").logprobs(text).logprobs, reference).map { abs($0 - $1) }.max()! < 2e-3)

        try GGUFExport.save(model, to: dir + "/merged.gguf", quantize: .f16)
        #expect(zip(try ModelLoader.load(dir + "/merged.gguf").logprobs(text).logprobs, reference).map { abs($0 - $1) }.max()! < 2e-2)
    }
}
