import Foundation
import Testing
@testable import FinchHub

/// Downloads with Finch into a cache that scripts/hub/check_with_huggingface_hub.py then reads with
/// huggingface_hub (FINCH_HUB_INTEROP_CACHE keeps it); in CI the cache is a temp folder.
@Suite struct InteropTests {
    @Test func finchCacheForPython() throws {
        let fx = try HubFixture()
        let keep = ProcessInfo.processInfo.environment["FINCH_HUB_INTEROP_CACHE"]
        let hfHome = keep ?? fx.home + "/interop"
        try FileManager.default.createDirectory(atPath: fx.root + "/models/org", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: fx.root + "/models/org/interop")
        try FileManager.default.copyItem(atPath: fx.root + "/models/org/tiny", toPath: fx.root + "/models/org/interop")
        let hub = HubClient(config: HubConfig(endpoint: fx.server.endpoint, hfHome: hfHome), progress: nil)
        let folder = try hub.snapshot(repo: "org/interop")
        let files = try FileManager.default.subpathsOfDirectory(atPath: folder).filter { !Files.isDirectory(folder + "/" + $0) }.sorted()
        #expect(files == ["README.md", "config.json", "model.safetensors", "pytorch_model.bin", "sub/dir/notes.txt", "tokenizer.json"])
        #expect(contents(folder + "/model.safetensors") == fx.weights)
    }
}

/// The other direction: scripts/hub/check_with_huggingface_hub.py downloads with huggingface_hub, then
/// runs this with FINCH_HUB_PY_CACHE=<its HF_HOME> to read that cache with Finch, offline.
@Suite struct PythonCacheTests {
    static let pyHome = ProcessInfo.processInfo.environment["FINCH_HUB_PY_CACHE"]

    @Test(.enabled(if: pyHome != nil))
    func cacheWrittenByPythonIsReadByFinchOffline() throws {
        let hub = HubClient(config: HubConfig(endpoint: "https://huggingface.invalid", hfHome: PythonCacheTests.pyHome!, offline: true), progress: nil)
        let folder = try #require(hub.localSnapshot(repo: "org/tiny"))
        #expect(try hub.download(repo: "org/tiny", path: "config.json") == folder + "/config.json")
        #expect(String(decoding: contents(folder + "/config.json")!, as: UTF8.self) == #"{"model_type": "llama"}"#)
        #expect(try hub.resolveModel(repo: "org/tiny") == folder)
        #expect(Files.fileSize(folder + "/model.safetensors") == 1_300_000)
        #expect(String(decoding: contents(folder + "/sub/nested.txt")!, as: UTF8.self) == "nested\n")
        // huggingface_hub.login() wrote the token and stored_tokens: Finch finds both
        let token = ProcessInfo.processInfo.environment["FINCH_HUB_PY_TOKEN"]
        #expect(token != nil && hub.currentToken() == token)
        #expect(HubAuth.storedTokens(config: hub.config).map(\.token) == [token!])
    }
}
