import Foundation
import Testing
import FinchSupport
@testable import FinchHub

/// Reads TFRecord frames back, checking both masked CRCs (the independent check is the tensorboard
/// script in scripts/hub).
func readTFRecords(_ data: Data) -> [[UInt8]]? {
    let b = [UInt8](data)
    var i = 0
    var out: [[UInt8]] = []
    func u32(_ p: Int) -> UInt32 { UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24 }
    while i < b.count {
        guard i + 12 <= b.count else { return nil }
        var len = 0
        for k in 0..<8 { len |= Int(b[i + k]) << (8 * k) }
        guard u32(i + 8) == Checksum.maskedCRC32C(b[i..<(i + 8)]), i + 12 + len + 4 <= b.count else { return nil }
        let payload = Array(b[(i + 12)..<(i + 12 + len)])
        guard u32(i + 12 + len) == Checksum.maskedCRC32C(payload) else { return nil }
        out.append(payload)
        i += 12 + len + 4
    }
    return out
}

@Suite struct TrackingTests {
    @Test func checksumsMatchPublishedCheckValues() {
        let check = Array("123456789".utf8)
        #expect(Checksum.crc32(check) == 0xCBF4_3926)
        #expect(Checksum.crc32c(check) == 0xE306_9283)
        #expect(Checksum.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Checksum.adler32([UInt8](repeating: 0xFF, count: 100_000)) == { () -> UInt32 in
            var a: UInt64 = 1, b: UInt64 = 0
            for _ in 0..<100_000 { a = (a + 255) % 65521; b = (b + a) % 65521 }
            return UInt32(b << 16 | a)
        }())
    }

    @Test func eventProtoBytesAreExact() throws {
        let dir = makeTempDir("tb"); defer { removeDir(dir) }
        let w = try TensorBoardWriter(directory: dir, now: Date(timeIntervalSince1970: 0))
        try w.scalars([("loss", 1.5)], step: 3, wallTime: Date(timeIntervalSince1970: 0))
        let records = readTFRecords(contents(w.path)!)
        #expect(records?.count == 2)
        // Event{wall_time=0, file_version="brain.Event:2"}
        #expect(records?[0] == [0x09] + [UInt8](repeating: 0, count: 8) + [0x1A, 13] + Array("brain.Event:2".utf8))
        // Event{wall_time=0, step=3, summary{value{tag="loss", simple_value=1.5}}}
        let value: [UInt8] = [0x0A, 4] + Array("loss".utf8) + [0x15, 0x00, 0x00, 0xC0, 0x3F]
        let summary: [UInt8] = [0x0A, UInt8(value.count)] + value
        #expect(records?[1] == [0x09] + [UInt8](repeating: 0, count: 8) + [0x10, 3, 0x2A, UInt8(summary.count)] + summary)
        #expect((w.path as NSString).lastPathComponent.hasPrefix("events.out.tfevents.0."))
    }

    @Test func runFolderHasMetricsEventsAndCurves() throws {
        // scripts/hub/check_tensorboard.py sets FINCH_HUB_RUN_OUT to keep this run for its reader
        let keep = ProcessInfo.processInfo.environment["FINCH_HUB_RUN_OUT"]
        let root = keep ?? makeTempDir("runs"); defer { if keep == nil { removeDir(root) } }
        if keep != nil { removeDir(root + "/medical-sft"); removeDir(root + "/p") }
        let secret = Secret(name: "WANDB_API_KEY", value: "wandb-secret-key-777")
        let tracker = try RunTracker(project: "medical-sft", run: "lora-r16",
                                     config: .obj(["lr": .double(2e-4), "r": .int(16), "note": .string("key wandb-secret-key-777 leaked")]), root: root)
        _ = secret
        for step in 1...50 {
            var m: [(String, Double)] = [("loss", 3.0 * exp(-Double(step) / 20) + 0.5), ("lr", 2e-4)]
            if step % 10 == 0 { m.append(("eval_loss", 3.2 * exp(-Double(step) / 22) + 0.6)) }
            try tracker.log(step: step, m)
        }
        let art = try tracker.finish()
        #expect(art.directory == root + "/medical-sft/lora-r16")
        let lines = String(decoding: contents(art.metrics)!, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 50)
        let l10 = try JSON.parse(String(lines[9]), options: .lenient)
        #expect(l10["step"] == .int(10) && l10["eval_loss"] != nil && l10["loss"]?.doubleValue != nil)
        let config = String(decoding: contents(art.directory + "/config.json")!, as: UTF8.self)
        #expect(config.contains("\"r\":16") && !config.contains("wandb-secret-key-777"))
        let events = readTFRecords(contents(art.events)!)
        #expect(events?.count == 51)
        let png = [UInt8](contents(art.png!)!)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(png.count < 800 * 480 * 3 / 10)   // the deflate encoder compresses
        let svg = String(decoding: contents(art.svg!)!, as: UTF8.self)
        #expect(svg.hasPrefix("<svg") && svg.contains("data-name=\"loss\"") && svg.contains("data-name=\"eval_loss\""))
        #expect(throws: TrackingError.invalidName("../x")) { try RunTracker(project: "../x", root: root) }
        // a second run with no name gets its own folder
        let a = try RunTracker(project: "p", root: root), b = try RunTracker(project: "p", root: root)
        #expect(a.directory != b.directory)
    }

    @Test func pngChunksAreWellFormed() {
        var c = Canvas(width: 7, height: 3)
        c.set(1, 1, RGB(255, 0, 0))
        let png = [UInt8](c.png())
        var i = 8
        var types: [String] = []
        while i + 12 <= png.count {
            let len = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            let body = Array(png[(i + 4)..<(i + 8 + len)])
            let crc = UInt32(png[i + 8 + len]) << 24 | UInt32(png[i + 9 + len]) << 16 | UInt32(png[i + 10 + len]) << 8 | UInt32(png[i + 11 + len])
            #expect(Checksum.crc32(body) == crc)
            types.append(String(decoding: body.prefix(4), as: UTF8.self))
            if types.last == "IHDR" { #expect(Array(body[4...]) == [0, 0, 0, 7, 0, 0, 0, 3, 8, 2, 0, 0, 0]) }
            i += 12 + len
        }
        #expect(types == ["IHDR", "IDAT", "IEND"])
        #expect(i == png.count)
    }

    @Test func terminalPlotDrawsBraille() {
        let s = Series(name: "loss", points: (0..<20).map { (Double($0), 10.0 - Double($0) / 2) })
        let text = Chart.terminal([s], width: 20, height: 5)
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(rows.count == 5 + 3 + 1)
        #expect(rows[0].hasPrefix(" 10 ┤"))
        #expect(rows[4].hasPrefix("0.5 ┤"))
        // a falling line: dots top-left and bottom-right, nothing bottom-left
        let body = rows[0..<5].map { Array($0.split(separator: "┤", maxSplits: 1)[1]) }
        #expect(body[0][0] != "\u{2800}")
        #expect(body[4][19] != "\u{2800}")
        #expect(body[4][0] == "\u{2800}")
        #expect(!Chart.terminal([s], width: 20, height: 5, color: false).contains("\u{1B}"))
        #expect(Chart.terminal([s], width: 20, height: 5, color: true).contains("\u{1B}[34m"))
        // degenerate data never hangs or crashes: huge magnitudes, one point, a flat line, no points
        let huge = Series(name: "loss", points: [(0, 1e16), (1, 1e16 + 2), (2, .nan)])
        #expect(Chart.png([huge], width: 64, height: 48).count > 8)
        #expect(Chart.svg([Series(name: "loss", points: [(1, 2)])], title: "t").contains("polyline"))
        let flat = Chart.terminal([Series(name: "flat", points: [(0, 1), (5, 1)])], width: 10, height: 3)
        #expect(flat.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) })
        #expect(Chart.terminal([], width: 10, height: 3) == "(no data)\n")
    }
}
