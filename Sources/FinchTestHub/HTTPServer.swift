// A deliberately small HTTP/1.1 server on POSIX sockets: one thread per connection, one request per
// connection (`Connection: close`), Content-Length and chunked request bodies. Enough for the Hub
// protocol, `huggingface_hub` and libcurl, and simple enough to be obviously right.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct ServerRequest {
    public var method: String
    public var target: String          // raw request target, with query
    public var path: String            // percent-decoded path, no query
    public var rawPath: String         // path as sent (still percent-encoded)
    public var query: [String: String]
    public var headers: [(String, String)]
    public var body: Data

    public func header(_ name: String) -> String? {
        headers.last(where: { $0.0.caseInsensitiveCompare(name) == .orderedSame })?.1
    }
    public var bearerToken: String? {
        guard let a = header("Authorization"), a.lowercased().hasPrefix("bearer ") else { return nil }
        return String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }
}

public struct ServerResponse {
    public enum Body { case data(Data), file(path: String, offset: Int64, length: Int64) }
    public var status: Int
    public var headers: [(String, String)]
    public var body: Body
    /// Close the connection after this many body bytes (fault injection: a cut transfer).
    public var cutAfter: Int64? = nil
    /// With cutAfter: hold the connection open and silent this long before closing (a stalled transfer).
    public var stallBeforeClose: Double? = nil

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data()) {
        self.status = status; self.headers = headers; self.body = .data(body)
    }
    public static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> ServerResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return ServerResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: data)
    }
    public static func error(_ status: Int, _ message: String, code: String? = nil) -> ServerResponse {
        var h: [(String, String)] = [("X-Request-Id", UUID().uuidString)]
        if let code { h.append(("X-Error-Code", code)); h.append(("X-Error-Message", message)) }
        return .json(status, ["error": message], headers: h)
    }
}

final class HTTPServer: @unchecked Sendable {
    let listenFD: Int32
    let port: UInt16
    private let handler: (ServerRequest) -> ServerResponse
    private var stopped = false
    private let lock = NSLock()
    static let maxHeaderBytes = 64 << 10
    static let maxBodyBytes = 1 << 30

