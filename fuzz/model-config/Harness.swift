// libFuzzer harness for config.json, generation_config.json and adapter_config.json as Finch reads them
// (ModelConfig.fromHuggingFace, GenerationConfig, FinchSupport's JSON fields, PEFTLoraSettings). Build and run:
//   fuzz/run.sh model-config SECONDS
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let c = try? ModelConfig.fromHuggingFace(bytes, file: "config.json") {
        // what validates is usable: positive sizes, heads that divide, a parameter count that fits
        precondition(c.hiddenSize > 0 && c.numKeyValueHeads > 0 && c.numAttentionHeads % c.numKeyValueHeads == 0)
        _ = c.parameterCount
    }
    // generation_config.json / adapter_config.json: token ids and ranks through the exact readers
    if let g = try? GenerationConfig.fromHuggingFace(bytes, file: "generation_config.json") { _ = g.eosTokenIds.count }
    if let f = try? JSONFields(parsing: bytes, file: "f.json"), let members = f.json.objectValue {
        for (k, _) in members { _ = try? f.int(k); _ = f.tokenIds(k); _ = try? f.object(k) }
    }
    if let a = try? PEFTLoraSettings.parse(bytes) {
        precondition(a.rank > 0 && a.rank <= 1 << 16 && a.alpha > 0 && a.dropout >= 0 && a.dropout < 1)
    }
    return 0
}
