import Foundation
import Testing
import FinchSupport
import FinchTestHub
@testable import FinchHub

@Suite struct HTTPClientTests {
    @Test func headersRangeAndNoRedirectFollowing() throws {
        let fx = try HubFixture()
        let http = HTTPClient(retry: .none)
        // an LFS resolve answers 302: the client reports it instead of following
        let r = try http.send(HTTPRequest(method: "HEAD", url: fx.server.endpoint + "/org/tiny/resolve/main/model.safetensors"))
        #expect(r.status == 302 && r.isRedirect)
        #expect(r.headers["x-linked-size"] == "300000")
        #expect(r.headers["Location"]?.hasPrefix(fx.server.cdnEndpoint + "/cdn/") == true)
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/cdn/") }.isEmpty)
        // Range on a GET to memory
        var req = HTTPRequest(url: r.headers["Location"]!)
        req.headers.set("Range", "bytes=10-19")
        let part = try http.send(req)
        #expect(part.status == 206)
        #expect(part.body == fx.weights[10..<20])
        #expect(part.headers["Content-Range"] == "bytes 10-19/300000")
        // a body larger than the memory limit is refused
        #expect(throws: HTTPError.self) { try http.send(HTTPRequest(url: r.headers["Location"]!), maxBody: 1000) }
        // POST with a JSON body and a JSON answer
        let post = try http.send(HTTPRequest(method: "POST", url: fx.server.endpoint + "/api/repos/create",
                                             headers: HTTPHeaders([("Authorization", "Bearer \(HubFixture.token)"), ("Content-Type", "application/json")]),
                                             body: Data(#"{"name":"made","organization":"finch-tester"}"#.utf8)))
        #expect(post.status == 200)
        #expect(try post.json()["url"]?.stringValue == fx.server.endpoint + "/finch-tester/made")
        // Authorization never shows in a printed header list
        #expect(!"\(HTTPHeaders([("Authorization", "Bearer abc-secret")]))".contains("abc-secret"))
    }

    @Test func timeoutsAreRetriedWithBackoff() throws {
        let fx = try HubFixture()
        fx.server.addFault(Fault(.delay(seconds: 1.0), pathContains: "/api/models/org/tiny", times: 1))
        var req = HTTPRequest(url: fx.server.endpoint + "/api/models/org/tiny")
        req.timeout = 0.3
        // no retries: the timeout is an error
        #expect(throws: HTTPError.self) { try HTTPClient(retry: .none).send(req) }
        fx.server.addFault(Fault(.delay(seconds: 1.0), pathContains: "/api/models/org/tiny", times: 1))
        let ok = try HTTPClient(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01)).send(req)
        #expect(ok.status == 200)
        #expect(try ok.json()["siblings"]?.arrayValue?.count == 6)
        // a 503 answer is retried, a 404 is not
        fx.server.addFault(Fault(.status(503), pathContains: "/api/models/org/tiny", times: 2))
        fx.server.clearLog()
        #expect(try HTTPClient(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01)).send(req).status == 200)
        #expect(fx.server.requests.count == 3)
        fx.server.clearLog()
        #expect(try HTTPClient(retry: RetryPolicy(maxAttempts: 3, baseDelay: 0.01)).send(HTTPRequest(url: fx.server.endpoint + "/api/models/org/none")).status == 404)
        #expect(fx.server.requests.count == 1)
        #expect(RetryPolicy(maxAttempts: 9, baseDelay: 0.5, maxDelay: 3).delay(attempt: 4) == 3)
        #expect(RetryPolicy(maxAttempts: 9, baseDelay: 0.5, maxDelay: 3).delay(attempt: 2) == 1)
    }

    @Test func connectionRefusedIsATransportError() throws {
        let fx = try HubFixture(populate: false)
        let dead = fx.server.endpoint
        fx.server.stop()
        do {
            _ = try HTTPClient(retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.01)).send(HTTPRequest(url: dead + "/x", timeout: 2))
            Issue.record("expected an error")
        } catch let e as HTTPError {
            #expect(e.isRetryable)
            #expect("\(e)".contains("network error"))
        }
    }

    @Test func treeAPIAndRepoInfoListFiles() throws {
        let fx = try HubFixture()
        let hub = fx.client()
        let info = try hub.repoInfo(repo: "org/tiny")
        #expect(info.files.map(\.path) == ["README.md", "config.json", "model.safetensors", "pytorch_model.bin", "sub/dir/notes.txt", "tokenizer.json"])
        #expect(info.files.first { $0.path == "model.safetensors" }?.lfsSHA256 == sha256(fx.weights))
        let tree = try HTTPClient().send(HTTPRequest(url: fx.server.endpoint + "/api/models/org/tiny/tree/main?recursive=true")).json()
        #expect(tree.arrayValue?.compactMap { $0["path"]?.stringValue } == ["README.md", "config.json", "model.safetensors", "pytorch_model.bin", "sub", "sub/dir", "sub/dir/notes.txt", "tokenizer.json"])
        let top = try HTTPClient().send(HTTPRequest(url: fx.server.endpoint + "/api/models/org/tiny/tree/main")).json()
        #expect(top.arrayValue?.filter { $0["type"]?.stringValue == "directory" }.compactMap { $0["path"]?.stringValue } == ["sub"])
        // revision by commit works, an unknown one is RevisionNotFound
        #expect(try hub.repoInfo(repo: "org/tiny", revision: info.sha).sha == info.sha)
        #expect(throws: HubError.revisionNotFound(repo: "org/tiny", revision: "refs/pr/1")) { try hub.repoInfo(repo: "org/tiny", revision: "refs/pr/1") }
        #expect(fx.server.requests.last?.path == "/api/models/org/tiny/revision/refs/pr/1")  // sent as refs%2Fpr%2F1
    }

    @Test func progressOnAPipeIsPlainLines() {
        var out: [String] = []
        let p = TerminalProgress(environment: ["NO_COLOR": "1"], output: { out.append($0) })
        p.begin("model.safetensors", total: 2_000_000, already: 500_000)
        p.update(1_000_000)
        p.finish()
        #expect(out.count == 2)
        #expect(out[0] == "Downloading model.safetensors (1.91 MiB), resuming at 488 KiB\n")
        #expect(out[1].hasPrefix("Downloaded model.safetensors: 977 KiB in "))
        #expect(!out.joined().contains("\u{1B}"))
        // on a terminal: one line redrawn in place with a bar, bytes, ETA and rate; colour unless NO_COLOR
        var tty: [String] = []
        let bar = TerminalProgress(environment: [:], output: { tty.append($0) }, terminal: true)
        bar.begin("model.safetensors", total: 2_000_000, already: 0)
        Thread.sleep(forTimeInterval: 0.15)
        bar.update(1_000_000)
        bar.finish()
        #expect(tty.count == 2)
        #expect(tty[0].hasPrefix("\rmodel.safetensors \u{1B}[36m████████████░░░░░░░░░░░░\u{1B}[0m  50% 977 KiB/1.91 MiB ETA "))
        #expect(tty[0].hasSuffix("/s\u{1B}[K"))
        #expect(tty[1].hasSuffix("\n") && tty[1].contains(" 100% ") == false && tty[1].contains("1.91 MiB"))
        var plain: [String] = []
        let noColor = TerminalProgress(environment: ["NO_COLOR": ""], output: { plain.append($0) }, terminal: true)
        noColor.begin("x", total: 10, already: 0); Thread.sleep(forTimeInterval: 0.15); noColor.update(5)
        #expect(plain.count == 1 && !plain[0].contains("\u{1B}[36m"))
    }
}
