import Foundation
import FinchSupport
import FinchLang

/// `nb.out.md`: every cell's source and output in Markdown. Deterministic apart from the timing lines.
public enum Transcript {
    public static func render(notebook: Notebook, outcomes: [CellOutcome], redact: (String) -> String) -> String {
        let name = URL(fileURLWithPath: notebook.path).lastPathComponent
        var out = "# \(name) — transcript\n\nWritten by `finch run \(name)`. Cell outputs follow each cell's source.\n"
        for o in outcomes {
            out += "\n"
            if o.status == .markdown {
                out += redact(o.cell.source)
                if !o.cell.source.hasSuffix("\n") { out += "\n" }
                continue
            }
            out += "## \(o.cell.name.map { "`\($0)`" } ?? "cell \(o.cell.index)") (line \(max(o.cell.markerLine, 1)))\n\n"
            out += fence(redact(o.cell.source), "python")
            switch o.status {
            case .skipped:
                out += "\n_not run_\n"
                continue
            default: break
            }
            if !o.output.isEmpty { out += "\n" + fence(o.output, "text") }
            for img in o.images { out += "\n![\(img)](\(img))\n" }
            if let e = o.error { out += "\n" + fence(e, "text") }
            out += "\n_\(o.status == .ok ? "ran" : o.status == .interrupted ? "interrupted" : "failed") in \(formatDuration(o.seconds))_\n"
        }
        return out
    }

    /// A fenced block long enough that backticks inside cannot close it.
    static func fence(_ text: String, _ lang: String) -> String {
        var longest = 0, run = 0
        for c in text { if c == "`" { run += 1; longest = max(longest, run) } else { run = 0 } }
        let f = String(repeating: "`", count: max(3, longest + 1))
        return "\(f)\(lang)\n\(text)\(text.hasSuffix("\n") || text.isEmpty ? "" : "\n")\(f)\n"
    }
}
