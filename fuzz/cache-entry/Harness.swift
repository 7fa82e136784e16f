// libFuzzer harness for a memo-cache entry of `train` (TrainCacheFormat.parse: header length, header JSON,
// sizes, evals), checked against an adapter of tensors with 3 and 5 values. Build and run:
//   fuzz/run.sh cache-entry SECONDS
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let e = try? TrainCacheFormat.parse(bytes, counts: [3, 5]) {
        precondition(e.values.count == 8 * 4 && e.values.upperBound == bytes.count)
    }
    return 0
}
