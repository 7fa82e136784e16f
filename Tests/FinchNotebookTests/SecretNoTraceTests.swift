import Foundation
import Testing

/// A notebook that reads, prints and uses a secret (and even writes its value into a string and an
/// error) leaves no trace of the value in stdout, stderr, the transcript, the memo cache or run folders.
extension REPLProcessTests {
    @Test func notebookSecretLeavesNoTrace() throws {
        let dir = try tempDirectory()
        let value = "hf_NoTraceValue_\(UInt32.random(in: 100_000...999_999))"
        let config = dir + "/config"
        try FileManager.default.createDirectory(atPath: config + "/finch", withIntermediateDirectories: true)
        let store = config + "/finch/secrets.json"
        try "{\"HF_TOKEN\": \"\(value)\"}".write(toFile: store, atomically: true, encoding: .utf8)
        chmod(store, 0o600)
        try """
        %% use
        tok = secret("HF_TOKEN")
        print(tok)
        print("the token is \(value)")
        run = track("notrace", run="r1", config={"note": "\(value)"})
        x = undefined_name_\(value.suffix(6))
        """.write(toFile: dir + "/nb.cell", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = ["run", dir + "/nb.cell", "--keep-going"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        env["XDG_CONFIG_HOME"] = config
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "HF_TOKEN")
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(o.contains("Secret(HF_TOKEN"))
        #expect(!o.contains(value) && !e.contains(value))
        // Every file the run wrote (transcript, run folder, caches), except the store itself.
        var leaked: [String] = []
        let files = FileManager.default.enumerator(atPath: dir)!.compactMap { $0 as? String }
        for f in files where !f.hasPrefix("config/") && f != "nb.cell" {
            if let data = FileManager.default.contents(atPath: dir + "/" + f), String(decoding: data, as: UTF8.self).contains(value) { leaked.append(f) }
        }
        #expect(leaked.isEmpty, "secret value found in \(leaked)")
        #expect(files.contains("nb.out.md"))
        #expect(files.contains { $0.hasPrefix("runs/notrace/r1") })
    }
}
