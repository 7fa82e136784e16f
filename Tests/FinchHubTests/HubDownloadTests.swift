import Foundation
import Testing
import Crypto
import FinchTestHub
@testable import FinchHub

func sha256(_ d: Data) -> String { SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined() }

@Suite struct HubDownloadTests {
    @Test func downloadWritesHuggingFaceCacheLayout() throws {
        let fx = try HubFixture()
        let hub = fx.client()
        let cfg = try hub.download(repo: "org/tiny", path: "config.json")
        let weights = try hub.download(repo: "org/tiny", path: "model.safetensors")
        let nested = try hub.download(repo: "org/tiny", path: "sub/dir/notes.txt")

        let commit = String(decoding: contents(fx.cacheRepo + "/refs/main")!, as: UTF8.self)
        #expect(commit.count == 40)  // 40 hex, no newline
        #expect(cfg == fx.cacheRepo + "/snapshots/\(commit)/config.json")
        let cfgData = contents(fx.root + "/models/org/tiny/config.json")!
        let sha1 = Hashing.gitBlobSHA1(cfgData)
        #expect(readLink(cfg) == "../../blobs/\(sha1)")
        #expect(contents(fx.cacheRepo + "/blobs/\(sha1)") == cfgData)
        let oid = sha256(fx.weights)
        #expect(readLink(weights) == "../../blobs/\(oid)")
        #expect(contents(weights) == fx.weights)
        #expect(readLink(nested) == "../../../../blobs/\(Hashing.gitBlobSHA1(Data("nested file\n".utf8)))")
        #expect(String(decoding: contents(nested)!, as: UTF8.self) == "nested file\n")
        let blobs = try FileManager.default.contentsOfDirectory(atPath: fx.cacheRepo + "/blobs").filter { !$0.hasSuffix(".lock") }.sorted()
        #expect(blobs.count == 3)
        #expect(!blobs.contains { $0.hasSuffix(".incomplete") })

        // the token went to the endpoint's resolve URLs but never to the LFS redirect target
        let log = fx.server.requests
        #expect(log.filter { $0.path.contains("/resolve/") }.allSatisfy { $0.hadAuthorization })
        let cdn = log.filter { $0.path.hasPrefix("/cdn/") }
        #expect(cdn.count == 1)
        #expect(cdn.allSatisfy { !$0.hadAuthorization })

        // a second download is served from the cache (HEAD only, no GET)
        fx.server.clearLog()
        _ = try hub.download(repo: "org/tiny", path: "model.safetensors")
        #expect(fx.server.requests.map(\.method) == ["HEAD"])
        // with the commit as revision there is no network call at all
        fx.server.clearLog()
        #expect(try hub.download(repo: "org/tiny", revision: commit, path: "config.json") == cfg)
        #expect(fx.server.requests.isEmpty)
    }

