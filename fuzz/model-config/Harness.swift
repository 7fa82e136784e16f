// libFuzzer harness for config.json, generation_config.json and adapter_config.json as Finch reads them
// (ModelConfig.fromHuggingFace, the exact integer readers for token ids, PEFTLoraSettings). Build and run:
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
    if let json = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] {
        for (_, v) in json { _ = exactInt(v); _ = exactInts(v) }
    }
    if let a = try? PEFTLoraSettings.parse(bytes) {
        precondition(a.rank > 0 && a.rank <= 1 << 16 && a.alpha > 0 && a.dropout >= 0 && a.dropout < 1)
    }
    return 0
}
