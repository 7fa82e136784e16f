// Upload (`push`): create the repo if needed, ask preupload which files are LFS, upload LFS objects
// through the batch API (basic or multipart, sha256 oids, objects the server has are skipped), then
// one NDJSON commit, so an interrupted push never leaves a partial commit.
import FinchSupport
import Foundation

public struct UploadResult: Sendable {
    public var repoURL: String
    public var commitOid: String?
    public var commitURL: String?
    public var uploadedLFSObjects: Int
    public var skippedLFSObjects: Int
    public var files: [String]
}

struct LocalFile {
    var path: String      // path in the repo
    var full: String
    var size: Int64
    var inline: Data?     // generated content (model card)
}

extension HubClient {
    /// `POST /api/repos/create`; an existing repo (409) is fine. Returns the repo URL.
    @discardableResult
    public func createRepo(repo: String, type: RepoType = .model, private isPrivate: Bool = true) throws -> String {
        try HubClient.validateRepoId(repo)
        guard let token = currentToken() else { throw HubError.noToken }
        let parts = repo.split(separator: "/").map(String.init)
        var body: [(String, JSON)] = [("name", .string(parts.last!)), ("private", .bool(isPrivate))]
        if parts.count == 2 { body.append(("organization", .string(parts[0]))) }
        if type != .model { body.append(("type", .string(type.rawValue))) }
        let url = config.endpoint + "/api/repos/create"
        let r = try http.send(HTTPRequest(method: "POST", url: url, headers: headers(for: url, token: token, extra: [("Content-Type", "application/json")]),
                                          body: Data(JSON.object(body).serialized().utf8)))
        guard r.isSuccess || r.status == 409 else {
            if r.status == 401 { throw HubError.unauthorized(detail: "the token cannot create \(repo)") }
            throw errorFor(r, repo: repo, revision: "main", path: nil)
        }
        return repoURL(repo: repo, type: type)
    }

    public func repoURL(repo: String, type: RepoType) -> String { "\(config.endpoint)/\(type.urlPrefix)\(repo)" }

