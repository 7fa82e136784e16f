// Which files make up which split: split specs with slicing, split names inferred from file names,
// and the `configs:` block of a dataset card. Pure functions over names (no I/O), so they are fuzzed.
#if canImport(FinchSupport)
import FinchSupport
#endif
import Foundation

public struct SplitSpec: Equatable, Sendable {
    public enum Bound: Equatable, Sendable { case absolute(Int), percent(Double) }
    public var name: String
    public var from: Bound?
    public var to: Bound?

    /// Parses `train`, `train[:500]`, `train[10%:]`, `train[-100:]`, `test[10:20]`, `train[:25%]`.
    public static func parse(_ s: String) throws -> [SplitSpec] {
        try s.split(separator: "+").map { part in
            let p = part.trimmingCharacters(in: .whitespaces)
            guard let open = p.firstIndex(of: "[") else {
                guard !p.isEmpty, p.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else { throw DatasetError.invalidSplit(s) }
                return SplitSpec(name: p, from: nil, to: nil)
            }
            guard p.hasSuffix("]") else { throw DatasetError.invalidSplit(s) }
            let name = String(p[..<open])
            let inner = p[p.index(after: open)..<p.index(before: p.endIndex)]
            let bounds = inner.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard !name.isEmpty, bounds.count == 2 else { throw DatasetError.invalidSplit(s) }
            func bound(_ t: Substring) throws -> Bound? {
                let t = t.trimmingCharacters(in: .whitespaces)
                if t.isEmpty { return nil }
                if t.hasSuffix("%") {
                    guard let v = Double(t.dropLast()), v >= -100, v <= 100 else { throw DatasetError.invalidSplit(s) }
                    return .percent(v)
                }
                guard let v = Int(t) else { throw DatasetError.invalidSplit(s) }
                return .absolute(v)
            }
            return SplitSpec(name: name, from: try bound(bounds[0]), to: try bound(bounds[1]))
        }
    }

    /// The row range for a split of `n` rows, Python-slice style; percents round to nearest (half to
    /// even) as `datasets`' default "closest" rounding does.
    public func range(count n: Int) -> Range<Int> {
        func resolve(_ b: Bound?, _ dflt: Int) -> Int {
            guard let b else { return dflt }
            var v: Int
            switch b {
            case .absolute(let a): v = a
            case .percent(let p): v = Int((p * Double(n) / 100).rounded(.toNearestOrEven))
            }
            if v < 0 { v += n }
            return max(0, min(n, v))
        }
        let lo = resolve(from, 0), hi = resolve(to, n)
        return lo..<max(lo, hi)
    }
}

enum DataFileResolution {
    static func isDataFile(_ p: String) -> Bool { DataFiles.extensions.contains((p as NSString).pathExtension.lowercased()) }

    static let splitKeywords: [(String, [String])] = [
        ("train", ["train", "training"]),
        ("validation", ["validation", "valid", "dev", "val"]),
        ("test", ["test", "testing", "eval", "evaluation"]),
    ]

    /// Split names from file or folder names (`train.json`, `data/test-0000.csv`, `valid/x.jsonl`);
    /// with no such names every file is `train`.
    static func inferSplits(_ files: [String]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for f in files {
            let words = f.lowercased().split(whereSeparator: { "/-._ 0123456789".contains($0) }).map(String.init)
            let dirWords = f.lowercased().split(separator: "/").dropLast().map(String.init)
            for (split, keys) in splitKeywords where keys.contains(where: { words.contains($0) || dirWords.contains($0) }) {
                out[split, default: []].append(f)
                break
            }
        }
        if out.isEmpty { return ["train": files] }
        return out
    }

    /// Reads the `configs:` block; returns split → files for config `name` (or the default/only one),
    /// nil when the card declares no configs.
    static func configDataFiles(readme: String, name: String?, files: [String]) throws -> [String: [String]]? {
        guard let fm = MiniYAML.frontMatter(readme), let configs = MiniYAML.parse(fm)["configs"]?.arrayValue, !configs.isEmpty else { return nil }
        let names = configs.compactMap { $0["config_name"]?.stringValue ?? "default" }
        let config: JSON
        if let name {
            guard let c = configs.first(where: { ($0["config_name"]?.stringValue ?? "default") == name }) else {
                throw DatasetError.configNotFound(name: name, available: names)
            }
            config = c
        } else if let c = configs.first(where: { $0["default"]?.boolValue == true }) ?? (configs.count == 1 ? configs[0] : configs.first(where: { $0["config_name"]?.stringValue == "default" })) {
            config = c
        } else {
            throw DatasetError.configRequired(available: names)
        }
        var patterns: [String: [String]] = [:]
        switch config["data_files"] {
        case .string(let s)?: patterns["train"] = [s]
        case .array(let items)?:
            for item in items {
                if let s = item.stringValue { patterns["train", default: []].append(s); continue }
                guard let split = item["split"]?.stringValue else { continue }
                if let p = item["path"]?.stringValue { patterns[split, default: []].append(p) }
                for p in item["path"]?.arrayValue ?? [] { if let s = p.stringValue { patterns[split, default: []].append(s) } }
            }
        case .object(let pairs)?:
            for (split, v) in pairs { patterns[split] = v.stringValue.map { [$0] } ?? v.arrayValue?.compactMap(\.stringValue) ?? [] }
        default:
            return nil
        }
        var out: [String: [String]] = [:]
        for (split, ps) in patterns {
            let matched = files.filter { f in ps.contains { Glob.match($0, f) || Glob.match($0 + "/**", f) } }
            guard !matched.isEmpty else {
                throw DatasetError.parse(source: "README.md configs", detail: "data_files \(ps) of split \(split) match no file in the repo")
            }
            out[split] = matched.sorted()
        }
        return out
    }
}
