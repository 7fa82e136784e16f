import CEdit
import Foundation
import FinchLang

/// The terminal line reader: libedit with emacs keys, persistent history in the XDG state directory and
/// tab completion. Ctrl-C clears the line: our own read function returns an error when SIGINT arrived.
public final class EditLineReader: LineReader {
    let editLine: OpaquePointer
    let history: OpaquePointer
    let historyPath: String?
    let redact: (String) -> String
    nonisolated(unsafe) static var current: EditLineReader?
    nonisolated(unsafe) static var promptBuffer: UnsafeMutablePointer<CChar> = strdup("")
    let completer: Completer

    public init(completer: Completer, redact: @escaping (String) -> String, historyPath: String? = EditLineReader.historyFile()) {
        self.completer = completer
        self.redact = redact
        editLine = el_init("finch", stdin, stdout, stderr)
        history = history_init()
        self.historyPath = historyPath
        finch_history_set_size(history, 2000)
        finch_history_set_unique(history, 1)
        if let p = historyPath { finch_history_load(history, p) }
        finch_el_set_editor(editLine, "emacs")
        finch_el_set_signal(editLine, 0)
        finch_el_set_history(editLine, history)
        finch_el_set_prompt(editLine) { _ in EditLineReader.promptBuffer }
        finch_el_set_getc(editLine) { _, out in EditLineReader.readCharacter(out) }
        finch_el_add_function(editLine, "finch-complete", "Complete names, keywords and paths") { e, _ in
            EditLineReader.current?.completeAtCursor(e) ?? FINCH_CC_ERROR
        }
        finch_el_bind(editLine, "^I", "finch-complete")
        EditLineReader.current = self
    }

    deinit {
        el_end(editLine)
        history_end(history)
    }

    /// `$XDG_STATE_HOME/finch/history`, default `~/.local/state/finch/history`.
    public static func historyFile() -> String? {
        let env = ProcessInfo.processInfo.environment
        let base: String
        if let x = env["XDG_STATE_HOME"], !x.isEmpty { base = x }
        else if let home = env["HOME"], !home.isEmpty { base = home + "/.local/state" }
        else { return nil }
        let dir = base + "/finch"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return dir + "/history"
    }

    public func readLine(prompt: String) -> LineResult {
        free(EditLineReader.promptBuffer)
        EditLineReader.promptBuffer = strdup(prompt)
        var count: Int32 = 0
        guard let raw = el_gets(editLine, &count) else {
            if Interrupt.isRequested || count < 0 { Interrupt.clear(); return .interrupted }
            return .end
        }
        var line = String(cString: raw)
        if line.hasSuffix("\n") { line.removeLast() }
        return .line(line)
    }

    public func remember(_ line: String) {
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return }
        // History never holds secret values.
        finch_history_enter(history, redact(line))
        if let p = historyPath { finch_history_save(history, p) }
    }

    /// One character for libedit: UTF-8 decoded from a raw read; -1 on Ctrl-C so el_gets returns.
    static func readCharacter(_ out: UnsafeMutablePointer<wchar_t>?) -> Int32 {
        var bytes: [UInt8] = []
        var need = 1
        while bytes.count < need {
            var b: UInt8 = 0
            let n = read(0, &b, 1)
            if n == 0 { return 0 }
            if n < 0 {
                if errno == EINTR {
                    if Interrupt.isRequested { return -1 }
                    continue
                }
                return -1
            }
            if bytes.isEmpty {
                need = b < 0x80 ? 1 : b & 0xE0 == 0xC0 ? 2 : b & 0xF0 == 0xE0 ? 3 : b & 0xF8 == 0xF0 ? 4 : 1
            }
            bytes.append(b)
        }
        var decoder = UTF8()
        var it = bytes.makeIterator()
        if case .scalarValue(let s) = decoder.decode(&it) { out?.pointee = wchar_t(s.value) } else { out?.pointee = 0xFFFD }
        return 1
    }

    func completeAtCursor(_ e: OpaquePointer?) -> UInt8 {
        guard let e, let info = el_line(e) else { return FINCH_CC_ERROR }
        let start = info.pointee.buffer!, cursor = info.pointee.cursor!
        let length = cursor - start
        let before = String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(start).assumingMemoryBound(to: UInt8.self), count: length), as: UTF8.self)
        let (word, candidates) = completer.complete(before)
        guard !candidates.isEmpty else { return FINCH_CC_ERROR }
        let prefix = commonPrefix(candidates)
        if prefix.count > word.count {
            let addition = String(prefix.dropFirst(word.count))
            el_insertstr(e, addition)
            return FINCH_CC_REFRESH
        }
        if candidates.count > 1 {
            var list = "\n"
            for c in candidates.prefix(60) { list += c + "  " }
            if candidates.count > 60 { list += "… (\(candidates.count) in all)" }
            fputs(list + "\n", stdout)
            fflush(stdout)
            return FINCH_CC_REDISPLAY
        }
        return FINCH_CC_REFRESH
    }
}