    init(host: String, port: UInt16, handler: @escaping (ServerRequest) -> ServerResponse) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHubError.socket("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw TestHubError.socket("bind \(host):\(port)", e) }
        guard listen(fd, 128) == 0 else { let e = errno; close(fd); throw TestHubError.socket("listen", e) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.listenFD = fd
        self.port = UInt16(bigEndian: bound.sin_port)
    }

    private var started = false

    func start() {
        lock.lock(); started = true; lock.unlock()
        let t = Thread { [self] in acceptLoop(); close(listenFD) }
        t.name = "finch-testhub-accept"
        t.start()
    }

    /// Idempotent: a second stop must not close a descriptor number someone else now owns.
    func stop() {
        lock.lock()
        let was = stopped
        stopped = true
        lock.unlock()
        guard !was else { return }
        // wakes the blocked accept(); the accept thread closes the descriptor itself, so no thread can
        // ever use the number after it was reused
        shutdown(listenFD, Int32(SHUT_RDWR))
        if !started { close(listenFD) }
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func acceptLoop() {
        while !isStopped {
            let c = accept(listenFD, nil, nil)
            if c < 0 { if errno == EINTR { continue }; if isStopped { return }; usleep(1000); continue }
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let t = Thread { [self] in serve(c) }
            t.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var reader = SocketReader(fd: fd)
        guard let req = readRequest(&reader) else {
            _ = sendAll(fd, Data("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            return
        }
        let resp = handler(req)
        write(resp, for: req, to: fd)
    }

    private func readRequest(_ r: inout SocketReader) -> ServerRequest? {
        guard let head = r.readUntilBlankLine(limit: HTTPServer.maxHeaderBytes) else { return nil }
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3 else { return nil }
        var headers: [(String, String)] = []
        for l in lines.dropFirst() where !l.isEmpty {
            guard let c = l.firstIndex(of: ":") else { return nil }
            headers.append((String(l[..<c]).trimmingCharacters(in: .whitespaces), String(l[l.index(after: c)...]).trimmingCharacters(in: .whitespaces)))
        }
        func h(_ n: String) -> String? { headers.last(where: { $0.0.lowercased() == n })?.1 }
        var body = Data()
        if h("transfer-encoding")?.lowercased().contains("chunked") == true {
            guard let b = r.readChunked(limit: HTTPServer.maxBodyBytes) else { return nil }
            body = b
        } else if let cl = h("content-length"), let n = Int(cl) {
            guard n >= 0, n <= HTTPServer.maxBodyBytes, let b = r.read(count: n) else { return nil }
            body = b
        }
        let target = String(parts[1])
        let qIndex = target.firstIndex(of: "?")
        let rawPath = String(qIndex.map { target[..<$0] } ?? target[...])
        var query: [String: String] = [:]
        if let q = qIndex {
            for item in target[target.index(after: q)...].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1)
                let k = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                query[k] = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            }
        }
        return ServerRequest(method: String(parts[0]), target: target, path: rawPath.removingPercentEncoding ?? rawPath,
                             rawPath: rawPath, query: query, headers: headers, body: body)
    }

    static func reason(_ s: Int) -> String {
        switch s {
        case 200: return "OK"; case 206: return "Partial Content"; case 302: return "Found"; case 307: return "Temporary Redirect"
        case 400: return "Bad Request"; case 401: return "Unauthorized"; case 403: return "Forbidden"; case 404: return "Not Found"
        case 409: return "Conflict"; case 416: return "Range Not Satisfiable"; case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"; default: return "Status"
        }
    }

    private func write(_ resp: ServerResponse, for req: ServerRequest, to fd: Int32) {
        let length: Int64
        switch resp.body { case .data(let d): length = Int64(d.count); case .file(_, _, let l): length = l }
        var head = "HTTP/1.1 \(resp.status) \(HTTPServer.reason(resp.status))\r\n"
        var hasLength = false
        for (k, v) in resp.headers {
            if k.lowercased() == "content-length" { hasLength = true }
            head += "\(k): \(v)\r\n"
        }
        if !hasLength { head += "Content-Length: \(length)\r\n" }
        head += "Connection: close\r\n\r\n"
        guard sendAll(fd, Data(head.utf8)) else { return }
        if req.method == "HEAD" { return }
        let limit = resp.cutAfter ?? Int64.max
        switch resp.body {
        case .data(let d):
            _ = sendAll(fd, d.prefix(Int(min(Int64(d.count), limit))))
        case .file(let path, let offset, let len):
            guard let fh = FileHandle(forReadingAtPath: path) else { return }
            defer { try? fh.close() }
            try? fh.seek(toOffset: UInt64(offset))
            var left = min(len, limit)
            while left > 0 {
                let chunk = fh.readData(ofLength: Int(min(left, 256 << 10)))
                if chunk.isEmpty { break }
                guard sendAll(fd, chunk) else { return }
                left -= Int64(chunk.count)
            }
        }
        if let s = resp.stallBeforeClose { Thread.sleep(forTimeInterval: s) }
        if resp.cutAfter != nil { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
    }
}

struct SocketReader {
    let fd: Int32
    var buffer = Data()

    init(fd: Int32) { self.fd = fd }

    mutating func fill() -> Bool {
        var tmp = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &tmp, tmp.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            buffer.append(contentsOf: tmp[0..<n])
            return true
        }
    }

    mutating func readUntilBlankLine(limit: Int) -> String? {
        let sep = Data("\r\n\r\n".utf8)
        while true {
            if let r = buffer.range(of: sep) {
                let head = buffer[buffer.startIndex..<r.lowerBound]
                buffer = Data(buffer[r.upperBound...])
                return String(decoding: head, as: UTF8.self)
            }
            if buffer.count > limit || !fill() { return nil }
        }
    }

    mutating func read(count: Int) -> Data? {
        while buffer.count < count { if !fill() { return nil } }
        let out = Data(buffer.prefix(count))
        buffer = Data(buffer.dropFirst(count))
        return out
    }

    mutating func readLine() -> String? {
        let crlf = Data("\r\n".utf8)
        while true {
            if let r = buffer.range(of: crlf) {
                let line = String(decoding: buffer[buffer.startIndex..<r.lowerBound], as: UTF8.self)
                buffer = Data(buffer[r.upperBound...])
                return line
            }
            if buffer.count > 4096 || !fill() { return nil }
        }
    }

    mutating func readChunked(limit: Int) -> Data? {
        var out = Data()
        while true {
            guard let line = readLine() else { return nil }
            let sizeText = line.split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else { return nil }
            if size == 0 {
                while let l = readLine(), !l.isEmpty {}  // trailers
                return out
            }
            guard out.count + size <= limit, let chunk = read(count: size) else { return nil }
            out.append(chunk)
            _ = readLine()
        }
    }
}

public enum TestHubError: Error, CustomStringConvertible {
    case socket(String, Int32)
    public var description: String {
        switch self { case let .socket(op, e): return "\(op): \(String(cString: strerror(e)))" }
    }
}
