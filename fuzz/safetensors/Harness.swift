// libFuzzer harness for the safetensors reader and the one JSON parser (FinchSupport, strict mode) behind it
// and the shard index.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    var sink = 0
    if let file = try? SafetensorsFile(bytes: buffer, path: "fuzz.safetensors") {
        for t in file.tensors {
            let bytes = file.data(for: t)
            sink &+= Int(bytes.first ?? 0) &+ Int(bytes.last ?? 0) &+ t.elementCount
        }
        sink &+= file.metadata?.count ?? 0
    }
    // The same bytes as a bare JSON document (the shard index path).
    if let v = try? JSON.parse(buffer, options: .strict) { sink &+= v["weight_map"]?.objectValue?.count ?? 0 }
    if sink == 0x5EED_F1CC { print("") }
    return 0
}
