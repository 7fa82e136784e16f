// Repo listing and snapshot download (`snapshot_download`): repo info at the requested revision gives
// the commit and the files; each file is fetched at that commit; refs/<revision> records it.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct RepoInfo: Sendable {
    public var id: String
    public var sha: String
    public var files: [RepoFileEntry]
    public var isPrivate: Bool
}

public struct RepoFileEntry: Sendable, Equatable {
    public var path: String
    public var size: Int64?
    public var lfsSHA256: String?
}

/// Which files of a repo to fetch.
public enum FileSelection: Sendable {
    case all
    /// Shell-style globs (`*.json`, `tokenizer*`); `*` does not cross `/`, `**` does.
    case patterns([String])
    /// What a model needs: config, generation config, tokenizer files, safetensors weights and their
    /// index. `.bin`/`.pt` weights only when the repo has no safetensors.
    case modelWeights
    /// One named file (a GGUF repo) plus nothing else.
    case file(String)

    public func select(_ files: [String]) -> [String] {
        switch self {
        case .all: return files
        case .file(let f): return files.filter { $0 == f }
        case .patterns(let ps): return files.filter { f in ps.contains { FileSelection.glob($0, f) } }
        case .modelWeights:
            let hasSafetensors = files.contains { $0.hasSuffix(".safetensors") }
            return files.filter { f in
                let name = (f as NSString).lastPathComponent
                if f.contains("/") && !hasSafetensors { return false }
                if f.contains("/") { return false }  // sub-folders hold other formats (onnx/, original/)
                if name.hasSuffix(".safetensors") || name == "model.safetensors.index.json" { return true }
                if ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "added_tokens.json", "tokenizer.model", "vocab.json", "merges.txt", "vocab.txt", "chat_template.jinja",
                    "chat_template.json", "preprocessor_config.json"].contains(name) { return true }
                if name.hasSuffix(".tiktoken") { return true }
                if !hasSafetensors {
                    if name.hasPrefix("pytorch_model") && (name.hasSuffix(".bin") || name.hasSuffix(".bin.index.json")) { return true }
                }
                return false
            }
        }
    }

    static func glob(_ pattern: String, _ s: String) -> Bool { Glob.match(pattern, s) }
}

extension HubClient {
    /// `GET /api/{type}s/{repo}[/revision/{rev}]`.
    public func repoInfo(repo: String, type: RepoType = .model, revision: String? = nil) throws -> RepoInfo {
        try HubClient.validateRepoId(repo)
        if config.offline { throw HubError.offlineNotCached(repo: repo, path: nil) }
        var url = "\(config.endpoint)/api/\(type.apiSegment)/\(repo)"
        if let revision { url += "/revision/\(HubClient.encodeRevision(revision))" }
        let r = try http.send(HTTPRequest(url: url, headers: headers(for: url), timeout: 30))
        guard r.isSuccess else { throw errorFor(r, repo: repo, revision: revision ?? "main", path: nil) }
        let j = try r.json()
        guard let sha = j["sha"]?.stringValue, HubClient.isCommitHash(sha) else {
            throw HubError.invalidServerValue(what: "repo sha", value: j["sha"]?.description ?? "missing")
        }
        var files: [RepoFileEntry] = []
        for s in j["siblings"]?.arrayValue ?? [] {
            guard let name = s["rfilename"]?.stringValue else { continue }
            try HubClient.validateFilePath(name)  // a malicious listing is refused as a whole
            files.append(RepoFileEntry(path: name, size: s["size"]?.intValue.map(Int64.init), lfsSHA256: s["lfs"]?["sha256"]?.stringValue))
        }
        return RepoInfo(id: j["id"]?.stringValue ?? repo, sha: sha, files: files, isPrivate: j["private"]?.boolValue ?? false)
    }

    /// Downloads the selected files of a repo at one commit; returns the snapshot folder.
    @discardableResult
    public func snapshot(repo: String, type: RepoType = .model, revision: String = "main", select: FileSelection = .all,
                         maxWorkers: Int = 4) throws -> String {
        try HubClient.validateRepoId(repo)
        if config.offline {
            if let p = localSnapshot(repo: repo, type: type, revision: revision) { return p }
            throw HubError.offlineNotCached(repo: repo, path: nil)
        }
        let info: RepoInfo
        do {
            info = try repoInfo(repo: repo, type: type, revision: revision)
        } catch let e as HTTPError where e.isRetryable {
            if let p = localSnapshot(repo: repo, type: type, revision: revision) { return p }
            throw e
        }
        return try snapshot(info, repo: repo, type: type, revision: revision, select: select, maxWorkers: maxWorkers)
    }

