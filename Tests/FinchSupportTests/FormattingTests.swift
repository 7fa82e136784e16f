import Testing
@testable import FinchSupport

@Suite struct FormattingTests {
    /// Binary units, three significant digits, and a unit change before rounding reaches 1024.
    @Test func bytesInBinaryUnits() {
        #expect(formatBytes(0) == "0 B")
        #expect(formatBytes(1023) == "1023 B")
        #expect(formatBytes(1024) == "1.00 KiB")
        #expect(formatBytes(4608) == "4.50 KiB")
        #expect(formatBytes(10_239) == "10.0 KiB")  // 9.999 KiB rounds up: one decimal, not "10.00"
        #expect(formatBytes(96_800_000) == "92.3 MiB")
        #expect(formatBytes(513 << 20) == "513 MiB")
        #expect(formatBytes(1_048_000) == "1023 KiB" && formatBytes(1_048_200) == "1.00 MiB")  // 1023.6 KiB must not print "1024 KiB"
        #expect(formatBytes(1_803_886_264) == "1.68 GiB")
        #expect(formatBytes(Int64(3) << 40) == "3.00 TiB")
    }

    @Test func durationsForPeople() {
        #expect(formatDuration(0.34) == "340 ms")
        #expect(formatDuration(4.21) == "4.2 s")
        #expect(formatDuration(59.97) == "1m00s")
        #expect(formatDuration(125) == "2m05s")
        #expect(formatDuration(3725) == "1h02m")
        #expect(formatDuration(.infinity) == "—" && formatDuration(.nan) == "—" && formatDuration(-1) == "—")
    }

    @Test func counts() {
        #expect(formatCount(512) == "512" && formatCount(32_768) == "32.8K" && formatCount(8_030_261_248) == "8.03B")
    }
}

@Suite struct ProgressLineTests {
    /// Piped: plain lines, no escapes; between forced lines only what `plainEvery` lets through.
    @Test func pipedPrintsPlainLines() {
        var out: [String] = []
        let p = ProgressLine(terminal: false, environment: [:], plainEvery: 3600) { out.append($0) }
        p.update("step 1/3")             // the first is due
        p.update("step 2/3")             // within the hour: dropped
        p.update("step 3/3", force: true)
        p.finish("done")
        #expect(out == ["step 1/3\n", "step 3/3\n", "done\n"])
        var quiet: [String] = []
        let q = ProgressLine(terminal: false, environment: [:], plainEvery: nil) { quiet.append($0) }
        q.update("50%"); q.finish()
        #expect(quiet.isEmpty)
    }

    /// On a terminal: one line redrawn in place, cleared (or replaced) at the end.
    @Test func terminalRedrawsInPlace() {
        var out: [String] = []
        let p = ProgressLine(terminal: true, environment: [:], redrawEvery: 0) { out.append($0) }
        p.update("step 1/2"); p.update("step 2/2"); p.finish()
        #expect(out == ["\rstep 1/2\u{1B}[K", "\rstep 2/2\u{1B}[K", "\r\u{1B}[K"])
        out = []
        p.finish("summary")
        #expect(out == ["\rsummary\u{1B}[K\n"])
    }

    /// Step/total, rate and ETA in one rendering; the bar is coloured only without NO_COLOR.
    @Test func rendersCountRateAndETA() {
        let plain = ProgressLine(terminal: true, environment: ["NO_COLOR": "1"]) { _ in }
        #expect(!plain.color)
        #expect(plain.render("train", done: 5, total: 10, unit: .items("steps"), perSecond: 2)
                == "train ████████████░░░░░░░░░░░░  50% 5/10 steps ETA 2.5 s 2.0 steps/s")
        #expect(plain.render("x", done: 3 << 20, total: nil, unit: .bytes, perSecond: 1024) == "x 3.00 MiB 1.00 KiB/s")
        #expect(plain.render("x", done: 1, total: 4, unit: .bytes, perSecond: 1, final: true).contains("ETA") == false)
        let colored = ProgressLine(terminal: true, environment: [:]) { _ in }
        #expect(colored.color && colored.render("x", done: 1, total: 2, unit: .bytes, perSecond: 1).contains("\u{1B}[36m"))
        let piped = ProgressLine(terminal: false, environment: [:]) { _ in }
        #expect(!piped.color)
        #expect(ProgressLine.count(3, of: 10, unit: .items("rows")) == "3/10 rows")
    }
}
