// The Hugging Face Hub client: download into the shared cache exactly as `huggingface_hub` does
// (HEAD without redirects, X-Repo-Commit, X-Linked-Etag/ETag, X-Linked-Size, blobs/snapshots/refs with
// relative symlinks, `.incomplete` files resumed with Range, `.lock` files), repo listing and snapshot
// download. Authentication, upload and the model resolver live in extensions beside this file.
import Foundation
import FinchSupport
#if canImport(Glibc)
import Glibc
#endif

public struct FileMetadata: Sendable {
    public var commit: String
    public var etag: String
    public var location: String
    public var size: Int64
    public var isLFS: Bool { etag.count == 64 }
}

public final class HubClient: @unchecked Sendable {
    public let config: HubConfig
    public let http: HTTPClient
    /// Progress for each file; nil for silence. Defaults to the terminal reporter.
    public var progress: ProgressReporter?
    private let explicitToken: Secret?
    /// Upper bound on a single file the client accepts from a server (absurd sizes are refused).
    public var maxFileSize: Int64 = 1 << 42

    public init(config: HubConfig = .fromEnvironment(), token: Secret? = nil, http: HTTPClient = HTTPClient(),
                progress: ProgressReporter? = TerminalProgress()) {
        self.config = config
        self.explicitToken = token
        self.http = http
        self.progress = progress
    }

    // MARK: URLs and headers

    static func encodeRevision(_ r: String) -> String {
        r.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? r
    }
    static func encodePath(_ p: String) -> String {
        p.split(separator: "/", omittingEmptySubsequences: false).map { encodeRevision(String($0)) }.joined(separator: "/")
    }

    public func resolveURL(repo: String, type: RepoType = .model, revision: String = "main", path: String) -> String {
        "\(config.endpoint)/\(type.urlPrefix)\(repo)/resolve/\(HubClient.encodeRevision(revision))/\(HubClient.encodePath(path))"
    }

    /// The token in force: the one given to this client, else HF_TOKEN, HUGGING_FACE_HUB_TOKEN, the token file.
    public func currentToken() -> String? {
        if let t = explicitToken { return t.withValue { $0 } }
        if config.disableImplicitToken { return nil }
        return HubAuth.lookupToken(config: config)
    }

    /// Authorization goes only to the configured endpoint's origin, never to a redirect target elsewhere.
    func headers(for url: String, token: String? = nil, extra: [(String, String)] = []) -> HTTPHeaders {
        var h = HTTPHeaders(extra)
        if let t = token ?? currentToken(), !t.isEmpty, let o = HubConfig.origin(of: url), o == config.endpointOrigin {
            h.set("Authorization", "Bearer \(t)")
        }
        return h
    }

    // MARK: validation

