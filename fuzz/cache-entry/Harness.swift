// libFuzzer harness for a memo-cache entry of `train` (a safetensors file: TrainCacheEntry.parse over
// SafetensorsFile: metadata, metric columns, adapter shapes), checked against an adapter of a [3] and a
// [5] tensor. Build and run:
//   fuzz/run.sh cache-entry SECONDS
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let file = try? SafetensorsFile(bytes: buffer, path: "fuzz.safetensors") else { return 0 }
    if let e = try? TrainCacheEntry.parse(file, adapter: [("a", [3]), ("b", [5])]) {
        precondition(e.adapter.map { file.data(for: $0).count } == [12, 20])
        precondition(e.steps.count >= 0 && e.evals.count >= 0)
    }
    return 0
}
