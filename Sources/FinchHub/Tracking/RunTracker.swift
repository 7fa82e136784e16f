// `track(project, run, config)`: a run folder `runs/PROJECT/RUN/` holding config.json, metrics.jsonl
// (one line per logged step), TensorBoard event files, and at the end the loss curve as PNG and SVG.
// Everything written passes through the Redactor, so no secret value lands in a run folder.
import Foundation
import FinchSupport

public struct RunArtifacts: Sendable {
    public var directory: String
    public var metrics: String
    public var events: String
    public var png: String?
    public var svg: String?
}

public enum TrackingError: Error, CustomStringConvertible, Equatable {
    case invalidName(String)
    public var description: String {
        switch self { case .invalidName(let n): return "invalid run or project name \"\(n)\": use letters, digits, '-', '_' and '.'" }
    }
}

public final class RunTracker {
    public let project: String
    public let run: String
    public let directory: String
    private let tensorboard: TensorBoardWriter
    private let metricsHandle: FileHandle
    /// Every logged value, in order: step → [(metric, value)].
    public private(set) var history: [(step: Int, values: [(String, Double)])] = []

    static func validate(_ n: String) throws {
        guard !n.isEmpty, n != ".", n != "..", n.count <= 128, n.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw TrackingError.invalidName(n)
        }
    }

    public static func defaultRunName(_ now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: now)
    }

    public init(project: String, run: String? = nil, config: JSON = .object([]), root: String = "runs", now: Date = Date()) throws {
        try RunTracker.validate(project)
        var name = run ?? RunTracker.defaultRunName(now)
        try RunTracker.validate(name)
        var dir = root + "/" + project + "/" + name
        if run == nil {  // two runs started in one second get distinct folders
            var k = 1
            while Files.exists(dir) { k += 1; dir = root + "/" + project + "/" + name + "-\(k)" }
            if k > 1 { name += "-\(k)" }
        }
        self.project = project
        self.run = name
        self.directory = dir
        try Files.makeDirectories(dir)
        // A named run started again (a notebook re-run) replaces that run's logs: appending would make
        // steps go back to 1 in metrics.jsonl and TensorBoard. Leave run= out for a new folder each time.
        if run != nil {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            where f.hasPrefix("events.out.tfevents.") || ["metrics.jsonl", "loss.png", "loss.svg"].contains(f) {
                try? FileManager.default.removeItem(atPath: dir + "/" + f)
            }
        }
        let configText = Redactor.shared.redact(JSON.object([("project", .string(project)), ("run", .string(name)), ("config", config)]).serialized() + "\n")
        try AtomicFile.write(Data(configText.utf8), to: dir + "/config.json", mode: 0o644)
        let metricsPath = dir + "/metrics.jsonl"
        if !Files.exists(metricsPath) { _ = FileManager.default.createFile(atPath: metricsPath, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: metricsPath) else { throw FileError(path: metricsPath, operation: "open", errno: errno) }
        try h.seekToEnd()
        metricsHandle = h
        tensorboard = try TensorBoardWriter(directory: dir, now: now)
    }

    deinit { try? metricsHandle.close() }

    /// Logs one step's metrics (loss, lr, grad_norm, tokens_per_s, eval_loss, …).
    public func log(step: Int, _ metrics: [(String, Double)], wallTime: Date = Date()) throws {
        history.append((step, metrics))
        var obj: [(String, JSON)] = [("step", .int(step)), ("wall_time", .double(wallTime.timeIntervalSince1970))]
        for (k, v) in metrics { obj.append((k, v.isFinite ? .double(v) : .null)) }
        let line = Redactor.shared.redact(JSON.object(obj).serialized()) + "\n"
        try metricsHandle.write(contentsOf: Data(line.utf8))
        try tensorboard.scalars(metrics, step: step, wallTime: wallTime)
    }

    public func series(_ name: String) -> Series {
        Series(name: name, points: history.compactMap { h in h.values.first(where: { $0.0 == name }).map { (Double(h.step), $0.1) } })
    }

    /// Loss-like series present in the history: loss first, then eval_loss.
    public var curveSeries: [Series] {
        ["loss", "eval_loss"].map(series).filter { !$0.points.isEmpty }
    }

    /// Writes loss.png and loss.svg (when there is a loss) and returns the run's files.
    @discardableResult
    public func finish() throws -> RunArtifacts {
        try metricsHandle.synchronize()
        var art = RunArtifacts(directory: directory, metrics: directory + "/metrics.jsonl", events: tensorboard.path)
        let s = curveSeries
        if !s.isEmpty {
            art.png = directory + "/loss.png"
            art.svg = directory + "/loss.svg"
            try AtomicFile.write(Chart.png(s), to: art.png!, mode: 0o644)
            try AtomicFile.write(Data(Chart.svg(s, title: "\(project) / \(run)").utf8), to: art.svg!, mode: 0o644)
        }
        return art
    }
}
