// `load_dataset(source, name, split)`: local files and folders, or a Hub dataset repo whose data files
// are found as the `datasets` library finds them for JSON/JSONL/CSV repos: the `configs:` block of the
// README's front matter when present, else split names in file and folder names, else all files = train.
import FinchSupport
import Foundation

public struct DatasetLoader {
    public let hub: HubClient?

    public init(hub: HubClient? = nil) { self.hub = hub }

    /// Loads `source` (a path, or a Hub dataset id), config `name`, and `split` (with slicing).
    public func load(source: String, name: String? = nil, split: String = "train") throws -> DataTable {
        let specs = try SplitSpec.parse(split)
        let files: [String: [String]]   // split → local files
        let label: String
        if Files.exists(source) {
            files = try localSplits(source, name: name)
            label = source
        } else if DatasetLoader.looksLikePath(source) {
            // "missing.json", "./data", "~/x.csv": a file the user meant, never a Hub id to go looking for
            throw DatasetError.fileNotFound(path: source, directory: FileManager.default.currentDirectoryPath)
        } else if (try? HubClient.validateRepoId(source)) != nil, let hub {
            files = try hubSplits(hub: hub, repo: source, name: name)
            label = source
        } else {
            throw DatasetError.notFound(source)
        }
        var out = DataTable(columns: [], values: [])
        for spec in specs {
            guard let paths = files[spec.name] else { throw DatasetError.splitNotFound(split: spec.name, available: files.keys.sorted()) }
            var d = DataTable(columns: [], values: [])
            for p in paths {
                let part = try DataFiles.load(path: p)
                guard d.count == 0 || part.count == 0 || part.columns == d.columns else {
                    throw DatasetError.schemaMismatch(expected: d.columns, found: part.columns, source: "\(label): \((p as NSString).lastPathComponent)")
                }
                d = DataTable(columns: d.count == 0 ? part.columns : d.columns, values: d.values + part.values)
            }
            out = try out.appending(d.slice(spec.range(count: d.count)))
        }
        return out
    }

    /// A path rather than a Hub id: starts with `/`, `./`, `../` or `~`, ends in a data file extension,
    /// or has more than one `/` (Hub ids are `name` or `org/name`).
    static func looksLikePath(_ source: String) -> Bool {
        source.hasPrefix("/") || source.hasPrefix("./") || source.hasPrefix("../") || source.hasPrefix("~")
            || ["json", "jsonl", "csv", "tsv", "txt", "parquet", "arrow"].contains((source as NSString).pathExtension.lowercased())
            || source.filter { $0 == "/" }.count > 1
    }

    func localSplits(_ source: String, name: String?) throws -> [String: [String]] {
        if !Files.isDirectory(source) {
            guard DataFileResolution.isDataFile(source) else { throw DatasetError.unsupportedFormat(path: source) }
            return ["train": [source]]
        }
        var rel: [String] = []
        let e = FileManager.default.enumerator(atPath: source)
        while let p = e?.nextObject() as? String {
            if p.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            if !Files.isDirectory(source + "/" + p) { rel.append(p) }
        }
        // a folder with a dataset card is read like a Hub repo: its `configs:` block decides
        if let card = FileManager.default.contents(atPath: source + "/README.md"),
           let byConfig = try DataFileResolution.configDataFiles(readme: String(decoding: card, as: UTF8.self), name: name, files: rel.sorted()) {
            return byConfig.mapValues { $0.map { source + "/" + $0 } }
        }
        if let name { throw DatasetError.configNotFound(name: name, available: ["default"]) }
        let data = rel.filter(DataFileResolution.isDataFile)
        guard !data.isEmpty else { throw DatasetError.noDataFiles(source: source) }
        return DataFileResolution.inferSplits(data.sorted()).mapValues { $0.map { source + "/" + $0 } }
    }

    /// Resolves a Hub dataset's data files for config `name`, downloading them into the cache.
    func hubSplits(hub: HubClient, repo: String, name: String?) throws -> [String: [String]] {
        // progress lines name the repo ("Downloading org/data/train.json"), not only the file
        let plain = hub.progress
        hub.progress = plain.map { RepoLabelledProgress($0, repo: repo) }
        defer { hub.progress = plain }
        let info: RepoInfo
        let revision: String
        if hub.config.offline {
            guard let snap = hub.localSnapshot(repo: repo, type: .dataset) else { throw HubError.offlineNotCached(repo: repo, path: nil) }
            revision = (snap as NSString).lastPathComponent
            var files: [RepoFileEntry] = []
            let e = FileManager.default.enumerator(atPath: snap)
            while let p = e?.nextObject() as? String { if !Files.isDirectory(snap + "/" + p) { files.append(RepoFileEntry(path: p)) } }
            info = RepoInfo(id: repo, sha: revision, files: files, isPrivate: false)
        } else {
            info = try hub.repoInfo(repo: repo, type: .dataset)
            revision = info.sha
            try hub.writeRef(repo: repo, type: .dataset, revision: "main", commit: info.sha)
        }
        let all = info.files.map(\.path)
        var byConfig: [String: [String]]? = nil
        if all.contains("README.md") {
            let readme = try hub.download(repo: repo, type: .dataset, revision: revision, path: "README.md")
            let text = String(decoding: try Files.read(readme), as: UTF8.self)
            byConfig = try DataFileResolution.configDataFiles(readme: text, name: name, files: all)
        }
        let chosen: [String: [String]]
        if let byConfig {
            chosen = byConfig
        } else if let name {
            throw DatasetError.configNotFound(name: name, available: ["default"])
        } else {
            let data = all.filter(DataFileResolution.isDataFile)
            guard !data.isEmpty else { throw DatasetError.noDataFiles(source: repo) }
            chosen = DataFileResolution.inferSplits(data)
        }
        var local: [String: [String]] = [:]
        for (split, paths) in chosen {
            for p in paths {
                guard DataFileResolution.isDataFile(p) else { throw DatasetError.unsupportedFormat(path: p) }
                local[split, default: []].append(try hub.download(repo: repo, type: .dataset, revision: revision, path: p))
            }
        }
        return local
    }

}