    @Test func snapshotOfModelFetchesSafetensorsNotBin() throws {
        let fx = try HubFixture()
        let hub = fx.client()
        let folder = try hub.resolveModel(repo: "org/tiny")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["config.json", "model.safetensors", "tokenizer.json"])
        #expect(hub.localSnapshot(repo: "org/tiny") == folder)
        #expect(hub.localSnapshot(repo: "org/other") == nil)
        // GGUF repo: only the named file, and its path
        let g = try hub.resolveModel(repo: "org/tiny-gguf", file: "tiny.Q8_0.gguf")
        #expect(g.hasSuffix("/tiny.Q8_0.gguf"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: (g as NSString).deletingLastPathComponent) == ["tiny.Q8_0.gguf"])
        #expect(FileSelection.modelWeights.select(["config.json", "pytorch_model.bin", "tokenizer.model"]) == ["config.json", "pytorch_model.bin", "tokenizer.model"])
        #expect(FileSelection.patterns(["*.json"]).select(["a.json", "d/b.json", "c.txt"]) == ["a.json"])
        #expect(FileSelection.patterns(["**.json"]).select(["a.json", "d/b.json", "c.txt"]) == ["a.json", "d/b.json"])
    }

    @Test func shardedSnapshotDownloadsInParallelUnderOneBar() throws {
        let fx = try HubFixture(populate: false)
        let repo = fx.root + "/models/org/sharded"
        var shards: [Data] = []
        for i in 1...4 {
            let d = randomBytes(200_000 + i, seed: UInt64(100 + i))
            shards.append(d)
            writeFile(repo + "/model-0000\(i)-of-00004.safetensors", d)
        }
        writeFile(repo + "/model.safetensors.index.json", #"{"metadata":{"total_size":800010},"weight_map":{}}"#)
        writeFile(repo + "/config.json", "{}")
        for i in 1...4 { fx.server.addFault(Fault(.delay(seconds: 0.2), pathContains: "/cdn/", method: "GET", times: 1)); _ = i }
        var lines: [String] = []
        let lock = NSLock()
        let hub = HubClient(config: fx.config(), http: HTTPClient(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01)),
                            progress: TerminalProgress(output: { s in lock.lock(); lines.append(s); lock.unlock() }))
        let folder = try hub.resolveModel(repo: "org/sharded")
        for i in 1...4 { #expect(contents(folder + "/model-0000\(i)-of-00004.safetensors") == shards[i - 1]) }
        #expect(Files.exists(folder + "/model.safetensors.index.json"))
        // one summary line pair for the whole snapshot, with the summed size
        #expect(lines.first == "Downloading org/sharded (6 files) (781 KiB)\n")
        #expect(lines.count == 2 && lines[1].hasPrefix("Downloaded org/sharded (6 files): 781 KiB"))
    }

    @Test func resumesAfterServerCutsTransfer() throws {
        let fx = try HubFixture()
        fx.server.addFault(Fault(.cutAfter(bytes: 100_000), pathContains: "/cdn/", method: "GET", times: 2))
        let hub = fx.client()
        let p = try hub.download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        let ranges = fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range)
        #expect(ranges == [nil, "bytes=100000-", "bytes=200000-"])
        #expect(Files.exists(fx.home + "/hub/.locks/models--org--tiny/\(sha256(fx.weights)).lock"))
        // a transfer cut every time ends in an error that keeps the partial file for the next run
        let fx2 = try HubFixture()
        fx2.server.addFault(Fault(.cutAfter(bytes: 1000), pathContains: "/cdn/", method: "GET", times: 100))
        #expect(throws: HubError.incompleteDownload(path: "model.safetensors", have: 5000, expected: 300_000)) {
            try fx2.client().download(repo: "org/tiny", path: "model.safetensors")
        }
        fx2.server.clearFaults()
        #expect(contents(try fx2.client().download(repo: "org/tiny", path: "model.safetensors")) == fx2.weights)
        #expect(fx2.server.requests.filter { $0.path.hasPrefix("/cdn/") }.last?.range == "bytes=5000-")
    }

    @Test func partialFileFromEarlierRunIsResumed() throws {
        let fx = try HubFixture()
        let oid = sha256(fx.weights)
        writeFile(fx.cacheRepo + "/blobs/\(oid).incomplete", fx.weights.prefix(123_456))
        let p = try fx.client().download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == ["bytes=123456-"])
    }

    @Test func retriesServiceUnavailable() throws {
        let fx = try HubFixture()
        fx.server.addFault(Fault(.status(503), pathContains: "/resolve/", method: "HEAD", times: 2))
        fx.server.addFault(Fault(.status(503), pathContains: "/cdn/", method: "GET", times: 2))
        let p = try fx.client().download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        #expect(fx.server.requests.filter { $0.method == "HEAD" }.count == 3)
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.count == 3)
        // a persistent 503 ends in an error naming the status, not a hang
        fx.server.addFault(Fault(.status(503), pathContains: "/resolve/", method: "HEAD", times: 100))
        #expect(throws: HubError.self) { try fx.client().download(repo: "org/tiny", path: "README.md") }
        // ... but a file already in the cache is served after one HEAD (no retries when a copy exists)
        fx.server.clearLog()
        #expect(try fx.client().download(repo: "org/tiny", path: "model.safetensors") == p)
        #expect(fx.server.requests.count == 1)
    }

    @Test func offlineModeServesFromCache() throws {
        let fx = try HubFixture()
        let online = try fx.client().download(repo: "org/tiny", path: "config.json")
        _ = try fx.client().snapshot(repo: "org/tiny", select: .patterns(["*.json"]))
        fx.server.stop()
        let offline = fx.client(offline: true)
        #expect(try offline.download(repo: "org/tiny", path: "config.json") == online)
        #expect(throws: HubError.offlineNotCached(repo: "org/tiny", path: "README.md")) {
            try offline.download(repo: "org/tiny", path: "README.md")
        }
        #expect(try offline.snapshot(repo: "org/tiny") == (online as NSString).deletingLastPathComponent)
        // env parsing as huggingface_hub: 1/ON/YES/TRUE
        #expect(HubConfig.fromEnvironment(["HF_HUB_OFFLINE": "yes", "HOME": "/h"]).offline)
        #expect(!HubConfig.fromEnvironment(["HF_HUB_OFFLINE": "0", "HOME": "/h"]).offline)
        // a server that went away: the cached file is still served (connection error fallback)
        #expect(try fx.client().download(repo: "org/tiny", path: "config.json") == online)
    }

    @Test func twoConcurrentDownloadsOfOneFile() throws {
        let fx = try HubFixture()
        fx.server.addFault(Fault(.delay(seconds: 0.3), pathContains: "/cdn/", method: "GET", times: 1))
        final class Box: @unchecked Sendable { var results = [String?](repeating: nil, count: 2); var errors: [Error] = [] }
        let box = Box()
        let lock = NSLock()
        let group = DispatchGroup()
        for i in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                do {
                    let p = try fx.client().download(repo: "org/tiny", path: "model.safetensors")
                    lock.lock(); box.results[i] = p; lock.unlock()
                } catch { lock.lock(); box.errors.append(error); lock.unlock() }
                group.leave()
            }
        }
        group.wait()
        let results = box.results
        #expect(box.errors.isEmpty)
        #expect(results[0] != nil && results[0] == results[1])
        #expect(results[0].flatMap(contents) == fx.weights)
        // the blob was written once: one GET reached the CDN, the other waited on the lock
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.count == 1)
    }

    @Test func relativeRedirectIsFollowed() throws {
        let fx = try HubFixture()
        fx.server.renames["org/old-name"] = "org/tiny"
        let p = try fx.client().download(repo: "org/old-name", path: "config.json")
        #expect(contents(p) == contents(fx.root + "/models/org/tiny/config.json"))
        #expect(p.hasPrefix(fx.home + "/hub/models--org--old-name/snapshots/"))
    }

    @Test func sameOriginAbsoluteRedirectIsFollowed() throws {
        let fx = try HubFixture()
        fx.server.setHook { req in
            guard req.path.hasPrefix("/org/moved/resolve/") else { return nil }
            return ServerResponse(status: 307, headers: [("Location", fx.server.endpoint + req.rawPath.replacingOccurrences(of: "/org/moved/", with: "/org/tiny/"))])
        }
        let p = try fx.client().download(repo: "org/moved", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        // the token went along on the same origin, never to the CDN origin
        #expect(fx.server.requests.filter { $0.path.contains("/resolve/") }.count == 2)
        #expect(fx.server.requests.filter { $0.path.contains("/resolve/") }.allSatisfy { $0.hadAuthorization })
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.allSatisfy { !$0.hadAuthorization })
    }

    @Test func missingFilesAndReposAreClearErrors() throws {
        let fx = try HubFixture()
        let hub = fx.client()
        #expect(throws: HubError.entryNotFound(repo: "org/tiny", path: "nope.json")) { try hub.download(repo: "org/tiny", path: "nope.json") }
        let noExist = try FileManager.default.subpathsOfDirectory(atPath: fx.cacheRepo + "/.no_exist")
        #expect(noExist.contains { $0.hasSuffix("/nope.json") })
        #expect(throws: HubError.repoNotFound(repo: "org/absent", status: 404)) { try hub.download(repo: "org/absent", path: "config.json") }
        fx.server.setHook { req in
            req.path.contains("/gated/") ? ServerResponse.error(401, "Access to model org/gated is restricted.", code: "GatedRepo") : nil
        }
        #expect(throws: HubError.gated(repo: "org/gated")) { try hub.download(repo: "org/gated", path: "config.json") }
        fx.server.setHook(nil)
        #expect(throws: HubError.invalidRepoId("../x/y")) { try hub.download(repo: "../x/y", path: "config.json") }
        #expect(throws: HubError.invalidFilePath("../../etc/passwd")) { try hub.download(repo: "org/tiny", path: "../../etc/passwd") }
        #expect(throws: HubError.invalidFilePath("/etc/passwd")) { try hub.download(repo: "org/tiny", path: "/etc/passwd") }
    }

    @Test func transportSecurityAndTokenScope() throws {
        #expect(throws: HTTPError.self) { try HTTPClient.checkTransportSecurity("http://example.com/x") }
        try HTTPClient.checkTransportSecurity("https://example.com/x")
        try HTTPClient.checkTransportSecurity("http://127.0.0.1:8080/x")
        try HTTPClient.checkTransportSecurity("http://localhost/x")
        let hub = HubClient(config: HubConfig(endpoint: "https://huggingface.co/", hfHome: "/tmp/none"),
                            token: Secret(name: "HF_TOKEN", value: "hf_scope_test_token"), progress: nil)
        #expect(hub.config.endpoint == "https://huggingface.co")
        #expect(hub.headers(for: "https://huggingface.co/org/x/resolve/main/a")["Authorization"] == "Bearer hf_scope_test_token")
        #expect(hub.headers(for: "https://cdn-lfs.huggingface.co/a")["Authorization"] == nil)
        #expect(hub.headers(for: "http://huggingface.co/a")["Authorization"] == nil)
        #expect(hub.headers(for: "https://huggingface.co.evil.com/a")["Authorization"] == nil)
        #expect(hub.resolveURL(repo: "org/x", revision: "refs/pr/1", path: "dir/a b.json") == "https://huggingface.co/org/x/resolve/refs%2Fpr%2F1/dir/a%20b.json")
        #expect(hub.resolveURL(repo: "org/d", type: .dataset, path: "x.json") == "https://huggingface.co/datasets/org/d/resolve/main/x.json")
    }

    @Test func environmentPathsFollowHuggingFaceHub() {
        let c = HubConfig.fromEnvironment(["HOME": "/home/u"])
        #expect(c.hfHome == "/home/u/.cache/huggingface")
        #expect(c.hubCache == "/home/u/.cache/huggingface/hub")
        #expect(c.tokenPath == "/home/u/.cache/huggingface/token")
        #expect(c.endpoint == "https://huggingface.co")
        let d = HubConfig.fromEnvironment(["HOME": "/home/u", "HF_HOME": "~/hf", "HF_HUB_CACHE": "$HOME/cache", "HF_ENDPOINT": "http://127.0.0.1:9/", "XDG_CACHE_HOME": "/x"])
        #expect(d.hfHome == "/home/u/hf")
        #expect(d.hubCache == "/home/u/cache")
        #expect(d.endpoint == "http://127.0.0.1:9")
        #expect(HubConfig.fromEnvironment(["HOME": "/h", "XDG_CACHE_HOME": "/x"]).hfHome == "/x/huggingface")
        #expect(c.repoFolder("meta-llama/Llama-3.2-1B", type: .model).hasSuffix("/models--meta-llama--Llama-3.2-1B"))
        #expect(c.repoFolder("org/d", type: .dataset).hasSuffix("/datasets--org--d"))
    }
}
