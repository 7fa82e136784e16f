// libFuzzer harness for the GGUF reader (built by fuzz/run.sh together with the Formats sources).
// Parses arbitrary bytes; on success touches every tensor's bytes and every metadata accessor, so an
// out-of-bounds range or a bad accessor shows up under AddressSanitizer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let file = try? GGUFFile(bytes: buffer, path: "fuzz.gguf") else { return 0 }
    var sink: UInt64 = 0
    for t in file.tensors {
        let bytes = file.data(for: t)
        if let first = bytes.first, let last = bytes.last { sink &+= UInt64(first) &+ UInt64(last) }
        sink &+= UInt64(truncatingIfNeeded: t.elementCount)
    }
    for (_, v) in file.metadata {
        sink &+= UInt64(truncatingIfNeeded: v.int ?? 0) &+ UInt64(v.stringArray?.count ?? 0) &+ UInt64(v.intArray?.count ?? 0)
        _ = v.floatArray; _ = v.float; _ = v.string
    }
    if sink == 0x5EED_F1CC { print("") }  // keep the work observable
    return 0
}
