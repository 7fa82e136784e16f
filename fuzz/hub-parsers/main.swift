// libFuzzer harness for FinchHub's parsers of untrusted text: JSON (FinchSupport's one parser, lenient: repo info, dataset files),
// JSON Lines, CSV, and the YAML front matter of dataset cards. Build and run (outside CI):
//   fuzz/hub-parsers/run.sh [seconds]
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let selector = bytes.first else { return 0 }
    let input = bytes.dropFirst()
    switch selector % 4 {
    case 0:
        if let v = try? JSON.parse(Data(input), options: .lenient) {
            // what we write we can read back, identically
            let again = try? JSON.parse(v.serialized(), options: .lenient)
            if case .double(let d) = v, d.isNaN { break }
            precondition(again != nil, "serialized JSON does not parse")
            _ = try? DataFiles.fromJSON(v, source: "fuzz")
        }
    case 1:
        if let rows = try? JSON.parseLines(Data(input), options: .lenient) { _ = try? DataFiles.fromRecords(rows, source: "fuzz") }
    case 2:
        if let d = try? DataFiles.fromCSV(Data(input), source: "fuzz") {
            precondition(d.values.allSatisfy { $0.count == d.columns.count }, "ragged CSV rows accepted")
            _ = d.preview()
        }
    default:
        let text = String(decoding: input, as: UTF8.self)
        _ = MiniYAML.parse(text)
        _ = try? DataFileResolution.configDataFiles(readme: "---\n" + text + "\n---\n", name: nil, files: ["a.json", "data/train-0.jsonl"])
        _ = try? SplitSpec.parse(text).map { $0.range(count: 1000) }
    }
    return 0
}
