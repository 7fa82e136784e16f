import Foundation
import Testing
import FinchModels
import FinchTensor

let realModelEnabled = ProcessInfo.processInfo.environment["FINCH_REAL_MODEL"] == "1"

func realModelPath() throws -> String {
    let folder = try #require(ProcessInfo.processInfo.environment["FINCH_MODELS"], "set FINCH_MODELS to the folder holding SmolLM2-135M-Instruct.Q4_1.gguf")
    return URL(fileURLWithPath: folder).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path
}

@Suite(.enabled(if: realModelEnabled, "set FINCH_REAL_MODEL=1 (and FINCH_MODELS)"))
struct RealModelGGUFTests {
    @Test func smolLM2Metadata() throws {
        let file = try GGUFFile(path: try realModelPath())
        #expect(file.version == 3)
        #expect(file.architecture == "llama")
        #expect(file.archValue("block_count")?.int == 30)
        #expect(file.archValue("embedding_length")?.int == 576)
        #expect(file.archValue("feed_forward_length")?.int == 1536)
        #expect(file.archValue("attention.head_count")?.int == 9)
        #expect(file.archValue("attention.head_count_kv")?.int == 3)
        #expect(file.archValue("vocab_size")?.int == 49152)
        #expect(file.archValue("rope.freq_base")?.float == 100000)
        #expect(file.archValue("attention.layer_norm_rms_epsilon")?.float == 1e-5)
        #expect(file.metadata["tokenizer.ggml.model"]?.string == "gpt2")
        #expect(file.metadata["tokenizer.ggml.tokens"]?.stringArray?.count == 49152)
        #expect(file.metadata["tokenizer.ggml.token_type"]?.intArray?.count == 49152)
        #expect(file.metadata["tokenizer.ggml.merges"]?.stringArray?.count == 48900)
        #expect(file.metadata["tokenizer.ggml.bos_token_id"]?.int == 1)
        #expect(file.metadata["tokenizer.ggml.eos_token_id"]?.int == 2)
        let template = try #require(file.metadata["tokenizer.chat_template"]?.string)
        #expect(template.contains("<|im_start|>"))
        #expect(file.metadata["general.quantization_version"]?.int == 2)
    }

    @Test func smolLM2Tensors() throws {
        let file = try GGUFFile(path: try realModelPath())
        #expect(file.tensors.count == 272)
        let counts = Dictionary(grouping: file.tensors, by: \.dtype).mapValues(\.count)
        #expect(counts == [.q4_1: 210, .f32: 61, .q8_0: 1])
        let embed = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embed.shape == [49152, 576] && embed.dtype == .q8_0)
        #expect(file.tensor(named: "output.weight") == nil, "tied embeddings")
        #expect(file.tensor(named: "blk.0.attn_q.weight")?.shape == [576, 576])
        #expect(file.tensor(named: "blk.0.attn_k.weight")?.shape == [192, 576])
        #expect(file.tensor(named: "blk.0.ffn_down.weight")?.shape == [576, 1536])
        #expect(file.tensor(named: "blk.0.ffn_up.weight")?.shape == [1536, 576])
        // Every tensor decodes to finite values.
        var scratch = [Float](repeating: 0, count: 49152 * 576)
        for t in file.tensors {
            let finite = scratch.withUnsafeMutableBufferPointer { buf -> Bool in
                dequantize(t.dtype, file.data(for: t).baseAddress!, into: buf.baseAddress!, count: t.elementCount)
                return buf[0..<t.elementCount].allSatisfy(\.isFinite)
            }
            #expect(finite, "\(t.name)")
        }
    }

    struct Values: Decodable {
        struct Value: Decodable { let tensor: String; let row: Int; let bits: [UInt32]; let row_sum: Double }
        let values: [Value]
    }

    @Test func smolLM2ValuesMatchGGUFPy() throws {
        let file = try GGUFFile(path: try realModelPath())
        let ref = try JSONDecoder().decode(Values.self, from: Data(contentsOf: fixtureURL("smollm2_gguf_values.json")))
        #expect(ref.values.count == 4)
        for v in ref.values {
            let t = try #require(file.tensor(named: v.tensor))
            let rowBytes = t.dtype.byteCount(elements: t.rowLength)!
            let data = file.data(for: t)
            var row = [Float](repeating: 0, count: t.rowLength)
            row.withUnsafeMutableBufferPointer { dequantize(t.dtype, data.baseAddress! + v.row * rowBytes, into: $0.baseAddress!, count: t.rowLength) }
            #expect(row.prefix(16).map(\.bitPattern) == v.bits, "\(v.tensor) row \(v.row)")
            #expect(abs(row.reduce(0.0) { $0 + Double($1) } - v.row_sum) < 1e-9 * max(1, abs(v.row_sum)))
        }
    }

    @Test func smolLM2RoundTripsThroughWriter() throws {
        // Re-export every tensor and all metadata; the copy must read back identically.
        let file = try GGUFFile(path: try realModelPath())
        var w = try GGUFWriter(alignment: file.alignment)
        for key in file.metadataKeys { w.set(key, file.metadata[key]!) }
        for t in file.tensors { try w.addTensor(name: t.name, shape: t.shape, dtype: t.dtype, data: .buffer(file.data(for: t))) }
        let path = tempPath("smollm2-copy.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        let copy = try GGUFFile(path: path)
        #expect(copy.metadata == file.metadata)
        #expect(copy.tensors == file.tensors)
        #expect(copy.fileSize == file.fileSize)
        for t in file.tensors { #expect(copy.data(for: t).elementsEqual(file.data(for: t)), "\(t.name)") }
    }
}
