import Foundation
import Testing
import FinchTestHub
@testable import FinchHub

/// Faults injected by the local Hub server during a download: each is resumed from the partial file with
/// HTTP Range and the result checked against the etag's sha256.
@Suite struct DownloadFaultTests {
    @Test func stalledTransferIsCutAndResumed() throws {
        let fx = try HubFixture()
        // 50 kB, then a silent connection for 3 s: the client gives up after 1 s under 1 byte/s
        fx.server.addFault(Fault(.stallAfter(bytes: 50_000, seconds: 3), pathContains: "/cdn/", method: "GET", times: 1))
        let hub = fx.client()
        hub.http.stallSeconds = 1
        let p = try hub.download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == [nil, "bytes=50000-"])
        #expect(!Files.exists(fx.cacheRepo + "/blobs/\(sha256(fx.weights)).incomplete"))
    }

    @Test func cutThen503ThenStallAllInOneDownload() throws {
        let fx = try HubFixture()
        fx.server.addFault(Fault(.cutAfter(bytes: 30_000), pathContains: "/cdn/", method: "GET", times: 1))
        fx.server.addFault(Fault(.status(503), pathContains: "/cdn/", method: "GET", times: 1))
        fx.server.addFault(Fault(.stallAfter(bytes: 40_000, seconds: 3), pathContains: "/cdn/", method: "GET", times: 1))
        let hub = fx.client()
        hub.http.stallSeconds = 1
        let p = try hub.download(repo: "org/tiny", path: "model.safetensors")
        #expect(contents(p) == fx.weights)  // and its sha256 matched the etag, or download would have thrown
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.map(\.range) == [nil, "bytes=30000-", "bytes=30000-", "bytes=70000-"])
    }
}