    func snapshot(_ info: RepoInfo, repo: String, type: RepoType = .model, revision: String, select: FileSelection, maxWorkers: Int = 4) throws -> String {
        let wanted = select.select(info.files.map(\.path))
        if case .file(let f) = select, wanted.isEmpty { throw HubError.entryNotFound(repo: repo, path: f) }
        let folder = config.repoFolder(repo, type: type) + "/snapshots/\(info.sha)"
        do {
            try downloadAll(repo: repo, type: type, commit: info.sha, files: wanted, sizes: info.files, workers: maxWorkers)
        } catch {
            // never leave an empty snapshot behind: the next load would take it for a cached model
            HubClient.removeEmptyFolders(folder)
            throw error
        }
        try writeRef(repo: repo, type: type, revision: revision, commit: info.sha)
        try Files.makeDirectories(folder)
        return folder
    }

    /// Removes `dir` and the folders below it that are empty (rmdir refuses any that are not).
    static func removeEmptyFolders(_ dir: String) {
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] { removeEmptyFolders(dir + "/" + name) }
        rmdir(dir)
    }

    /// Downloads `files` at `commit` with up to `workers` at once (sharded checkpoints), under one
    /// progress bar summing all files; the first error is thrown once every worker has stopped.
    func downloadAll(repo: String, type: RepoType, commit: String, files: [String], sizes: [RepoFileEntry], workers: Int) throws {
        if files.count <= 1 || workers <= 1 {
            for f in files { _ = try download(repo: repo, type: type, revision: commit, path: f, reporter: progress) }
            return
        }
        let total = files.reduce(Int64(0)) { acc, f in acc + (sizes.first { $0.path == f }?.size ?? 0) }
        let aggregate = progress.map { AggregateProgress(inner: $0, label: "\(repo) (\(files.count) files)", total: total > 0 ? total : nil) }
        let queue = WorkQueue(files)
        let group = DispatchGroup()
        for _ in 0..<min(workers, files.count) {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                while let f = queue.next() {
                    do {
                        _ = try download(repo: repo, type: type, revision: commit, path: f, reporter: aggregate?.forFile())
                    } catch {
                        queue.fail(error)
                    }
                }
            }
        }
        group.wait()
        aggregate?.finish()
        if let error = queue.firstError { throw error }
    }

    /// The files still to fetch, shared by the download threads: each takes the next until one fails.
    private final class WorkQueue: @unchecked Sendable {
        private let lock = NSLock()
        private let items: [String]
        private var index = 0
        private var error: Error?

        init(_ items: [String]) { self.items = items }

        func next() -> String? {
            lock.lock(); defer { lock.unlock() }
            guard error == nil, index < items.count else { return nil }
            index += 1
            return items[index - 1]
        }

        func fail(_ e: Error) {
            lock.lock(); defer { lock.unlock() }
            if error == nil { error = e }
        }

        var firstError: Error? {
            lock.lock(); defer { lock.unlock() }
            return error
        }
    }

    /// The resolver behind `load_model("org/name", file=)`: a Hugging Face checkpoint (config, tokenizer,
    /// safetensors) gives its snapshot folder; a GGUF repo gives the path of one .gguf file, chosen as
    /// llama.cpp's `-hf` and `Llama.from_pretrained(repo_id, filename=)` do: `file` is a glob
    /// ("*Q4_K_M.gguf"), a repo with a single .gguf needs none, and several are an error listing them.
    /// Offline (or with the Hub unreachable) the choice is made among the cached files.
    public func resolveModel(repo: String, revision: String = "main", file: String? = nil) throws -> String {
        try withRepoLabel(repo) {
            switch try onlineOrCached(repo: repo, revision: revision, wanted: file) {
            case .cached(let snap):
                if let gguf = try HubClient.chooseGGUF(Files.listFiles(snap), pattern: file, repo: repo) { return snap + "/" + gguf }
                return snap
            case .online(let info):
                if let gguf = try HubClient.chooseGGUF(info.files.map(\.path), pattern: file, repo: repo) {
                    return try snapshot(info, repo: repo, revision: revision, select: .file(gguf)) + "/" + gguf
                }
                return try snapshot(info, repo: repo, revision: revision, select: .modelWeights)
            }
        }
    }

    /// The local folder of a PEFT adapter repo (`adapter_config.json` + `adapter_model.safetensors`),
    /// downloaded into the Hub cache when online; offline, the cached snapshot.
    public func resolveAdapter(repo: String, revision: String = "main") throws -> String {
        try withRepoLabel(repo) {
            switch try onlineOrCached(repo: repo, revision: revision, wanted: "adapter_config.json") {
            case .cached(let snap): return snap
            case .online(let info):
                let names = info.files.map(\.path)
                for needed in HubClient.adapterFiles where !names.contains(needed) {
                    throw HubError.notAnAdapter(repo: repo, missing: needed, files: names.sorted())
                }
                return try snapshot(info, repo: repo, revision: revision, select: .patterns(HubClient.adapterFiles))
            }
        }
    }

    enum RepoSource { case online(RepoInfo), cached(String) }

    /// The repo's file list from the Hub; offline, or with the Hub unreachable and the repo cached,
    /// the cached snapshot's folder. `wanted` names what was asked for in the offline error.
    func onlineOrCached(repo: String, revision: String, wanted: String?) throws -> RepoSource {
        try HubClient.validateRepoId(repo)
        if !config.offline {
            do { return .online(try repoInfo(repo: repo, revision: revision)) } catch let e as HTTPError where e.isRetryable {
                if localSnapshot(repo: repo, revision: revision) == nil { throw e }
            }
        }
        guard let snap = localSnapshot(repo: repo, revision: revision) else {
            throw HubError.offlineNotCached(repo: repo, path: wanted)
        }
        return .cached(snap)
    }

    /// Download progress lines name the repo while `body` runs.
    func withRepoLabel<T>(_ repo: String, _ body: () throws -> T) rethrows -> T {
        let plain = progress
        progress = plain.map { RepoLabelledProgress($0, repo: repo) }
        defer { progress = plain }
        return try body()
    }

    /// What `load_adapter` needs of an adapter repo (PEFT's names); nothing else is downloaded.
    public static let adapterFiles = ["adapter_config.json", "adapter_model.safetensors"]

    /// The .gguf file of `files` that `pattern` picks; nil for a Hugging Face checkpoint (config.json)
    /// when no pattern is given.
    static func chooseGGUF(_ files: [String], pattern: String?, repo: String) throws -> String? {
        let ggufs = files.filter { $0.lowercased().hasSuffix(".gguf") }.sorted()
        guard let pattern else {
            if files.contains("config.json") { return nil }
            if ggufs.count == 1 { return ggufs[0] }
            if ggufs.isEmpty { throw ModelRepoError.notAModel(repo: repo, files: files.sorted()) }
            throw ModelRepoError.severalGGUF(repo: repo, pattern: nil, matches: ggufs)
        }
        // like fnmatch in Llama.from_pretrained: the pattern may name the file alone or its path in the repo
        let matches = ggufs.filter { Glob.match(pattern, $0) || Glob.match(pattern, ($0 as NSString).lastPathComponent) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw ModelRepoError.noMatch(repo: repo, pattern: pattern, ggufs: ggufs) }
        throw ModelRepoError.severalGGUF(repo: repo, pattern: pattern, matches: matches)
    }
}