    public static func validateRepoId(_ repo: String) throws {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ p in
            !p.isEmpty && p != "." && p != ".." && p.count <= 96 && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        }) else { throw HubError.invalidRepoId(repo) }
    }

    /// A repo file path must be relative, with no `..`, `.` or empty components and no backslashes.
    public static func validateFilePath(_ p: String) throws {
        guard !p.isEmpty, !p.hasPrefix("/"), !p.contains("\\"), !p.contains("\0"),
              !p.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { throw HubError.invalidFilePath(p) }
    }

    static func isCommitHash(_ s: String) -> Bool { s.count == 40 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase } }

    static func validateRevisionName(_ r: String) throws {
        guard !r.isEmpty, !r.hasPrefix("/"), !r.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
              !r.contains("\0") else { throw HubError.invalidServerValue(what: "revision", value: r) }
    }

    // MARK: metadata (HEAD)

    func errorFor(_ r: HTTPResponse, repo: String, revision: String, path: String?) -> HubError {
        let code = r.headers["X-Error-Code"]
        var message = r.headers["X-Error-Message"] ?? ""
        if message.isEmpty, let j = try? r.json() { message = j["error"]?.stringValue ?? j["message"]?.stringValue ?? "" }
        if message.isEmpty { message = String(r.text.prefix(200)) }
        switch (r.status, code) {
        case (401, nil) where message == "Invalid credentials in Authorization header":
            return .invalidToken(detail: "the Hub refused the token for \(repo) (wrong, expired or revoked); log in again with login(secret(\"HF_TOKEN\")) or `finch login`, or unset HF_TOKEN for public repos")
        case (_, "GatedRepo"): return .gated(repo: repo)
        case (_, "RepoNotFound"), (401, _): return .repoNotFound(repo: repo, status: r.status)
        case (_, "RevisionNotFound"): return .revisionNotFound(repo: repo, revision: revision)
        case (_, "EntryNotFound"): return .entryNotFound(repo: repo, path: path ?? "")
        case (404, _): return path.map { .entryNotFound(repo: repo, path: $0) } ?? .repoNotFound(repo: repo, status: 404)
        default: return .http(status: r.status, url: r.url, message: message, requestId: r.headers["X-Request-Id"])
        }
    }

    /// HEAD on the resolve URL without following redirects; relative redirects (renamed repos) are
    /// followed, absolute ones (LFS, CDN) become the download location.
    /// `retry: false` when a cached copy exists: one try, so a hung or unreachable Hub falls back to the
    /// cache quickly (huggingface_hub does the same).
    public func fileMetadata(repo: String, type: RepoType = .model, revision: String = "main", path: String, retry: Bool = true) throws -> FileMetadata {
        var url = resolveURL(repo: repo, type: type, revision: revision, path: path)
        for _ in 0..<10 {
            let req = HTTPRequest(method: "HEAD", url: url, headers: headers(for: url, extra: [("Accept-Encoding", "identity")]), timeout: config.etagTimeout)
            let r = retry ? try http.send(req) : try http.perform(req, sink: .memory(limit: 1 << 20))
            if r.isRedirect, let loc = r.headers["Location"] {
                guard let base = URL(string: url), let target = URL(string: loc, relativeTo: base)?.absoluteString else {
                    throw HubError.invalidServerValue(what: "redirect", value: loc)
                }
                // relative or same-origin redirects (renamed repos) stay on the Hub: follow them, as
                // huggingface_hub does; another origin (CDN, bucket) is the download location
                if HubConfig.origin(of: target) == HubConfig.origin(of: url) { url = target; continue }
                return try metadata(from: r, location: target, path: path, repo: repo, revision: revision)
            }
            guard r.isSuccess else {
                if r.status == 404, r.headers["X-Error-Code"] == "EntryNotFound", let c = r.headers["X-Repo-Commit"], HubClient.isCommitHash(c) {
                    markNoExist(repo: repo, type: type, commit: c, path: path)
                }
                throw errorFor(r, repo: repo, revision: revision, path: path)
            }
            return try metadata(from: r, location: url, path: path, repo: repo, revision: revision)
        }
        throw HubError.invalidServerValue(what: "redirect chain", value: url)
    }

    func metadata(from r: HTTPResponse, location: String, path: String, repo: String, revision: String) throws -> FileMetadata {
        guard let commit = r.headers["X-Repo-Commit"] else { throw HubError.notOnHub(url: r.url) }
        guard HubClient.isCommitHash(commit) else { throw HubError.invalidServerValue(what: "commit hash", value: commit) }
        guard var etag = r.headers["X-Linked-Etag"] ?? r.headers["ETag"] else { throw HubError.notOnHub(url: r.url) }
        if etag.hasPrefix("W/") { etag.removeFirst(2) }
        etag = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        // the etag names the blob file: it must be a plain file name
        guard !etag.isEmpty, etag.count <= 128, etag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw HubError.invalidServerValue(what: "etag", value: etag)
        }
        let sizeText = r.headers["X-Linked-Size"] ?? r.headers["Content-Length"] ?? ""
        guard let size = Int64(sizeText), size >= 0, size <= maxFileSize else { throw HubError.absurdSize(path: path, size: sizeText) }
        try HTTPClient.checkTransportSecurity(location)
        return FileMetadata(commit: commit, etag: etag, location: location, size: size)
    }

    func markNoExist(repo: String, type: RepoType, commit: String, path: String) {
        guard (try? HubClient.validateFilePath(path)) != nil else { return }
        let p = config.repoFolder(repo, type: type) + "/.no_exist/\(commit)/\(path)"
        try? Files.makeDirectories((p as NSString).deletingLastPathComponent)
        _ = FileManager.default.createFile(atPath: p, contents: Data())
    }

    // MARK: cache

    /// The cached file for (repo, revision, path), if present, without any network call.
    public func cachedFile(repo: String, type: RepoType = .model, revision: String = "main", path: String) -> String? {
        guard (try? HubClient.validateFilePath(path)) != nil, let commit = cachedCommit(repo: repo, type: type, revision: revision) else { return nil }
        let p = config.repoFolder(repo, type: type) + "/snapshots/\(commit)/\(path)"
        return Files.exists(p) ? p : nil
    }

    func cachedCommit(repo: String, type: RepoType, revision: String) -> String? {
        if HubClient.isCommitHash(revision) { return revision }
        guard (try? HubClient.validateRevisionName(revision)) != nil,
              let d = FileManager.default.contents(atPath: config.repoFolder(repo, type: type) + "/refs/\(revision)") else { return nil }
        let c = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return HubClient.isCommitHash(c) ? c : nil
    }

    /// The local snapshot folder of a repo if it is cached (what `load_model("org/name")` calls first).
    public func localSnapshot(repo: String, type: RepoType = .model, revision: String = "main") -> String? {
        guard let c = cachedCommit(repo: repo, type: type, revision: revision) else { return nil }
        let p = config.repoFolder(repo, type: type) + "/snapshots/\(c)"
        return Files.isDirectory(p) ? p : nil
    }

    func writeRef(repo: String, type: RepoType, revision: String, commit: String) throws {
        guard revision != commit else { return }
        try HubClient.validateRevisionName(revision)
        let p = config.repoFolder(repo, type: type) + "/refs/\(revision)"
        try Files.makeDirectories((p as NSString).deletingLastPathComponent)
        if let cur = FileManager.default.contents(atPath: p), String(decoding: cur, as: UTF8.self) == commit { return }
        try AtomicFile.write(Data(commit.utf8), to: p, mode: 0o644)
    }

    /// `relpath(blob, dirname(pointer))`, e.g. `../../blobs/<etag>` plus one `../` per subfolder.
    static func relativeBlobLink(path: String, etag: String) -> String {
        let depth = path.split(separator: "/").count - 1
        return String(repeating: "../", count: depth + 2) + "blobs/" + etag
    }

    func linkPointer(repoFolder: String, commit: String, path: String, etag: String) throws -> String {
        let snapshot = repoFolder + "/snapshots/" + commit
        try Files.makeDirectories(snapshot)
        // create sub-folders one by one, refusing any symlink on the way (nothing may escape the cache)
        var dir = snapshot
        for part in path.split(separator: "/").dropLast() {
            dir += "/" + part
            var st = stat()
            if lstat(dir, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else { throw HubError.invalidFilePath(path) }
            } else if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                throw FileError(path: dir, operation: "create directory", errno: errno)
            }
        }
        let pointer = snapshot + "/" + path
        let target = HubClient.relativeBlobLink(path: path, etag: etag)
        var buf = [CChar](repeating: 0, count: 4096)
        if readlink(pointer, &buf, buf.count - 1) >= 0, String(cString: buf) == target { return pointer }
        // symlink under a temporary name, then rename over: two processes linking at once both succeed
        let tmp = pointer + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        guard symlink(target, tmp) == 0 else { throw FileError(path: pointer, operation: "symlink", errno: errno) }
        guard rename(tmp, pointer) == 0 else { let e = errno; unlink(tmp); throw FileError(path: pointer, operation: "rename symlink", errno: e) }
        return pointer
    }

    // MARK: download one file

    /// Downloads one file into the cache and returns its snapshot path (`hf_hub_download`).
    @discardableResult
    public func download(repo: String, type: RepoType = .model, revision: String = "main", path: String) throws -> String {
        try download(repo: repo, type: type, revision: revision, path: path, reporter: progress)
    }

    func download(repo: String, type: RepoType, revision: String, path: String, reporter: ProgressReporter?) throws -> String {
        try HubClient.validateRepoId(repo)
        try HubClient.validateFilePath(path)
        let folder = config.repoFolder(repo, type: type)
        if HubClient.isCommitHash(revision), let p = cachedFile(repo: repo, type: type, revision: revision, path: path) { return p }
        if config.offline {
            if let p = cachedFile(repo: repo, type: type, revision: revision, path: path) { return p }
            throw HubError.offlineNotCached(repo: repo, path: path)
        }
        let meta: FileMetadata
        do {
            let cached = cachedFile(repo: repo, type: type, revision: revision, path: path) != nil
            meta = try fileMetadata(repo: repo, type: type, revision: revision, path: path, retry: !cached)
        } catch let e as HTTPError where e.isRetryable {
            // connection trouble or timeout: serve from the cache as huggingface_hub does
            if let p = cachedFile(repo: repo, type: type, revision: revision, path: path) { return p }
            throw e
        } catch let e as HubError {
            // the Hub is down or refuses us (5xx, 401, a broken answer): the cache still answers, as in
            // huggingface_hub; a revision or file that no longer exists is an error
            switch e {
            case .revisionNotFound, .entryNotFound: throw e
            default:
                if let p = cachedFile(repo: repo, type: type, revision: revision, path: path) { return p }
                throw e
            }
        }
        try writeRef(repo: repo, type: type, revision: revision, commit: meta.commit)
        let blobs = folder + "/blobs"
        try Files.makeDirectories(blobs)
        let blob = blobs + "/" + meta.etag
        if Files.fileSize(blob) == meta.size {
            return try linkPointer(repoFolder: folder, commit: meta.commit, path: path, etag: meta.etag)
        }
        // the lock lives where huggingface_hub puts it, so Finch and Python never write one blob at once
        let lockDir = config.hubCache + "/.locks/" + (folder as NSString).lastPathComponent
        try Files.makeDirectories(lockDir)
        try withFileLock(lockDir + "/\(meta.etag).lock") {
            if Files.fileSize(blob) == meta.size { return }  // another process finished it while we waited
            try fetchBlob(meta: meta, blob: blob, label: path, progress: reporter)
        }
        return try linkPointer(repoFolder: folder, commit: meta.commit, path: path, etag: meta.etag)
    }

    func withFileLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o664)
        guard fd >= 0 else { throw FileError(path: path, operation: "open lock", errno: errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw FileError(path: path, operation: "lock", errno: errno) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    func availableSpace(_ dir: String) -> Int64? {
        var s = statvfs()
        guard statvfs(dir, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    /// GETs the blob into `<blob>.incomplete`, resuming with Range, retrying 5xx and cut transfers with
    /// backoff; verifies the size, and the sha256 (LFS) or git sha1 (regular) against the etag.
    func fetchBlob(meta: FileMetadata, blob: String, label: String, progress: ProgressReporter?) throws {
        let incomplete = blob + ".incomplete"
        var have = Files.fileSize(incomplete) ?? 0
        if have > meta.size { truncate(incomplete, 0); have = 0 }
        if let free = availableSpace((blob as NSString).deletingLastPathComponent), free < meta.size - have {
            throw HubError.insufficientSpace(path: label, needed: meta.size - have, available: free)
        }
        let fd = open(incomplete, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: incomplete, operation: "open", errno: errno) }
        defer { close(fd) }
        // the token only goes to the endpoint's origin (headers(for:)); a CDN location never gets it
        let sendToken = HubConfig.origin(of: meta.location) == config.endpointOrigin
        progress?.begin(label, total: meta.size, already: have)
        var attempt = 0
        while have < meta.size || (meta.size == 0 && attempt == 0) {
            attempt += 1
            var h = sendToken ? headers(for: meta.location) : HTTPHeaders()
            h.set("Accept-Encoding", "identity")
            if have > 0 { h.set("Range", "bytes=\(have)-") }
            var req = HTTPRequest(method: "GET", url: meta.location, headers: h, timeout: 0)
            req.connectTimeout = 10
            let base = have
            let size = meta.size
            let reporter = progress
            let sink = BodySink.file(fd: fd, progress: { n, _ in reporter?.update(base + n) }, truncateIfFull: have > 0, maxBytes: size)
            var retryable = false
            do {
                let r = try http.perform(req, sink: sink)
                if r.status == 416 {
                    // our partial file does not fit the object any more: start over
                    ftruncate(fd, 0); have = 0; retryable = true
                } else if [500, 502, 503, 504, 429].contains(r.status) {
                    retryable = true
                } else if !r.isSuccess {
                    throw HubError.http(status: r.status, url: meta.location.components(separatedBy: "?")[0], message: String(r.text.prefix(200)), requestId: r.headers["X-Request-Id"])
                }
            } catch let e as HTTPError where e.isRetryable {
                retryable = true
            } catch HTTPError.bodyTooLarge {
                ftruncate(fd, 0)
                throw HubError.sizeMismatch(path: label, expected: meta.size, actual: Files.fileSize(incomplete) ?? 0)
            }
            have = Files.fileSize(incomplete) ?? 0
            if have >= meta.size { break }
            if (!retryable || attempt >= http.retry.maxAttempts) && have < meta.size {
                // keep the partial file: the next attempt resumes it with Range
                throw HubError.incompleteDownload(path: label, have: have, expected: meta.size)
            }
            Thread.sleep(forTimeInterval: http.retry.delay(attempt: attempt))
        }
        progress?.finish()
        let actual = Files.fileSize(incomplete) ?? -1
        guard actual == meta.size else {
            unlink(incomplete)
            throw HubError.sizeMismatch(path: label, expected: meta.size, actual: actual)
        }
        let digest: String
        if meta.etag.count == 64 { digest = try Hashing.sha256Hex(file: incomplete) }
        else if meta.etag.count == 40 { digest = Hashing.gitBlobSHA1(try Files.read(incomplete)) }
        else { digest = meta.etag }  // unknown etag form: size check only, as huggingface_hub does
        guard digest == meta.etag else {
            unlink(incomplete)
            throw HubError.hashMismatch(path: label, expected: meta.etag, actual: digest)
        }
        // the partial file is the temporary file of the one atomic writer: synced, then renamed into place
        guard fsync(fd) == 0 else { throw WriteError(path: blob, operation: "sync", errno: errno) }
        try AtomicFile.commit(incomplete, to: blob)
    }
}
