import Foundation
import Testing
@testable import FinchLang

@Suite struct WriteTextTests {
    /// Like every save, write_text creates the folders on its path.
    @Test func writeTextCreatesMissingFolders() throws {
        let base = NSTemporaryDirectory() + "finch-write-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = try run("write_text(\"\(base)/out/notes/a.txt\", \"hello\")\nprint(read_text(\"\(base)/out/notes/a.txt\"))")
        #expect(try String(contentsOfFile: base + "/out/notes/a.txt", encoding: .utf8) == "hello")
    }
}
