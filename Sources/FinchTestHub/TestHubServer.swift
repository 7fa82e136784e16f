// The local Hugging Face Hub test server. It serves a folder of repos:
//   ROOT/models/ORG/NAME/<files>      ROOT/datasets/ORG/NAME/<files>      ROOT/.lfs/<sha256> (uploaded objects)
// speaking the subset of the Hub protocol that `huggingface_hub` and Finch use: resolve (HEAD/GET)
// with X-Repo-Commit / ETag / X-Linked-Etag / X-Linked-Size, LFS files answered with a 302 to an
// absolute URL on this server (the "CDN"), Range, repo info with siblings, the tree API, whoami-v2,
// repo create, preupload, LFS batch (basic and multipart), NDJSON commits. Tests inject faults.
import Foundation
import Crypto
#if canImport(Glibc)
import Glibc
#endif

public struct Fault: Sendable {
    public enum Kind: Sendable {
        case status(Int)                 // answer with this status (e.g. 503)
        case cutAfter(bytes: Int64)      // send the headers, then only this many body bytes, then close
        case delay(seconds: Double)      // sleep before answering
        case stallAfter(bytes: Int64, seconds: Double)  // send this many body bytes, then go silent, then close
    }
    public var kind: Kind
    public var pathContains: String
    public var method: String?
    public var times: Int
    public init(_ kind: Kind, pathContains: String, method: String? = nil, times: Int = 1) {
        self.kind = kind; self.pathContains = pathContains; self.method = method; self.times = times
    }
}

public struct LoggedRequest: Sendable {
    public var method: String
    public var path: String
    public var hadAuthorization: Bool
    public var range: String?
}

public final class TestHubServer: @unchecked Sendable {
    public let root: String
    public var port: UInt16 { http.port }
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    /// LFS downloads and uploads are served on a second port: another origin, like the Hub's CDN and
    /// storage buckets, so clients must not send the token there (and newer huggingface_hub versions
    /// follow same-origin redirects in the metadata HEAD, which a same-origin CDN would break).
    public var cdnEndpoint: String { "http://127.0.0.1:\(cdn.port)" }

    private let http: HTTPServer!
    private let cdn: HTTPServer!
    private let lock = NSLock()
    private var _faults: [Fault] = []
    private var _tokens: [String: String] = [:]
    private var _log: [LoggedRequest] = []
    private var _hook: ((ServerRequest) -> ServerResponse?)?
    private var hashCache: [String: (size: Int64, mtime: Int, sha256: String?, sha1: String?)] = [:]
    private var multipartParts: [String: [Int: Data]] = [:]
    private let commitLock = NSLock()

    /// Files at least this big, or with a binary model extension, are stored as LFS.
    public var lfsThreshold: Int64 = 1 << 20
    /// LFS uploads at least this big are offered as multipart with this chunk size.
    public var multipartThreshold: Int64 = 8 << 20
    public var multipartChunkSize: Int64 = 4 << 20
    /// Old repo id → new repo id: resolve under the old id answers a relative redirect.
    public var renames: [String: String] = [:]

    public static let lfsExtensions: Set<String> = ["safetensors", "gguf", "bin", "pt", "pth", "ckpt", "h5", "onnx", "parquet", "arrow", "npz", "msgpack", "zip", "gz", "tar"]

    public init(root: String, port: UInt16 = 0, host: String = "127.0.0.1") throws {
        self.root = (root as NSString).standardizingPath
        var handler: ((ServerRequest) -> ServerResponse)?
        http = try HTTPServer(host: host, port: port) { req in handler?(req) ?? .error(500, "not ready") }
        cdn = try HTTPServer(host: host, port: 0) { req in handler?(req) ?? .error(500, "not ready") }
        handler = { [unowned self] req in self.handle(req) }
        try FileManager.default.createDirectory(atPath: self.root + "/.lfs", withIntermediateDirectories: true)
    }

    /// Starts serving on a background thread; returns self for chaining.
    @discardableResult public func start() -> TestHubServer { http.start(); cdn.start(); return self }
    public func stop() { http.stop(); cdn.stop() }

