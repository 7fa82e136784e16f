import Foundation
import Testing
@testable import FinchHub

func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return UInt16(bigEndian: addr.sin_port)
}

/// Runs a command with stdin/stdout/stderr on /dev/null; returns the exit status (wait) or the pid.
func spawn(_ argv: [String], wait: Bool) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
    var cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return -1 }
    guard wait else { return pid }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status >> 8) & 0xFF
}

/// HTTPS is always verified: a server with a self-signed certificate is refused. Runs where the
/// openssl command exists (it serves TLS for the test).
@Suite struct TLSTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
    func selfSignedCertificateIsRefused() throws {
        let dir = makeTempDir("tls"); defer { removeDir(dir) }
        #expect(spawn(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                       "-keyout", dir + "/k.pem", "-out", dir + "/c.pem"], wait: true) == 0)
        let port = freePort()
        let pid = spawn(["/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", dir + "/c.pem", "-key", dir + "/k.pem", "-www", "-quiet"], wait: false)
        #expect(pid > 0)
        defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }  // SIGKILL: the test runner blocks SIGTERM, and spawned children inherit the mask
        // wait until it listens
        var up = false
        for _ in 0..<100 where !up {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET); addr.sin_port = port.bigEndian; addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            up = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            close(fd)
            if !up { usleep(50_000) }
        }
        #expect(up)
        do {
            let r = try HTTPClient(retry: .none).send(HTTPRequest(url: "https://127.0.0.1:\(port)/", timeout: 5))
            Issue.record("a self-signed certificate was accepted (HTTP \(r.status))")
        } catch let e as HTTPError {
            guard case .transport(_, let code, _) = e else { Issue.record("unexpected \(e)"); return }
            #expect(code == 60)   // CURLE_PEER_FAILED_VERIFICATION
        }
    }
}
