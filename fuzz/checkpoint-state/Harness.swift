// libFuzzer harness for a checkpoint's state.json as `train(resume=…)` reads it (CheckpointState and its
// layout checks). The input is the JSON; the run it is checked against is fixed: 3 parameters of 8, 4 and 0
// values, 100 floats in tensors.bin, 10 steps, 6 rows. Build and run: fuzz/run.sh checkpoint-state SECONDS
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let state = try? CheckpointState(parsing: Data(bytes: data, count: size), file: "state.json") else { return 0 }
    let params: [(name: String, count: Int)] = [("a", 8), ("b", 4), ("c", 0)]
    if let layout = try? state.layout(floats: 100, parameters: params, totalSteps: 10, rows: 6) {
        // what passes the checks is safe to use: every range inside the blob, one per parameter
        precondition(layout.parameters.count == 3)
        for r in layout.parameters + Array(layout.optimizer.values) { precondition(r.lowerBound >= 0 && r.upperBound <= 100) }
        precondition(state.cursor >= 0 && state.cursor <= 6 && state.epoch >= 0)
    }
    return 0
}
