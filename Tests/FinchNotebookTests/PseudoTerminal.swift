import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Drives a program through a pseudo-terminal, as a person at a keyboard would.
final class PseudoTerminal {
    let master: Int32
    var pid: pid_t = 0
    private(set) var transcript = ""
    /// How much of the transcript (UTF-8 bytes) `read(until:)` has returned.
    private var returned = 0

    init(_ path: String, arguments: [String] = [], environment: [String: String]) throws {
        // posix_openpt/unlockpt/ptsname are hidden from Swift's Glibc module; these are their Linux ioctls.
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0, number: UInt32 = 0
        guard master >= 0, ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
            throw PTYError("cannot open a pseudo-terminal")
        }
        let slavePath = "/dev/pts/\(number)"
        var size = winsize(ws_row: 30, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child starts a new session (setsid) before these run, so opening the terminal makes it
        // the controlling terminal and Ctrl-C (byte 3) becomes SIGINT.
        posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        posix_spawn_file_actions_addclose(&actions, master)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(0x80 /* POSIX_SPAWN_SETSID */ | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw PTYError("posix_spawn \(path) failed: \(rc)") }
    }

    /// Types `text` once the line editor is reading keys. libedit prints the prompt and switches the
    /// terminal to raw mode around the same moment; a control key sent while the terminal is still in
    /// line mode would be taken by the line discipline (Ctrl-D as end of file, Ctrl-C as SIGINT), so
    /// this waits for the mode itself (the slave's termios, read through the master), not a fixed time.
    func send(_ text: String, timeout: Double = 60) {
        let deadline = Date().addingTimeInterval(timeout)
        while !lineEditorIsReading {
            guard Date() < deadline, pump(milliseconds: 10) else {
                Issue.record("the line editor never took the terminal; its output ended with: \(transcript.suffix(300).debugDescription)")
                break
            }
        }
        type(text)
    }

    /// Types `text` at once, whatever the terminal's mode: Ctrl-C for a program that is running code.
    func type(_ text: String) {
        var bytes = Array(text.utf8)
        _ = write(master, &bytes, bytes.count)
    }

    /// Whether the terminal is in raw mode (ICANON off), as libedit sets it while reading a line. On Linux
    /// tcgetattr on the master reports the slave's settings.
    var lineEditorIsReading: Bool {
        var t = termios()
        return tcgetattr(master, &t) == 0 && t.c_lflag & tcflag_t(ICANON) == 0
    }

    /// Reads output for up to `milliseconds` into the transcript; false at end of file.
    @discardableResult
    private func pump(milliseconds: Int32) -> Bool {
        var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&fds, 1, milliseconds) > 0 else { return true }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(master, &buf, buf.count)
        if n <= 0 { return false }
        transcript += String(decoding: buf[0..<n], as: UTF8.self)
        return true
    }

    /// Reads until `marker` appears in the output not yet returned; returns that output up to and including
    /// the marker (what follows it is left for the next read, so two markers in one chunk both count).
    /// The timeout is a deadline for a stuck child (recorded as an issue), generous for a loaded machine.
    @discardableResult
    func read(until marker: String, timeout: Double = 60) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let rest = Substring(transcript.utf8.dropFirst(returned))
            if let r = rest.range(of: marker) {
                returned += rest[..<r.upperBound].utf8.count
                return String(rest[..<r.upperBound])
            }
            guard Date() < deadline, pump(milliseconds: 50) else {
                Issue.record("\(marker.debugDescription) did not appear within \(Int(timeout)) s; the output was: \(rest.suffix(300).debugDescription)")
                returned += rest.utf8.count
                return String(rest)
            }
        }
    }

    /// Waits for the child to exit; returns its exit status (or -1 after the timeout, having killed it).
    func wait(timeout: Double = 60) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            if !pump(milliseconds: 50) { usleep(10_000) }  // end of file: the child is exiting
            let r = waitpid(pid, &status, WNOHANG)
            if r < 0 {
                Issue.record("waitpid failed (errno \(errno)): something else reaped the child")
                return -1
            }
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
        }
        Issue.record("the child did not exit; its terminal output ended with: \(transcript.suffix(300).debugDescription)")
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        return -1
    }

    deinit {
        close(master)
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0) }
    }
}

struct PTYError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
