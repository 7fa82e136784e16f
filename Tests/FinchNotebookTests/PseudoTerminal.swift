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

    func send(_ text: String) {
        // libedit prints the prompt before switching the terminal to raw mode; a control key sent in that
        // gap would be taken by the line discipline, so let the prompt settle first.
        Thread.sleep(forTimeInterval: 0.1)
        var bytes = Array(text.utf8)
        _ = write(master, &bytes, bytes.count)
    }

    /// Reads until `marker` appears in the output after `from`, or the timeout passes; returns the new output.
    @discardableResult
    func read(until marker: String, timeout: Double = 10) -> String {
        let start = transcript.endIndex
        let startOffset = transcript.utf8.count
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&fds, 1, 50) > 0 {
                var buf = [UInt8](repeating: 0, count: 4096)
                let n = Glibc.read(master, &buf, buf.count)
                if n <= 0 { break }
                transcript += String(decoding: buf[0..<n], as: UTF8.self)
            }
            if String(transcript.utf8.dropFirst(startOffset))!.contains(marker) { break }
        }
        _ = start
        return String(transcript.utf8.dropFirst(startOffset)) ?? ""
    }

    /// Waits for the child to exit; returns its exit status (or -1 after the timeout, having killed it).
    func wait(timeout: Double = 10) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            _ = read(until: "\u{0}", timeout: 0.05)
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
