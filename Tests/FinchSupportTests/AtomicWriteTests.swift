import Foundation
import Testing
@testable import FinchSupport

func tempFolder() throws -> String {
    let d = NSTemporaryDirectory() + "finch-support-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func entries(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

@Suite struct AtomicWriteTests {
    @Test func fileReplacesThePreviousVersionAndLeavesNoTemporaryFile() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicFile.write(Data("one".utf8), to: dir + "/a.txt")
        try AtomicFile.write(Data("two".utf8), to: dir + "/a.txt", mode: 0o600)
        #expect(try String(contentsOfFile: dir + "/a.txt", encoding: .utf8) == "two")
        let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/a.txt")[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        #expect(entries(dir) == ["a.txt"])
    }

    @Test func fullDiskSaysSoAndKeepsThePreviousFile() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir); WriteFault.clear(pathContains: dir) }
        try AtomicFile.write(Data("previous".utf8), to: dir + "/model.bin")
        WriteFault.inject(.noSpace, afterBytes: 1000, pathContains: dir)
        let big = Data(repeating: 7, count: 3 << 20)
        #expect {
            try AtomicFile.write(big, to: dir + "/model.bin")
        } throws: { e in
            "\(e)".hasPrefix("no space left on device writing \(dir)/model.bin") && (e as? WriteError)?.errno == ENOSPC
        }
        #expect(try String(contentsOfFile: dir + "/model.bin", encoding: .utf8) == "previous")
        #expect(entries(dir) == ["model.bin"])  // the temporary file is gone
    }

    @Test func folderIsSwappedWholeOrNotAtAll() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir); WriteFault.clear(pathContains: dir) }
        let out = dir + "/nested/adapter"
        try AtomicFolder.write(out) { tmp in
            try AtomicFile.write(Data("config v1".utf8), to: tmp + "/config.json")
            try AtomicFile.write(Data("weights v1".utf8), to: tmp + "/weights.bin")
        }
        #expect(entries(out) == ["config.json", "weights.bin"])
        // a full disk in the middle of the second file: the first version stays, whole
        WriteFault.inject(.noSpace, afterBytes: 20, pathContains: dir)
        #expect {
            try AtomicFolder.write(out) { tmp in
                try AtomicFile.write(Data("config v2".utf8), to: tmp + "/config.json")
                try AtomicFile.write(Data(repeating: 1, count: 100), to: tmp + "/weights.bin")
            }
        } throws: { e in "\(e)" == "no space left on device writing \(out)/weights.bin; free some space and try again (the previous version is unchanged)" }
        #expect(try String(contentsOfFile: out + "/config.json", encoding: .utf8) == "config v1")
        #expect(try String(contentsOfFile: out + "/weights.bin", encoding: .utf8) == "weights v1")
        #expect(entries(dir + "/nested") == ["adapter"])
        WriteFault.clear(pathContains: dir)
        // an error thrown by the body leaves it too; a later write replaces it whole
        #expect(throws: CancellationError.self) { try AtomicFolder.write(out) { _ in throw CancellationError() } }
        try AtomicFolder.write(out) { tmp in try AtomicFile.write(Data("only".utf8), to: tmp + "/new.txt") }
        #expect(entries(out) == ["new.txt"])
        #expect(entries(dir + "/nested") == ["adapter"])
    }

    @Test func errorsNameThePathAndTheCause() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect {
            try AtomicFile.write(Data(), to: dir + "/missing/a.txt")
        } throws: { e in "\(e)" == "cannot create a temporary file for \(dir)/missing/a.txt: No such file or directory" }
    }
}