/// Why `load_model("org/name", file=)` could not pick a file.
public enum ModelRepoError: Error, Equatable, CustomStringConvertible {
    case notAModel(repo: String, files: [String])
    case severalGGUF(repo: String, pattern: String?, matches: [String])
    case noMatch(repo: String, pattern: String, ggufs: [String])

    static func list(_ names: [String]) -> String { names.prefix(30).map { "\n  " + $0 }.joined() + (names.count > 30 ? "\n  … and \(names.count - 30) more" : "") }

    public var description: String {
        switch self {
        case let .notAModel(repo, files):
            return "\(repo) has neither config.json (a Hugging Face checkpoint) nor a .gguf file, so Finch cannot load it as a model; its files:" + ModelRepoError.list(files)
        case let .severalGGUF(repo, nil, matches):
            return "\(repo) holds \(matches.count) GGUF files; choose one with file=, e.g. load_model(\"\(repo)\", file=\"*Q4_K_M.gguf\"):" + ModelRepoError.list(matches)
        case let .severalGGUF(repo, pattern?, matches):
            return "file=\"\(pattern)\" matches \(matches.count) GGUF files of \(repo); make it match one:" + ModelRepoError.list(matches)
        case let .noMatch(repo, pattern, ggufs):
            return ggufs.isEmpty ? "file=\"\(pattern)\" picks a .gguf file, and \(repo) has none (load it without file= if it is a Hugging Face checkpoint)"
                : "file=\"\(pattern)\" matches none of the GGUF files of \(repo):" + ModelRepoError.list(ggufs)
        }
    }
}

/// One bar for many concurrent file downloads: per-file reporters add their bytes to a shared total.
final class AggregateProgress: @unchecked Sendable {
    private let inner: ProgressReporter
    private let lock = NSLock()
    private var done: Int64 = 0
    private var started = false
    private let label: String
    private let total: Int64?

    init(inner: ProgressReporter, label: String, total: Int64?) { self.inner = inner; self.label = label; self.total = total }

    func add(_ delta: Int64) {
        lock.lock(); defer { lock.unlock() }
        if !started { started = true; inner.begin(label, total: total, already: 0) }
        done += delta
        inner.update(done)
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if started { inner.finish() }
    }

    func forFile() -> ProgressReporter { FileShare(self) }

    final class FileShare: ProgressReporter {
        let parent: AggregateProgress
        var last: Int64 = 0
        init(_ p: AggregateProgress) { parent = p }
        func begin(_ label: String, total: Int64?, already: Int64) { last = already; parent.add(already) }
        func update(_ done: Int64) { parent.add(done - last); last = done }
        func finish() {}
    }
}