    static func collectFiles(_ folder: String) throws -> [LocalFile] {
        guard Files.isDirectory(folder) else { throw HubError.upload(detail: "\(folder) is not a folder") }
        var out: [LocalFile] = []
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: folder) else { return [] }
        while let rel = e.nextObject() as? String {
            let comps = rel.split(separator: "/")
            // like huggingface_hub: never upload .git or the .cache/huggingface folder
            if comps.first == ".git" || (comps.count >= 2 && comps[0] == ".cache" && comps[1] == "huggingface") { continue }
            let full = folder + "/" + rel
            // real folders are walked; anything else is uploaded as the regular file it is or links to,
            // and what cannot be (a broken link, a link to a folder, a socket) is an error, never dropped
            var st = stat()
            guard lstat(full, &st) == 0 else { throw FileError(path: full, operation: "read", errno: errno) }
            if (st.st_mode & S_IFMT) == S_IFDIR { continue }
            let isLink = (st.st_mode & S_IFMT) == S_IFLNK
            guard stat(full, &st) == 0 else {
                let reason = isLink ? "is a symbolic link whose target is missing" : "cannot be read (\(String(cString: strerror(errno))))"
                throw HubError.upload(detail: "\(full) \(reason); replace it with the file itself or remove it")
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                let what = (st.st_mode & S_IFMT) == S_IFDIR ? "a link to a folder" : "not a regular file"
                throw HubError.upload(detail: "\(full) is \(what), which push cannot upload; copy the files it stands for into the folder or remove it")
            }
            try HubClient.validateFilePath(rel)
            out.append(LocalFile(path: rel, full: full, size: Int64(st.st_size)))
        }
        return out.sorted { $0.path < $1.path }
    }

    func readSample(_ f: LocalFile) -> Data {
        if let d = f.inline { return d.prefix(512) }
        guard let h = FileHandle(forReadingAtPath: f.full) else { return Data() }
        defer { try? h.close() }
        return h.readData(ofLength: 512)
    }

    func readAll(_ f: LocalFile) throws -> Data { try f.inline ?? Files.read(f.full) }

    /// Uploads a folder as one commit; returns the repo URL. For an adapter folder (with
    /// `adapter_config.json`) and no README.md, a model card is generated from `card`.
    @discardableResult
    public func upload(folder: String, repo: String, type: RepoType = .model, private isPrivate: Bool = true,
                       message: String = "Upload with Finch", revision: String = "main", card: ModelCardInfo? = nil) throws -> UploadResult {
        try HubClient.validateRepoId(repo)
        if config.offline { throw HubError.upload(detail: "offline mode (HF_HUB_OFFLINE) is on") }
        guard let token = currentToken() else { throw HubError.noToken }
        var files = try HubClient.collectFiles(folder)
        guard !files.isEmpty else { throw HubError.upload(detail: "\(folder) has no files to upload") }
        if !files.contains(where: { $0.path == "README.md" }), Files.exists(folder + "/adapter_config.json") {
            let readme = try ModelCard.generate(folder: folder, repo: repo, info: card ?? ModelCardInfo())
            files.append(LocalFile(path: "README.md", full: "", size: Int64(readme.utf8.count), inline: Data(readme.utf8)))
        }
        let url = try createRepo(repo: repo, type: type, private: isPrivate)
        let rev = HubClient.encodeRevision(revision)

        // 1. preupload: which files go through LFS
        var modes: [String: String] = [:]
        for start in stride(from: 0, to: files.count, by: 100) {
            let batch = files[start..<min(start + 100, files.count)]
            let body = JSON.object([("files", .array(batch.map { f in
                .object([("path", .string(f.path)), ("size", .int(Int(f.size))), ("sample", .string(readSample(f).base64EncodedString()))])
            }))])
            let u = "\(config.endpoint)/api/\(type.apiSegment)/\(repo)/preupload/\(rev)"
            let r = try http.send(HTTPRequest(method: "POST", url: u, headers: headers(for: u, token: token, extra: [("Content-Type", "application/json")]),
                                              body: Data(body.serialized().utf8)))
            guard r.isSuccess else { throw errorFor(r, repo: repo, revision: revision, path: nil) }
            for e in try r.json()["files"]?.arrayValue ?? [] {
                if let p = e["path"]?.stringValue, let m = e["uploadMode"]?.stringValue { modes[p] = m }
            }
        }
        // 2. LFS objects
        var lfsOids: [String: String] = [:]
        var uploaded = 0, skipped = 0
        let lfsFiles = files.filter { modes[$0.path] == "lfs" }
        for f in lfsFiles {
            lfsOids[f.path] = try f.inline.map(Hashing.sha256Hex) ?? Hashing.sha256Hex(file: f.full)
        }
        if !lfsFiles.isEmpty {
            let batchURL = "\(config.endpoint)/\(type.urlPrefix)\(repo).git/info/lfs/objects/batch"
            let body = JSON.object([
                ("operation", .string("upload")), ("transfers", .array([.string("basic"), .string("multipart")])),
                ("objects", .array(lfsFiles.map { .object([("oid", .string(lfsOids[$0.path]!)), ("size", .int(Int($0.size)))]) })),
                ("hash_algo", .string("sha256")), ("ref", .object([("name", .string(revision))])),
            ])
            let lfsHeaders = [("Accept", "application/vnd.git-lfs+json"), ("Content-Type", "application/vnd.git-lfs+json")]
            let r = try http.send(HTTPRequest(method: "POST", url: batchURL, headers: headers(for: batchURL, token: token, extra: lfsHeaders),
                                              body: Data(body.serialized().utf8)))
            guard r.isSuccess else { throw errorFor(r, repo: repo, revision: revision, path: nil) }
            let answer = try r.json()
            for obj in answer["objects"]?.arrayValue ?? [] {
                guard let oid = obj["oid"]?.stringValue, let f = lfsFiles.first(where: { lfsOids[$0.path] == oid }) else { continue }
                if let err = obj["error"] { throw HubError.upload(detail: "LFS object for \(f.path): \(err["message"]?.stringValue ?? err.description)") }
                guard let upload = obj["actions"]?["upload"] else { skipped += 1; continue }  // the server has it
                try uploadLFSObject(f, oid: oid, action: upload)
                if let verify = obj["actions"]?["verify"], let href = verify["href"]?.stringValue {
                    var h = headers(for: href, token: token, extra: lfsHeaders)
                    for (k, v) in verify["header"]?.objectValue ?? [] { if let s = v.stringValue { h.set(k, s) } }
                    let vr = try http.send(HTTPRequest(method: "POST", url: href, headers: h,
                                                       body: Data(JSON.object([("oid", .string(oid)), ("size", .int(Int(f.size)))]).serialized().utf8)))
                    guard vr.isSuccess else { throw HubError.upload(detail: "LFS verify failed for \(f.path) (HTTP \(vr.status))") }
                }
                uploaded += 1
            }
        }
        // 3. one NDJSON commit
        var lines: [JSON] = [.object([("key", .string("header")), ("value", .object([("summary", .string(message)), ("description", .string(""))]))])]
        for f in files {
            if let oid = lfsOids[f.path] {
                lines.append(.object([("key", .string("lfsFile")), ("value", .object([("path", .string(f.path)), ("algo", .string("sha256")), ("oid", .string(oid)), ("size", .int(Int(f.size)))]))]))
            } else {
                lines.append(.object([("key", .string("file")), ("value", .object([("path", .string(f.path)), ("content", .string(try readAll(f).base64EncodedString())), ("encoding", .string("base64"))]))]))
            }
        }
        let commitURL = "\(config.endpoint)/api/\(type.apiSegment)/\(repo)/commit/\(rev)"
        let ndjson = lines.map { $0.serialized() }.joined(separator: "\n")
        let r = try http.send(HTTPRequest(method: "POST", url: commitURL, headers: headers(for: commitURL, token: token, extra: [("Content-Type", "application/x-ndjson")]),
                                          body: Data(ndjson.utf8), timeout: 300))
        guard r.isSuccess else { throw errorFor(r, repo: repo, revision: revision, path: nil) }
        let j = try r.json()
        return UploadResult(repoURL: url, commitOid: j["commitOid"]?.stringValue, commitURL: j["commitUrl"]?.stringValue,
                            uploadedLFSObjects: uploaded, skippedLFSObjects: skipped, files: files.map(\.path))
    }

    func uploadLFSObject(_ f: LocalFile, oid: String, action: JSON) throws {
        guard let href = action["href"]?.stringValue else { throw HubError.invalidServerValue(what: "LFS upload action", value: action.description) }
        try HTTPClient.checkTransportSecurity(href)
        let header = action["header"]?.objectValue ?? []
        let chunkSize = header.first(where: { $0.0 == "chunk_size" })?.1.stringValue.flatMap { Int64($0) }
            ?? header.first(where: { $0.0 == "chunk_size" })?.1.intValue.map(Int64.init)
        // a generated file (model card) is never LFS-sized; write it out only if asked to
        var source = f.full
        var tmp: String?
        if let d = f.inline {
            let t = NSTemporaryDirectory() + "finch-upload-\(oid)"
            try d.write(to: URL(fileURLWithPath: t)); source = t; tmp = t
        }
        defer { if let tmp { unlink(tmp) } }
        progress?.begin(f.path, total: f.size, already: 0, upload: true)
        if let chunkSize, chunkSize > 0 {
            let partURLs = header.filter { $0.0 != "chunk_size" && Int($0.0) != nil }.sorted { Int($0.0)! < Int($1.0)! }
            let expected = Int((f.size + chunkSize - 1) / chunkSize)
            guard partURLs.count == expected else {
                throw HubError.invalidServerValue(what: "multipart part count", value: "\(partURLs.count) for \(expected) parts")
            }
            var parts: [JSON] = []
            for (i, (_, u)) in partURLs.enumerated() {
                guard let partURL = u.stringValue else { continue }
                try HTTPClient.checkTransportSecurity(partURL)
                let offset = Int64(i) * chunkSize
                var req = HTTPRequest(method: "PUT", url: partURL, timeout: 0)
                req.bodyFile = (source, offset, min(chunkSize, f.size - offset))
                let r = try http.send(req)
                guard r.isSuccess, let etag = r.headers["ETag"], !etag.isEmpty else {
                    throw HubError.upload(detail: "part \(i + 1) of \(f.path) failed (HTTP \(r.status))")
                }
                parts.append(.object([("partNumber", .int(i + 1)), ("etag", .string(etag))]))
                progress?.update(offset + min(chunkSize, f.size - offset))
            }
            let body = JSON.object([("oid", .string(oid)), ("parts", .array(parts))])
            let r = try http.send(HTTPRequest(method: "POST", url: href, headers: HTTPHeaders([("Accept", "application/vnd.git-lfs+json"), ("Content-Type", "application/vnd.git-lfs+json")]),
                                              body: Data(body.serialized().utf8), timeout: 300))
            guard r.isSuccess else { throw HubError.upload(detail: "completing the multipart upload of \(f.path) failed (HTTP \(r.status))") }
        } else {
            var req = HTTPRequest(method: "PUT", url: href, timeout: 0)
            for (k, v) in header { if let s = v.stringValue { req.headers.set(k, s) } }
            req.bodyFile = (source, 0, f.size)
            let r = try http.send(req)
            guard r.isSuccess else { throw HubError.upload(detail: "uploading \(f.path) failed (HTTP \(r.status)): \(r.text.prefix(200))") }
            progress?.update(f.size)
        }
        progress?.finish()
    }
}
