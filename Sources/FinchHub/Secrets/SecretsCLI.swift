// What `finch secrets set|list|rm NAME` (and the REPL's `:secret NAME`) do; the thin CLI calls these.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum SecretsCLI {
    /// Reads a value from `fd`: with echo off and a prompt on stderr when it is a terminal, else one
    /// line (or all of it) from the pipe. A trailing newline is removed.
    public static func readValue(prompt: String, from fd: Int32 = STDIN_FILENO) throws -> String {
        if isatty(fd) == 1 {
            FileHandle.standardError.write(Data(prompt.utf8))
            var old = termios()
            tcgetattr(fd, &old)
            var noEcho = old
            noEcho.c_lflag &= ~tcflag_t(ECHO)
            noEcho.c_lflag |= tcflag_t(ICANON)
            tcsetattr(fd, TCSAFLUSH, &noEcho)
            defer {
                tcsetattr(fd, TCSAFLUSH, &old)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            return readLine(fd: fd)
        }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { if errno == EINTR { continue }; throw FileError(path: "stdin", operation: "read", errno: errno) }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        var s = String(decoding: data, as: UTF8.self)
        while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
        return s
    }

    static func readLine(fd: Int32) -> String {
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(fd, &c, 1) == 1 {
            if c == 10 { break }
            bytes.append(c)
        }
        if bytes.last == 13 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `finch secrets set NAME`: returns the message to print (never the value).
    @discardableResult
    public static func set(name: String, readFrom fd: Int32 = STDIN_FILENO, store: SecretStore = .default()) throws -> String {
        try SecretStore.validate(name: name)
        let value = try readValue(prompt: "Value for \(name) (input hidden): ", from: fd)
        try store.set(name: name, value: value)
        return "Saved secret \(name) in \(store.path)"
    }

    /// `finch secrets list`: names only.
    public static func list(store: SecretStore = .default()) throws -> [String] { try store.names() }

    /// `finch secrets rm NAME`.
    @discardableResult
    public static func remove(name: String, store: SecretStore = .default()) throws -> String {
        try store.remove(name: name) ? "Removed secret \(name)" : "No secret named \(name) in \(store.path)"
    }
}