    public func addFault(_ f: Fault) { lock.lock(); _faults.append(f); lock.unlock() }
    public func clearFaults() { lock.lock(); _faults.removeAll(); lock.unlock() }
    public func addToken(_ token: String, user: String) { lock.lock(); _tokens[token] = user; lock.unlock() }
    public var requests: [LoggedRequest] { lock.lock(); defer { lock.unlock() }; return _log }
    public func clearLog() { lock.lock(); _log.removeAll(); lock.unlock() }
    /// A hook that may answer any request itself (malicious-server tests); nil falls through.
    public func setHook(_ h: ((ServerRequest) -> ServerResponse?)?) { lock.lock(); _hook = h; lock.unlock() }

    func user(for req: ServerRequest) -> String? {
        guard let t = req.bearerToken else { return nil }
        lock.lock(); defer { lock.unlock() }
        return _tokens[t]
    }

    private func takeFault(_ req: ServerRequest) -> Fault? {
        lock.lock(); defer { lock.unlock() }
        guard let i = _faults.firstIndex(where: { req.path.contains($0.pathContains) && ($0.method == nil || $0.method == req.method) }) else { return nil }
        let f = _faults[i]
        _faults[i].times -= 1
        if _faults[i].times <= 0 { _faults.remove(at: i) }
        return f
    }

    // MARK: dispatch

    func handle(_ req: ServerRequest) -> ServerResponse {
        lock.lock()
        _log.append(LoggedRequest(method: req.method, path: req.path, hadAuthorization: req.header("Authorization") != nil, range: req.header("Range")))
        let hook = _hook
        lock.unlock()
        var cut: Int64? = nil, stall: Double? = nil
        if let f = takeFault(req) {
            switch f.kind {
            case .status(let s): return .error(s, "injected fault \(s)")
            case .delay(let s): Thread.sleep(forTimeInterval: s)
            case .cutAfter(let n): cut = n
            case .stallAfter(let n, let seconds): cut = n; stall = seconds
            }
        }
        if let hook, let r = hook(req) { return r }
        var resp = route(req)
        if let cut { resp.cutAfter = cut; resp.stallBeforeClose = stall }
        return resp
    }

    func route(_ req: ServerRequest) -> ServerResponse {
        let comps = req.rawPath.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        // like the Hub: a token it does not know is refused outright, even for public files (the CDN and
        // the upload targets never get one)
        if let t = req.bearerToken, !t.isEmpty, user(for: req) == nil, comps.first != "cdn", comps.first != "lfs-upload" {
            return TestHubServer.invalidCredentials
        }
        if comps.first == "api" { return api(req, Array(comps.dropFirst())) }
        if comps.first == "cdn", comps.count == 2 { return cdn(req, oid: comps[1]) }
        if comps.first == "lfs-upload" { return lfsUpload(req, Array(comps.dropFirst())) }
        if let i = comps.firstIndex(where: { $0.hasSuffix(".git") }), comps.count >= i + 4,
           comps[(i + 1)...].joined(separator: "/") == "info/lfs/objects/batch", req.method == "POST" {
            var repoParts = Array(comps[...i]); repoParts[i] = String(repoParts[i].dropLast(4))
            let type = repoParts.first == "datasets" ? "dataset" : "model"
            if type == "dataset" { repoParts.removeFirst() }
            return lfsBatch(req, type: type, repo: repoParts.joined(separator: "/"))
        }
        if let i = comps.firstIndex(of: "resolve"), i >= 1, comps.count >= i + 3, req.method == "GET" || req.method == "HEAD" {
            var repoParts = Array(comps[..<i])
            let type = repoParts.first == "datasets" ? "dataset" : "model"
            if type == "dataset" { repoParts.removeFirst() }
            let rawComps = req.rawPath.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            let rawRev = rawComps.count > i + 1 ? rawComps[i + 1] : "main"
            return resolve(req, type: type, repo: repoParts.joined(separator: "/"), revision: rawRev.removingPercentEncoding ?? rawRev,
                           file: comps[(i + 2)...].joined(separator: "/"))
        }
        return .error(404, "no route for \(req.method) \(req.path)")
    }

    static let invalidCredentialsMessage = "Invalid credentials in Authorization header"
    static var invalidCredentials: ServerResponse {
        .json(401, ["error": invalidCredentialsMessage], headers: [("X-Error-Message", invalidCredentialsMessage), ("X-Request-Id", UUID().uuidString)])
    }

    func isPrivate(type: String, repo: String) -> Bool {
        FileManager.default.fileExists(atPath: repoDir(type: type, repo: repo) + "/.finch-private")
    }

