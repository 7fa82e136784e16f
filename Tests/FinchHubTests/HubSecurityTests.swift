import Foundation
import Testing
import FinchTestHub
@testable import FinchHub

/// A malicious or broken server is refused, and nothing it sends lands in the cache.
@Suite struct HubSecurityTests {
    @Test func listingWithTraversalPathIsRejected() throws {
        let fx = try HubFixture()
        fx.server.setHook { req in
            guard req.path.hasPrefix("/api/models/org/tiny") else { return nil }
            return .json(200, ["sha": String(repeating: "a", count: 40), "id": "org/tiny",
                               "siblings": [["rfilename": "config.json"], ["rfilename": "../../../../evil.sh"]]])
        }
        #expect(throws: HubError.invalidFilePath("../../../../evil.sh")) { try fx.client().snapshot(repo: "org/tiny") }
        #expect(!Files.exists(fx.home + "/evil.sh"))
        #expect(!Files.exists(fx.cacheRepo + "/snapshots"))
    }

    @Test func absurdSizeIsRejected() throws {
        let fx = try HubFixture()
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 302, headers: [("Location", "\(fx.server.cdnEndpoint)/cdn/\(String(repeating: "b", count: 64))"),
                                                         ("X-Repo-Commit", String(repeating: "c", count: 40)),
                                                         ("X-Linked-Etag", "\"\(String(repeating: "b", count: 64))\""),
                                                         ("X-Linked-Size", "99999999999999999999")])
        }
        #expect(throws: HubError.absurdSize(path: "model.safetensors", size: "99999999999999999999")) {
            try fx.client().download(repo: "org/tiny", path: "model.safetensors")
        }
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 200, headers: [("X-Repo-Commit", String(repeating: "c", count: 40)), ("ETag", "\"x\""), ("X-Linked-Size", "-5")])
        }
        #expect(throws: HubError.absurdSize(path: "config.json", size: "-5")) { try fx.client().download(repo: "org/tiny", path: "config.json") }
    }

    @Test func bodyLongerThanAnnouncedIsCutAndRejected() throws {
        let fx = try HubFixture()
        let oid = sha256(fx.weights)
        fx.server.setHook { req in
            // announce 1000 bytes, then stream the 300 kB object
            if req.path.contains("/resolve/") {
                return ServerResponse(status: 302, headers: [("Location", "\(fx.server.cdnEndpoint)/cdn/\(oid)"), ("X-Repo-Commit", String(repeating: "c", count: 40)),
                                                             ("X-Linked-Etag", "\"\(oid)\""), ("X-Linked-Size", "1000")])
            }
            return nil
        }
        #expect(throws: HubError.self) { try fx.client().download(repo: "org/tiny", path: "model.safetensors") }
        let blob = fx.cacheRepo + "/blobs/\(oid)"
        #expect(!Files.exists(blob))
        #expect((Files.fileSize(blob + ".incomplete") ?? 0) <= 1000)
    }

    @Test func wrongSHA256IsRejectedAndNotCached() throws {
        let fx = try HubFixture()
        let oid = sha256(fx.weights)
        fx.server.setHook { req in
            guard req.path.hasPrefix("/cdn/") else { return nil }
            var evil = fx.weights
            evil[1000] ^= 0xFF  // same size, different content
            return ServerResponse(status: 200, headers: [], body: evil)
        }
        #expect(throws: HubError.hashMismatch(path: "model.safetensors", expected: oid, actual: sha256({ var e = fx.weights; e[1000] ^= 0xFF; return e }()))) {
            try fx.client().download(repo: "org/tiny", path: "model.safetensors")
        }
        #expect(!Files.exists(fx.cacheRepo + "/blobs/\(oid)"))
        #expect(!Files.exists(fx.cacheRepo + "/blobs/\(oid).incomplete"))
        // regular files are checked against their git blob id too
        fx.server.setHook { req in
            guard req.path.contains("/resolve/"), req.method == "GET" else { return nil }
            return ServerResponse(status: 200, headers: [], body: Data(#"{"model_type":"EVIL!","hidden_size":8}"#.utf8))
        }
        #expect(throws: HubError.self) { try fx.client().download(repo: "org/tiny", path: "config.json") }
    }

    @Test func etagAndCommitThatCouldEscapeAreRejected() throws {
        let fx = try HubFixture()
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 200, headers: [("X-Repo-Commit", String(repeating: "c", count: 40)), ("ETag", "\"../../../x\""), ("Content-Length", "3")], body: Data("abc".utf8))
        }
        #expect(throws: HubError.invalidServerValue(what: "etag", value: "../../../x")) { try fx.client().download(repo: "org/tiny", path: "config.json") }
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 200, headers: [("X-Repo-Commit", "../../escape"), ("ETag", "\"abc\""), ("Content-Length", "3")], body: Data("abc".utf8))
        }
        #expect(throws: HubError.invalidServerValue(what: "commit hash", value: "../../escape")) { try fx.client().download(repo: "org/tiny", path: "config.json") }
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 200, headers: [("Content-Length", "3")], body: Data("abc".utf8))
        }
        #expect(throws: HubError.notOnHub(url: fx.server.endpoint + "/org/tiny/resolve/main/config.json")) { try fx.client().download(repo: "org/tiny", path: "config.json") }
    }

    @Test func symlinkedFolderInSnapshotCannotEscapeCache() throws {
        let fx = try HubFixture()
        let hub = fx.client()
        let first = try hub.download(repo: "org/tiny", path: "config.json")
        let snapshot = (first as NSString).deletingLastPathComponent
        let outside = makeTempDir("outside"); defer { removeDir(outside) }
        // someone planted a symlinked folder inside the snapshot pointing outside the cache
        #expect(symlink(outside, snapshot + "/sub") == 0)
        #expect(throws: HubError.invalidFilePath("sub/dir/notes.txt")) { try hub.download(repo: "org/tiny", path: "sub/dir/notes.txt") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func absoluteRedirectToOtherHostGetsNoToken() throws {
        // a second server plays the CDN on another origin (different port)
        let fx = try HubFixture()
        let cdnRoot = makeTempDir("cdn"); defer { removeDir(cdnRoot) }
        let cdn = try TestHubServer(root: cdnRoot).start()
        defer { cdn.stop() }
        let oid = sha256(fx.weights)
        writeFile(cdnRoot + "/.lfs/\(oid)", fx.weights)
        fx.server.setHook { req in
            guard req.path.contains("/resolve/") else { return nil }
            return ServerResponse(status: 302, headers: [("Location", "\(cdn.endpoint)/cdn/\(oid)?X-Amz-Signature=abc"), ("X-Repo-Commit", String(repeating: "c", count: 40)),
                                                         ("X-Linked-Etag", "\"\(oid)\""), ("X-Linked-Size", "\(fx.weights.count)")])
        }
        let p = try fx.client().download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        #expect(cdn.requests.count == 1)
        #expect(cdn.requests.allSatisfy { !$0.hadAuthorization })
        #expect(fx.server.requests.allSatisfy { $0.hadAuthorization })
    }
}
