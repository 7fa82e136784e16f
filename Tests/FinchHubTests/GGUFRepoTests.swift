import Foundation
import Testing
import FinchSupport
import FinchTestHub
@testable import FinchHub

/// `load_model("org/Some-Model-GGUF", file=)`: the GGUF file is chosen as llama.cpp's `-hf` and
/// `Llama.from_pretrained(repo_id, filename=)` choose it, and no failure leaves an empty snapshot.
@Suite struct GGUFRepoTests {
    /// Snapshot folders in the cache of `repo` (empty when none).
    func snapshots(_ fx: HubFixture, _ repo: String) -> [String] {
        let dir = fx.home + "/hub/models--" + repo.replacingOccurrences(of: "/", with: "--") + "/snapshots"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { dir + "/" + $0 }
    }

    @Test func repoWithOneGGUFNeedsNoFileArgument() throws {
        let fx = try HubFixture(populate: false)
        let weights = randomBytes(4000, seed: 21)
        writeFile(fx.root + "/models/org/One-GGUF/one.Q4_K_M.gguf", weights)
        writeFile(fx.root + "/models/org/One-GGUF/README.md", "# one\n")
        let p = try fx.client().resolveModel(repo: "org/One-GGUF")
        #expect(p.hasSuffix("/one.Q4_K_M.gguf"))
        #expect(contents(p) == weights)
        #expect(try FileManager.default.contentsOfDirectory(atPath: (p as NSString).deletingLastPathComponent) == ["one.Q4_K_M.gguf"])
    }

    @Test func severalGGUFFilesAreListedAndAGlobPicksOne() throws {
        let fx = try HubFixture()   // org/tiny-gguf holds tiny.Q4_0.gguf and tiny.Q8_0.gguf
        let hub = fx.client()
        #expect(throws: ModelRepoError.severalGGUF(repo: "org/tiny-gguf", pattern: nil, matches: ["tiny.Q4_0.gguf", "tiny.Q8_0.gguf"])) {
            try hub.resolveModel(repo: "org/tiny-gguf")
        }
        let message = "\(ModelRepoError.severalGGUF(repo: "org/tiny-gguf", pattern: nil, matches: ["tiny.Q4_0.gguf", "tiny.Q8_0.gguf"]))"
        #expect(message.contains("file=") && message.contains("\n  tiny.Q4_0.gguf\n  tiny.Q8_0.gguf"))
        #expect(snapshots(fx, "org/tiny-gguf").isEmpty)   // nothing was fetched, no empty snapshot
        #expect(throws: ModelRepoError.noMatch(repo: "org/tiny-gguf", pattern: "*Q5_K_M.gguf", ggufs: ["tiny.Q4_0.gguf", "tiny.Q8_0.gguf"])) {
            try hub.resolveModel(repo: "org/tiny-gguf", file: "*Q5_K_M.gguf")
        }
        #expect(throws: ModelRepoError.severalGGUF(repo: "org/tiny-gguf", pattern: "tiny.*", matches: ["tiny.Q4_0.gguf", "tiny.Q8_0.gguf"])) {
            try hub.resolveModel(repo: "org/tiny-gguf", file: "tiny.*")
        }
        #expect(snapshots(fx, "org/tiny-gguf").isEmpty)
        let p = try hub.resolveModel(repo: "org/tiny-gguf", file: "*Q8_0.gguf")
        #expect(p.hasSuffix("/tiny.Q8_0.gguf") && contents(p) == contents(fx.root + "/models/org/tiny-gguf/tiny.Q8_0.gguf"))
        // offline, the same glob picks among the cached files
        #expect(try fx.client(offline: true).resolveModel(repo: "org/tiny-gguf", file: "*Q8_0.gguf") == p)
        // a Hugging Face checkpoint still resolves to its folder
        let folder = try hub.resolveModel(repo: "org/tiny")
        #expect(Files.isDirectory(folder) && Files.exists(folder + "/config.json"))
    }

    @Test func repoWithNeitherConfigNorGGUFIsRefusedWithoutAnEmptySnapshot() throws {
        let fx = try HubFixture(populate: false)
        writeFile(fx.root + "/models/org/not-a-model/README.md", "# nothing to load\n")
        writeFile(fx.root + "/models/org/not-a-model/data.csv", "a,b\n1,2\n")
        #expect(throws: ModelRepoError.notAModel(repo: "org/not-a-model", files: ["README.md", "data.csv"])) {
            try fx.client().resolveModel(repo: "org/not-a-model")
        }
        #expect(snapshots(fx, "org/not-a-model").isEmpty)
    }

    @Test func failedDownloadRemovesTheSnapshotItStarted() throws {
        let fx = try HubFixture(populate: false)
        writeFile(fx.root + "/models/org/two/config.json", "{}")
        writeFile(fx.root + "/models/org/two/model.safetensors", randomBytes(3000, seed: 2))
        // the weights never arrive; a sub-folder made for them must not stay behind empty
        fx.server.addFault(Fault(.status(403), pathContains: "/cdn/", method: "GET", times: 100))
        let hub = fx.client()
        #expect(throws: HubError.self) { try hub.snapshot(repo: "org/two", select: .patterns(["model.safetensors"])) }
        for s in snapshots(fx, "org/two") { #expect(!((try? FileManager.default.contentsOfDirectory(atPath: s)) ?? []).isEmpty, "\(s) is empty") }
        let dir = makeTempDir("snap"); defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/a/b", withIntermediateDirectories: true)
        writeFile(dir + "/keep/file.txt", "x")
        HubClient.removeEmptyFolders(dir)
        #expect(!Files.exists(dir + "/a") && Files.exists(dir + "/keep/file.txt"))
    }
}