    /// A private repo read without a token: 401 with RepoNotFound, exactly what the Hub answers for a repo
    /// that does not exist, so nothing tells whether it does.
    func refusePrivate(_ req: ServerRequest, type: String, repo: String) -> ServerResponse? {
        guard isPrivate(type: type, repo: repo), user(for: req) == nil else { return nil }
        return .error(401, "Repository Not Found for url: \(req.path). Please make sure you specified the correct `repo_id` and `repo_type`. If you are trying to access a private or gated repo, make sure you are authenticated.", code: "RepoNotFound")
    }

    // MARK: repos on disk

    func repoDir(type: String, repo: String) -> String { root + "/\(type)s/" + repo }

    static func validRepoId(_ repo: String) -> Bool {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { p in !p.isEmpty && p != "." && p != ".." && p.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }
    }

    static func validFilePath(_ p: String) -> Bool {
        !p.isEmpty && !p.hasPrefix("/") && !p.contains("\\") && !p.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
    }

    struct RepoFile { var path: String; var size: Int64; var isLFS: Bool; var sha256: String?; var blobId: String; var full: String }

    func isLFS(path: String, size: Int64) -> Bool {
        size >= lfsThreshold || TestHubServer.lfsExtensions.contains((path as NSString).pathExtension.lowercased())
    }

