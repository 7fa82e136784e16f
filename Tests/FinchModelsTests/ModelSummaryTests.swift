import Foundation
import FinchSupport
import Testing
@testable import FinchModels
@testable import FinchTensor

/// `print(model)` and `quantize=`: small counts read as counts, the rope scaling shows, and
/// quantizing leaves lm_head in 16/32 bits as bitsandbytes' QLoRA does.
@Suite struct ModelSummaryTests {
    @Test func countsAreFormattedForTheirSize() {
        #expect(formatCount(512) == "512")
        #expect(formatCount(32_768) == "32.8K")
        #expect(formatCount(134_515_008) == "134.5M")
        #expect(formatCount(8_030_261_248) == "8.03B")
    }

    @Test func summaryShowsSmallAdapterCountsAndLlama3RopeScaling() throws {
        let path = try HuggingFaceFolderTests.folder("tiny-llama3")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ModelLoader.load(path)
        #expect(model.description.contains("rope scaling llama3 ×8 (low 1, high 4, original context 16)"), "\(model.description)")
        var lc = LoRAConfig()
        lc.rank = 4
        try model.network.attachLoRA(lc)
        let n = model.network.trainableParameterCount
        #expect(n > 0 && n < 1_000_000)
        #expect(model.description.contains("\(formatCount(n)) trainable"), "\(model.description)")
        #expect(!model.description.contains("0.0M"))
    }

    @Test func quantizeLeavesLmHeadUnquantized() throws {
        let path = try HuggingFaceFolderTests.folder("tiny-llama3")  // untied: has its own lm_head
        defer { try? FileManager.default.removeItem(atPath: path) }
        let m = try ModelLoader.load(path, options: LoadOptions(quantize: .q8_0))
        #expect(!m.config.tieWordEmbeddings)
        #expect(!m.network.lmHead.dtype.isQuantized, "lm_head is \(m.network.lmHead.dtype)")
        // the projections are quantized (those whose rows split into 32-wide blocks: down_proj's 48 do not)
        let projections = m.network.layers.flatMap { $0.projections.map(\.1.weight) }
        #expect(projections.allSatisfy { $0.dtype == .q8_0 || $0.cols % 32 != 0 })
        #expect(projections.filter { $0.dtype == .q8_0 }.count == 12)
    }
}