/// The test server is as strict as the Hub where Finch's error paths depend on it.
@Suite struct TestServerStrictnessTests {
    func post(_ fx: HubFixture, _ path: String, _ body: String, token: String? = HubFixture.token) throws -> HTTPResponse {
        var h = HTTPHeaders([("Content-Type", "application/json")])
        if let token { h.set("Authorization", "Bearer \(token)") }
        return try HTTPClient().send(HTTPRequest(method: "POST", url: fx.server.endpoint + path, headers: h, body: Data(body.utf8)))
    }

    @Test func visibilityPrivateIsHonouredAndPrivateReposNeedAToken() throws {
        let fx = try HubFixture(populate: false)
        // huggingface_hub ≥ 1 sends "visibility" instead of "private"
        #expect(try post(fx, "/api/repos/create", #"{"name": "vis", "visibility": "private"}"#).status == 200)
        #expect(try fx.client().repoInfo(repo: "\(HubFixture.user)/vis").isPrivate)
        #expect(throws: HubError.repoNotFound(repo: "\(HubFixture.user)/vis", status: 401)) {
            try fx.client(token: nil).repoInfo(repo: "\(HubFixture.user)/vis")
        }
        #expect(throws: HubError.repoNotFound(repo: "\(HubFixture.user)/vis", status: 401)) {
            try fx.client(token: nil).download(repo: "\(HubFixture.user)/vis", path: ".gitattributes")
        }
        #expect(try fx.client().download(repo: "\(HubFixture.user)/vis", path: ".gitattributes").hasSuffix(".gitattributes"))
        #expect(try post(fx, "/api/repos/create", #"{"name": "pub", "visibility": "public"}"#).status == 200)
        #expect(try !fx.client(token: nil).repoInfo(repo: "\(HubFixture.user)/pub").isPrivate)
    }

    @Test func anInvalidTokenIsRefusedEvenForPublicFiles() throws {
        let fx = try HubFixture()
        #expect(throws: HubError.self) { try fx.client(token: "hf_revoked_token_000000").download(repo: "org/tiny", path: "config.json") }
        do {
            _ = try fx.client(token: "hf_revoked_token_000000").download(repo: "org/tiny", path: "config.json")
        } catch let e as HubError {
            guard case .invalidToken = e else { Issue.record("expected invalidToken, got \(e)"); return }
            #expect(e.description.contains("refused the token") && !e.description.contains("hf_revoked_token_000000"))
        }
        #expect(try fx.client(token: nil).download(repo: "org/tiny", path: "config.json").hasSuffix("config.json"))
    }

    @Test func validateYAMLAnswersLikeTheHub() throws {
        let fx = try HubFixture(populate: false)
        let ok = try post(fx, "/api/validate-yaml", #"{"content": "---\nlicense: mit\ntags:\n- finch\n---\n# card\n", "repoType": "model"}"#)
        #expect(ok.status == 200)
        #expect(try ok.json()["errors"]?.arrayValue?.isEmpty == true)
        let bad = try post(fx, "/api/validate-yaml", #"{"content": "---\nlicense: mit\n# never closed\n", "repoType": "dataset"}"#)
        #expect(bad.status == 400)
        #expect(try bad.json()["errors"]?.arrayValue?.first?["message"]?.stringValue?.contains("never closed") == true)
    }
}

/// What push and downloads print, and what push does with links.
@Suite struct UploadFilesTests {
    @Test func symlinksAreUploadedAsTheirFilesAndBrokenOnesAreAnError() throws {
        let fx = try HubFixture(populate: false)
        let local = makeTempDir("linked"); defer { removeDir(local) }
        writeFile(local + "/blobs/abc", #"{"version":"1.0"}"#)
        writeFile(local + "/model/config.json", "{}")
        try FileManager.default.createSymbolicLink(atPath: local + "/model/tokenizer.json", withDestinationPath: "../blobs/abc")
        let hub = fx.client()
        let r = try hub.upload(folder: local + "/model", repo: "\(HubFixture.user)/linked")
        #expect(r.files == ["config.json", "tokenizer.json"])
        #expect(contents(try hub.download(repo: "\(HubFixture.user)/linked", path: "tokenizer.json")) == contents(local + "/blobs/abc"))
        // a link whose target is gone (a Hub cache link copied elsewhere) stops the push and says which
        try FileManager.default.createSymbolicLink(atPath: local + "/model/chat_template.jinja", withDestinationPath: "../../blobs/missing")
        do {
            _ = try hub.upload(folder: local + "/model", repo: "\(HubFixture.user)/linked")
            Issue.record("a broken link was skipped silently")
        } catch let e as HubError {
            #expect("\(e)".contains("chat_template.jinja") && "\(e)".contains("symbolic link"))
        }
    }

    @Test func uploadProgressSaysUploading() throws {
        let fx = try HubFixture(populate: false)
        let local = makeTempDir("up"); defer { removeDir(local) }
        writeFile(local + "/adapter_model.safetensors", randomBytes(5000, seed: 8))   // LFS by extension
        var lines: [String] = []
        let hub = HubClient(config: fx.config(), token: Secret(name: "HF_TOKEN", value: HubFixture.token),
                            progress: TerminalProgress(output: { lines.append($0) }))
        _ = try hub.upload(folder: local, repo: "\(HubFixture.user)/up")
        #expect(lines.first == "Uploading adapter_model.safetensors (4.88 KiB)\n")
        #expect(lines.count == 2 && lines[1].hasPrefix("Uploaded adapter_model.safetensors: 4.88 KiB"))
        #expect(!lines.joined().contains("Downloading"))
    }

    @Test func datasetDownloadLinesNameTheRepo() throws {
        let fx = try HubFixture(populate: false)
        writeFile(fx.root + "/datasets/org/data/train.json", #"[{"text": "a"}, {"text": "b"}]"#)
        var lines: [String] = []
        let hub = HubClient(config: fx.config(), progress: TerminalProgress(output: { lines.append($0) }))
        let table = try DatasetLoader(hub: hub).load(source: "org/data")
        #expect(table.rows.count == 2)
        #expect(lines.first?.hasPrefix("Downloading org/data/train.json") == true, "\(lines)")
    }

    @Test func modelCardHasADatasetSection() throws {
        let dir = makeTempDir("card"); defer { removeDir(dir) }
        writeFile(dir + "/adapter_config.json", #"{"peft_type": "LORA", "r": 8}"#)
        let card = try ModelCard.generate(folder: dir, repo: "me/x", info: ModelCardInfo(dataset: "org/data"))
        #expect(card.contains("## Dataset\n") && !card.contains("DataTable"))
    }
}

extension TrackingTests {
    /// A notebook re-run with a fixed run= name starts the run's logs afresh: steps never go back.
    @Test func namedRunStartedAgainReplacesItsLogs() throws {
        let root = makeTempDir("runs"); defer { removeDir(root) }
        for _ in 0..<2 {
            let t = try RunTracker(project: "p", run: "fixed", root: root)
            for step in 1...3 { try t.log(step: step, [("loss", Double(4 - step))]) }
            try t.finish()
        }
        let dir = root + "/p/fixed"
        let steps = String(decoding: contents(dir + "/metrics.jsonl")!, as: UTF8.self).split(separator: "\n")
            .map { try? JSON.parse(String($0), options: .lenient)["step"]?.intValue }
        #expect(steps == [1, 2, 3])
        let events = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1)
        #expect(readTFRecords(contents(dir + "/" + events[0])!)?.count == 4)   // version + 3 steps
        // an unnamed run still gets a folder of its own each time
        let a = try RunTracker(project: "p", root: root), b = try RunTracker(project: "p", root: root)
        #expect(a.directory != b.directory)
    }
}
