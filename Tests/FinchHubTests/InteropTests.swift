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