    func files(type: String, repo: String) -> [RepoFile]? {
        let dir = repoDir(type: type, repo: repo)
        guard isDir(dir) else { return nil }
        var out: [RepoFile] = []
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        while let rel = e.nextObject() as? String {
            let full = dir + "/" + rel
            if (rel as NSString).lastPathComponent.hasPrefix(".finch") || rel.hasPrefix(".git/") || rel == ".git" { continue }
            guard !isDir(full) else { continue }
            var st = stat()
            guard stat(full, &st) == 0 else { continue }
            let size = Int64(st.st_size)
            let lfs = isLFS(path: rel, size: size)
            let (sha256, sha1) = hashes(full, size: size, mtime: Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), lfs: lfs)
            out.append(RepoFile(path: rel, size: size, isLFS: lfs, sha256: sha256, blobId: sha1 ?? "", full: full))
        }
        return out.sorted { $0.path < $1.path }
    }

    func hashes(_ full: String, size: Int64, mtime: Int, lfs: Bool) -> (String?, String?) {
        lock.lock()
        if let c = hashCache[full], c.size == size, c.mtime == mtime, (c.sha256 != nil || !lfs) { lock.unlock(); return (c.sha256, c.sha1) }
        lock.unlock()
        guard let data = FileManager.default.contents(atPath: full) else { return (nil, nil) }
        let sha1 = TestHubServer.gitBlobSHA1(data)
        let sha256 = lfs ? TestHubServer.hex(SHA256.hash(data: data)) : nil
        lock.lock(); hashCache[full] = (size, mtime, sha256, sha1); lock.unlock()
        return (sha256, sha1)
    }

    /// The commit id is a digest of the tree (paths and blob ids), so it changes exactly when content does.
    func commit(of files: [RepoFile]) -> String {
        var h = Insecure.SHA1()
        for f in files { h.update(data: Data("\(f.path)\0\(f.blobId)\n".utf8)) }
        return TestHubServer.hex(h.finalize())
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 { d.map { String(format: "%02x", $0) }.joined() }
    static func gitBlobSHA1(_ data: Data) -> String {
        var h = Insecure.SHA1()
        h.update(data: Data("blob \(data.count)\0".utf8))
        h.update(data: data)
        return hex(h.finalize())
    }

    func isDir(_ p: String) -> Bool { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue }

    // MARK: resolve

    func resolve(_ req: ServerRequest, type: String, repo: String, revision: String, file: String) -> ServerResponse {
        if let newId = renames[repo] {
            let prefix = type == "dataset" ? "/datasets/" : "/"
            let rest = req.rawPath.components(separatedBy: "/resolve/").dropFirst().joined(separator: "/resolve/")
            return ServerResponse(status: 307, headers: [("Location", "\(prefix)\(newId)/resolve/\(rest)")])
        }
        guard TestHubServer.validRepoId(repo), let files = files(type: type, repo: repo) else {
            return .error(404, "Repository Not Found for url: \(req.path)", code: "RepoNotFound")
        }
        if let refused = refusePrivate(req, type: type, repo: repo) { return refused }
        let sha = commit(of: files)
        guard revision == "main" || revision == sha else { return .error(404, "Invalid rev id: \(revision)", code: "RevisionNotFound") }
        guard TestHubServer.validFilePath(file), let f = files.first(where: { $0.path == file }) else {
            return ServerResponse(status: 404, headers: [("X-Error-Code", "EntryNotFound"), ("X-Repo-Commit", sha), ("Content-Type", "application/json")],
                                  body: Data(#"{"error":"Entry not found"}"#.utf8))
        }
        if f.isLFS, let oid = f.sha256 {
            // like the Hub: the resolve answers 302 to the CDN; the linked etag/size describe the LFS object
            return ServerResponse(status: 302, headers: [
                ("Location", "\(cdnEndpoint)/cdn/\(oid)?repo=\(repo.replacingOccurrences(of: "/", with: "%2F"))&file=\(file.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"),
                ("X-Repo-Commit", sha), ("X-Linked-Etag", "\"\(oid)\""), ("X-Linked-Size", "\(f.size)"),
                ("ETag", "\"\(f.blobId)\""), ("Content-Length", "0"),
            ])
        }
        return serveFile(req, path: f.full, size: f.size, headers: [("X-Repo-Commit", sha), ("ETag", "\"\(f.blobId)\"")])
    }

    func serveFile(_ req: ServerRequest, path: String, size: Int64, headers: [(String, String)]) -> ServerResponse {
        var h = headers + [("Accept-Ranges", "bytes"), ("Content-Type", "application/octet-stream")]
        if let range = req.header("Range"), range.hasPrefix("bytes=") {
            let spec = range.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            if spec.count == 2, let start = Int64(spec[0]) {
                let end = Int64(spec[1]) ?? (size - 1)
                guard start < size, end >= start else {
                    return ServerResponse(status: 416, headers: [("Content-Range", "bytes */\(size)")])
                }
                let e = min(end, size - 1)
                h.append(("Content-Range", "bytes \(start)-\(e)/\(size)"))
                var r = ServerResponse(status: 206, headers: h)
                r.body = .file(path: path, offset: start, length: e - start + 1)
                return r
            }
        }
        var r = ServerResponse(status: 200, headers: h)
        r.body = .file(path: path, offset: 0, length: size)
        return r
    }

    func cdn(_ req: ServerRequest, oid: String) -> ServerResponse {
        guard oid.count == 64, oid.allSatisfy({ $0.isHexDigit }) else { return .error(404, "no such object") }
        let stored = root + "/.lfs/" + oid
        if let size = fileSize(stored) { return serveFile(req, path: stored, size: size, headers: [("ETag", "\"\(oid)\"")]) }
        // repo files that were placed on disk directly (fixtures): find by content hash
        if let repo = req.query["repo"], let file = req.query["file"] {
            for type in ["model", "dataset"] {
                if let f = files(type: type, repo: repo)?.first(where: { $0.path == file && $0.sha256 == oid }) {
                    return serveFile(req, path: f.full, size: f.size, headers: [("ETag", "\"\(oid)\"")])
                }
            }
        }
        return .error(404, "no such object")
    }

    func fileSize(_ p: String) -> Int64? {
        var st = stat()
        return stat(p, &st) == 0 ? Int64(st.st_size) : nil
    }

    // MARK: API

    func api(_ req: ServerRequest, _ c: [String]) -> ServerResponse {
        if c == ["whoami-v2"] { return whoami(req) }
        if c == ["repos", "create"], req.method == "POST" { return createRepo(req) }
        if c == ["validate-yaml"], req.method == "POST" { return validateYAML(req) }
        guard c.count >= 2, c[0] == "models" || c[0] == "datasets" else { return .error(404, "no route") }
        let type = c[0] == "models" ? "model" : "dataset"
        // /api/models/{repo...}[/revision/{rev}|/tree/{rev}[/path]|/preupload/{rev}|/commit/{rev}]
        let markers = ["revision", "tree", "preupload", "commit", "paths-info"]
        let mi = c.indices.dropFirst().first(where: { markers.contains(c[$0]) && $0 >= 2 })
        let repo = c[1..<(mi ?? c.count)].joined(separator: "/")
        guard TestHubServer.validRepoId(repo) else { return .error(400, "invalid repo id") }
        let rawComps = req.rawPath.split(separator: "/").map(String.init)  // rev may be %2F-encoded
        func rev(at i: Int) -> String {
            // find raw component matching position: raw path has one extra leading "api"
            let raw = i + 1 < rawComps.count ? rawComps[i + 1] : "main"
            return raw.removingPercentEncoding ?? raw
        }
        if let refused = refusePrivate(req, type: type, repo: repo) { return refused }
        guard let m = mi else { return repoInfo(req, type: type, repo: repo, revision: "main") }
        switch c[m] {
        case "revision" where req.method == "GET": return repoInfo(req, type: type, repo: repo, revision: m + 1 < c.count ? rev(at: m + 1) : "main")
        case "tree" where req.method == "GET":
            return tree(req, type: type, repo: repo, revision: m + 1 < c.count ? rev(at: m + 1) : "main", under: c.count > m + 2 ? c[(m + 2)...].joined(separator: "/") : "")
        case "preupload" where req.method == "POST": return preupload(req, type: type, repo: repo)
        case "commit" where req.method == "POST": return commitNDJSON(req, type: type, repo: repo, revision: m + 1 < c.count ? rev(at: m + 1) : "main")
        case "paths-info" where req.method == "POST": return pathsInfo(req, type: type, repo: repo)
        default: return .error(404, "no route")
        }
    }

    /// `POST /api/validate-yaml` {content, repoType}: what huggingface_hub asks before a commit that adds
    /// a README.md. The front matter must be closed and made of `key: value` lines, list items or
    /// indented continuations; errors come back as a 400 with `errors: [{message}]`.
    func validateYAML(_ req: ServerRequest) -> ServerResponse {
        guard let obj = (try? JSONSerialization.jsonObject(with: req.body)) as? [String: Any], let content = obj["content"] as? String else {
            return .json(400, ["error": "expected a JSON body with content", "errors": [["message": "expected a JSON body with content"]]])
        }
        var errors: [String] = []
        let lines = content.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        if lines.first == "---" {
            if let end = lines.dropFirst().firstIndex(of: "---") {
                for (i, l) in lines[1..<end].enumerated() {
                    let t = l.trimmingCharacters(in: .whitespaces)
                    if t.isEmpty || t.hasPrefix("#") || l.first == " " || l.first == "-" || l.contains(":") { continue }
                    errors.append("YAML metadata line \(i + 2): \"\(l)\" is not a key: value pair")
                }
            } else {
                errors.append("the YAML metadata block opened by --- on line 1 is never closed")
            }
        }
        if !errors.isEmpty { return .json(400, ["error": errors[0], "errors": errors.map { ["message": $0] }, "warnings": [] as [Any]]) }
        return .json(200, ["errors": [] as [Any], "warnings": [] as [Any]])
    }

    func whoami(_ req: ServerRequest) -> ServerResponse {
        guard let name = user(for: req) else { return .error(401, "Invalid credentials in Authorization header") }
        return .json(200, ["type": "user", "id": "id-\(name)", "name": name, "fullname": name, "email": "\(name)@example.invalid",
                           "emailVerified": true, "isPro": false, "canPay": false, "orgs": [] as [Any],
                           "auth": ["type": "access_token", "accessToken": ["displayName": "finch-test", "role": "write"]]])
    }

    func sibling(_ f: RepoFile) -> [String: Any] {
        var s: [String: Any] = ["rfilename": f.path, "size": f.size, "blobId": f.blobId]
        if f.isLFS, let oid = f.sha256 { s["lfs"] = ["sha256": oid, "size": f.size, "pointerSize": 134] }
        return s
    }

    func repoInfo(_ req: ServerRequest, type: String, repo: String, revision: String) -> ServerResponse {
        guard let files = files(type: type, repo: repo) else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        let sha = commit(of: files)
        guard revision == "main" || revision == sha else { return .error(404, "Invalid rev id: \(revision)", code: "RevisionNotFound") }
        let priv = isPrivate(type: type, repo: repo)
        return .json(200, ["_id": sha, "id": repo, "modelId": repo, "sha": sha, "private": priv, "disabled": false, "gated": false,
                           "lastModified": "2026-01-01T00:00:00.000Z", "tags": [] as [Any], "downloads": 0, "likes": 0,
                           "siblings": files.map(sibling)])
    }

    func tree(_ req: ServerRequest, type: String, repo: String, revision: String, under: String) -> ServerResponse {
        guard let files = files(type: type, repo: repo) else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        let sha = commit(of: files)
        guard revision == "main" || revision == sha else { return .error(404, "Invalid rev id: \(revision)", code: "RevisionNotFound") }
        let recursive = req.query["recursive"] == "true" || req.query["recursive"] == "1" || req.query["recursive"] == "True"
        let prefix = under.isEmpty ? "" : under + "/"
        var entries: [[String: Any]] = []
        var dirs = Set<String>()
        for f in files where f.path.hasPrefix(prefix) {
            let rest = String(f.path.dropFirst(prefix.count))
            if !recursive, let slash = rest.firstIndex(of: "/") {
                dirs.insert(prefix + rest[..<slash]); continue
            }
            if recursive {
                var parts = rest.split(separator: "/").dropLast()
                while !parts.isEmpty { dirs.insert(prefix + parts.joined(separator: "/")); parts = parts.dropLast() }
            }
            var e: [String: Any] = ["type": "file", "oid": f.blobId, "size": f.size, "path": f.path]
            if f.isLFS, let oid = f.sha256 { e["lfs"] = ["oid": oid, "size": f.size, "pointerSize": 134] }
            entries.append(e)
        }
        for d in dirs.sorted() { entries.append(["type": "directory", "oid": "0000000000000000000000000000000000000000", "size": 0, "path": d]) }
        return .json(200, entries.sorted { ($0["path"] as! String) < ($1["path"] as! String) })
    }

    func pathsInfo(_ req: ServerRequest, type: String, repo: String) -> ServerResponse {
        guard let files = files(type: type, repo: repo) else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        var wanted: [String] = []
        if let obj = try? JSONSerialization.jsonObject(with: req.body) as? [String: Any], let p = obj["paths"] as? [String] { wanted = p }
        else if let s = String(data: req.body, encoding: .utf8) {
            for item in s.split(separator: "&") where item.hasPrefix("paths=") { wanted.append(String(item.dropFirst(6)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") }
        }
        let out: [[String: Any]] = files.filter { wanted.contains($0.path) }.map { f in
            var e: [String: Any] = ["type": "file", "oid": f.blobId, "size": f.size, "path": f.path]
            if f.isLFS, let oid = f.sha256 { e["lfs"] = ["oid": oid, "size": f.size, "pointerSize": 134] }
            return e
        }
        return .json(200, out)
    }

    // MARK: upload

    func requireUser(_ req: ServerRequest) -> (String?, ServerResponse?) {
        guard let u = user(for: req) else { return (nil, .error(401, "Invalid username or password.")) }
        return (u, nil)
    }

    func createRepo(_ req: ServerRequest) -> ServerResponse {
        let (u, err) = requireUser(req); if let err { return err }
        guard let obj = (try? JSONSerialization.jsonObject(with: req.body)) as? [String: Any], let name = obj["name"] as? String else {
            return .error(400, "expected a JSON body with name")
        }
        let org = (obj["organization"] as? String) ?? u!
        let type = (obj["type"] as? String) ?? "model"
        guard type == "model" || type == "dataset" else { return .error(400, "unsupported repo type \(type)") }
        let repo = "\(org)/\(name)"
        guard TestHubServer.validRepoId(repo) else { return .error(400, "invalid repo name") }
        let dir = repoDir(type: type, repo: repo)
        let url = type == "dataset" ? "\(endpoint)/datasets/\(repo)" : "\(endpoint)/\(repo)"
        if isDir(dir) { return .json(409, ["error": "You already created this \(type) repo", "url": url]) }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.gguf filter=lfs diff=lfs merge=lfs -text\n".utf8).write(to: URL(fileURLWithPath: dir + "/.gitattributes"))
            // huggingface_hub < 1 sends "private": true, ≥ 1 "visibility": "private"
            if obj["private"] as? Bool == true || obj["visibility"] as? String == "private" { try Data().write(to: URL(fileURLWithPath: dir + "/.finch-private")) }
        } catch { return .error(500, "could not create repo: \(error)") }
        return .json(200, ["url": url, "name": repo, "id": repo])
    }

    func preupload(_ req: ServerRequest, type: String, repo: String) -> ServerResponse {
        let (_, err) = requireUser(req); if let err { return err }
        guard let existing = files(type: type, repo: repo) else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        guard let obj = (try? JSONSerialization.jsonObject(with: req.body)) as? [String: Any], let fs = obj["files"] as? [[String: Any]] else {
            return .error(400, "expected files")
        }
        var out: [[String: Any]] = []
        for f in fs {
            guard let p = f["path"] as? String, let size = (f["size"] as? NSNumber)?.int64Value else { return .error(400, "file entry needs path and size") }
            let lfs = isLFS(path: p, size: size)
            var e: [String: Any] = ["path": p, "uploadMode": lfs ? "lfs" : "regular", "shouldIgnore": false]
            if let cur = existing.first(where: { $0.path == p }), !cur.isLFS { e["oid"] = cur.blobId }
            out.append(e)
        }
        return .json(200, ["files": out, "commitOid": commit(of: existing)])
    }

    func lfsBatch(_ req: ServerRequest, type: String, repo: String) -> ServerResponse {
        let (_, err) = requireUser(req); if let err { return err }
        guard files(type: type, repo: repo) != nil else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        guard let obj = (try? JSONSerialization.jsonObject(with: req.body)) as? [String: Any], let objs = obj["objects"] as? [[String: Any]] else {
            return .error(400, "expected objects")
        }
        let transfers = (obj["transfers"] as? [String]) ?? ["basic"]
        var useMultipart = false
        var out: [[String: Any]] = []
        for o in objs {
            guard let oid = o["oid"] as? String, let size = (o["size"] as? NSNumber)?.int64Value else { return .error(400, "object needs oid and size") }
            guard oid.count == 64, oid.allSatisfy({ $0.isHexDigit }), size >= 0 else {
                out.append(["oid": oid, "size": size, "error": ["code": 422, "message": "invalid oid or size"]]); continue
            }
            if fileSize(root + "/.lfs/" + oid) == size { out.append(["oid": oid, "size": size]); continue }  // already there
            if size >= multipartThreshold && transfers.contains("multipart") {
                useMultipart = true
                var header: [String: String] = ["chunk_size": "\(multipartChunkSize)"]
                let parts = Int((size + multipartChunkSize - 1) / multipartChunkSize)
                for i in 1...max(parts, 1) { header[String(format: "%05d", i)] = "\(cdnEndpoint)/lfs-upload/\(oid)/part/\(i)" }
                out.append(["oid": oid, "size": size, "authenticated": true,
                            "actions": ["upload": ["href": "\(cdnEndpoint)/lfs-upload/\(oid)/complete?size=\(size)", "header": header],
                                        "verify": ["href": "\(endpoint)/lfs-upload/\(oid)/verify"]]])
            } else {
                out.append(["oid": oid, "size": size, "authenticated": true,
                            "actions": ["upload": ["href": "\(cdnEndpoint)/lfs-upload/\(oid)?size=\(size)"],
                                        "verify": ["href": "\(endpoint)/lfs-upload/\(oid)/verify"]]])
            }
        }
        var body: [String: Any] = ["objects": out]
        body["transfer"] = useMultipart ? "multipart" : "basic"
        return .json(200, body, headers: [("Content-Type", "application/vnd.git-lfs+json")])
    }

    func lfsUpload(_ req: ServerRequest, _ c: [String]) -> ServerResponse {
        guard let oid = c.first, oid.count == 64, oid.allSatisfy({ $0.isHexDigit }) else { return .error(400, "bad oid") }
        let dest = root + "/.lfs/" + oid
        if c.count == 1, req.method == "PUT" {
            return storeObject(oid: oid, data: req.body, expectedSize: req.query["size"].flatMap { Int64($0) }, dest: dest)
        }
        if c.count == 3, c[1] == "part", let n = Int(c[2]), req.method == "PUT" {
            lock.lock(); multipartParts[oid, default: [:]][n] = req.body; lock.unlock()
            return ServerResponse(status: 200, headers: [("ETag", "\"\(TestHubServer.hex(Insecure.MD5.hash(data: req.body)))\"")])
        }
        if c.count == 2, c[1] == "complete", req.method == "POST" {
            guard let obj = (try? JSONSerialization.jsonObject(with: req.body)) as? [String: Any], let parts = obj["parts"] as? [[String: Any]] else {
                return .error(400, "expected parts")
            }
            lock.lock(); let stored = multipartParts.removeValue(forKey: oid) ?? [:]; lock.unlock()
            var data = Data()
            for (i, p) in parts.enumerated() {
                guard (p["partNumber"] as? NSNumber)?.intValue == i + 1, let etag = p["etag"] as? String, !etag.isEmpty,
                      let chunk = stored[i + 1] else { return .error(400, "missing or out-of-order part \(i + 1)") }
                data.append(chunk)
            }
            return storeObject(oid: oid, data: data, expectedSize: req.query["size"].flatMap { Int64($0) }, dest: dest)
        }
        if c.count == 2, c[1] == "verify", req.method == "POST" {
            return fileSize(dest) != nil ? .json(200, ["ok": true]) : .error(404, "object not found")
        }
        return .error(404, "no route")
    }

    func storeObject(oid: String, data: Data, expectedSize: Int64?, dest: String) -> ServerResponse {
        if let s = expectedSize, s != Int64(data.count) { return .error(400, "size mismatch: expected \(s), got \(data.count)") }
        guard TestHubServer.hex(SHA256.hash(data: data)) == oid else { return .error(400, "sha256 mismatch for \(oid)") }
        let tmp = dest + ".tmp.\(UUID().uuidString)"
        do { try data.write(to: URL(fileURLWithPath: tmp)); rename(tmp, dest) } catch { return .error(500, "store failed") }
        return ServerResponse(status: 200)
    }

    func commitNDJSON(_ req: ServerRequest, type: String, repo: String, revision: String) -> ServerResponse {
        let (_, err) = requireUser(req); if let err { return err }
        commitLock.lock(); defer { commitLock.unlock() }
        guard let current = files(type: type, repo: repo) else { return .error(404, "Repository Not Found", code: "RepoNotFound") }
        guard revision == "main" else { return .error(400, "only main can be committed to on the test server") }
        let dir = repoDir(type: type, repo: repo)
        // Validate everything before touching the repo: a commit is all or nothing.
        enum Op { case write(String, Data), copyLFS(String, String), delete(String), deleteFolder(String) }
        var ops: [Op] = []
        var header: [String: Any]?
        for line in req.body.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any], let key = obj["key"] as? String,
                  let value = obj["value"] as? [String: Any] else { return .error(400, "invalid NDJSON line") }
            if key == "header" { header = value; continue }
            guard let path = value["path"] as? String, TestHubServer.validFilePath(path) || key == "deletedFolder" else {
                return .error(400, "invalid path in commit")
            }
            switch key {
            case "file":
                guard let content = value["content"] as? String, let data = Data(base64Encoded: content) else { return .error(400, "invalid base64 for \(path)") }
                ops.append(.write(path, data))
            case "lfsFile":
                guard let oid = value["oid"] as? String, oid.count == 64, oid.allSatisfy({ $0.isHexDigit }) else { return .error(400, "invalid oid") }
                let size = (value["size"] as? NSNumber)?.int64Value
                guard let have = fileSize(root + "/.lfs/" + oid), size == nil || size == have else {
                    return .error(422, "LFS object \(oid) for \(path) was not uploaded")
                }
                ops.append(.copyLFS(path, oid))
            case "deletedFile": ops.append(.delete(path))
            case "deletedFolder": ops.append(.deleteFolder(path))
            default: return .error(400, "unknown key \(key)")
            }
        }
        guard let h = header, h["summary"] is String else { return .error(400, "missing header line with summary") }
        if let parent = h["parentCommit"] as? String, parent != commit(of: current) {
            return .error(412, "A commit has happened since. Please refresh and try again.")
        }
        for op in ops {
            switch op {
            case let .write(p, d):
                let full = dir + "/" + p
                try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let tmp = full + ".finch-tmp"
                guard FileManager.default.createFile(atPath: tmp, contents: d), rename(tmp, full) == 0 else { return .error(500, "could not write \(p)") }
            case let .copyLFS(p, oid):
                let full = dir + "/" + p
                try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let tmp = full + ".finch-tmp"
                try? FileManager.default.removeItem(atPath: tmp)
                try? FileManager.default.copyItem(atPath: root + "/.lfs/" + oid, toPath: tmp); rename(tmp, full)
            case let .delete(p): try? FileManager.default.removeItem(atPath: dir + "/" + p)
            case let .deleteFolder(p):
                if TestHubServer.validFilePath(p.hasSuffix("/") ? String(p.dropLast()) : p) { try? FileManager.default.removeItem(atPath: dir + "/" + p) }
            }
        }
        let sha = commit(of: files(type: type, repo: repo) ?? [])
        let base = type == "dataset" ? "\(endpoint)/datasets/\(repo)" : "\(endpoint)/\(repo)"
        return .json(200, ["commitOid": sha, "commitUrl": "\(base)/commit/\(sha)", "success": true])
    }
}
