// A small HTTP client on libcurl: no automatic redirects (the Hub protocol needs to see them),
// response headers parsed, bodies to memory (bounded) or streamed to a file with progress, Range,
// timeouts, retry with backoff on 5xx and timeouts. HTTPS is always verified; plain http is allowed
// only for loopback hosts (the test server). Credentials are the caller's business: see HubClient.
import FinchSupport
import Foundation
import CCurl

public struct HTTPHeaders: Sendable, CustomStringConvertible {
    public private(set) var pairs: [(String, String)] = []
    public init(_ pairs: [(String, String)] = []) { self.pairs = pairs }
    public subscript(name: String) -> String? {
        pairs.last(where: { $0.0.caseInsensitiveCompare(name) == .orderedSame })?.1
    }
    public mutating func add(_ name: String, _ value: String) { pairs.append((name, value)) }
    public mutating func set(_ name: String, _ value: String) {
        pairs.removeAll { $0.0.caseInsensitiveCompare(name) == .orderedSame }
        pairs.append((name, value))
    }
    public mutating func remove(_ name: String) { pairs.removeAll { $0.0.caseInsensitiveCompare(name) == .orderedSame } }
    public var description: String {
        // Authorization is never shown, even redacted, in debugging output.
        pairs.map { $0.0.lowercased() == "authorization" ? "\($0.0): ••••••" : "\($0.0): \($0.1)" }.joined(separator: "\n")
    }
}

public struct HTTPRequest {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    public var body: Data?
    /// Upload the body from this file range instead of `body` (LFS objects: no full copy in memory).
    public var bodyFile: (path: String, offset: Int64, length: Int64)?
    /// Total time allowed; 0 means no total limit (large downloads), with a low-speed abort instead.
    public var timeout: TimeInterval
    public var connectTimeout: TimeInterval = 10

    public init(method: String = "GET", url: String, headers: HTTPHeaders = HTTPHeaders(), body: Data? = nil, timeout: TimeInterval = 30) {
        self.method = method; self.url = url; self.headers = headers; self.body = body; self.timeout = timeout
    }
}

public struct HTTPResponse {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data
    public var url: String
    public var isRedirect: Bool { (300..<400).contains(status) && headers["Location"] != nil }
    public var isSuccess: Bool { (200..<300).contains(status) }
    public var text: String { String(decoding: body, as: UTF8.self) }
    public func json() throws -> JSON { try JSON.parse(body, options: .lenient) }
}

public enum HTTPError: Error, CustomStringConvertible {
    case insecureURL(String)
    case invalidURL(String)
    case transport(url: String, code: Int, message: String)
    case timedOut(url: String)
    case bodyTooLarge(url: String, limit: Int)
    case cancelled(url: String)
    case file(FileError)

    public var description: String {
        switch self {
        case .insecureURL(let u): return "refusing plain http to \(u): only https is allowed (plain http only for a loopback test server)"
        case .invalidURL(let u): return "invalid URL \(u)"
        case let .transport(u, code, m): return "network error for \(u): \(m) (curl \(code)). Check the connection (or HF_ENDPOINT); files already in the Hugging Face cache load with HF_HUB_OFFLINE=1"
        case .timedOut(let u): return "timed out talking to \(u)"
        case let .bodyTooLarge(u, l): return "response from \(u) is larger than the \(l)-byte limit"
        case .cancelled(let u): return "transfer of \(u) cancelled"
        case .file(let e): return e.description
        }
    }

    var isRetryable: Bool {
        switch self { case .timedOut: return true
        case .transport(_, let code, _):
            // couldn't connect, partial file, recv/send errors, got nothing: transient
            return [7, 18, 52, 55, 56, 28].contains(code)
        default: return false }
    }
}

/// Where a response body goes.
public enum BodySink {
    case memory(limit: Int)
    /// Appends to an open file descriptor; `progress(bytesWrittenThisTransfer, expectedThisTransfer)`.
    /// `truncateIfFull`: a resumed request answered 200 (whole body) restarts the file from zero.
    /// `maxBytes`: the file may not grow past this size (a server lying about sizes cannot fill the disk).
    case file(fd: Int32, progress: ((Int64, Int64?) -> Void)?, truncateIfFull: Bool = false, maxBytes: Int64? = nil)
}

public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval
    public init(maxAttempts: Int = 5, baseDelay: TimeInterval = 0.25, maxDelay: TimeInterval = 8) {
        self.maxAttempts = maxAttempts; self.baseDelay = baseDelay; self.maxDelay = maxDelay
    }
    public static let none = RetryPolicy(maxAttempts: 1)
    func delay(attempt: Int) -> TimeInterval { min(maxDelay, baseDelay * pow(2, Double(attempt - 1))) }
}

public final class HTTPClient: @unchecked Sendable {
    public var userAgent: String
    public var retry: RetryPolicy
    /// A transfer without a timeout (a download) under 1 byte/s for this long is cut and retried (resumed).
    public var stallSeconds = 60

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(userAgent: String = "finch/0.1; hf_hub/compatible", retry: RetryPolicy = RetryPolicy()) {
        _ = HTTPClient.globalInit
        self.userAgent = userAgent
        self.retry = retry
    }

    /// https anywhere; http only to loopback.
    public static func checkTransportSecurity(_ url: String) throws {
        guard let comps = URLComponents(string: url), let scheme = comps.scheme?.lowercased(), let host = comps.host else {
            throw HTTPError.invalidURL(url)
        }
        if scheme == "https" { return }
        if scheme == "http" && isLoopback(host) { return }
        throw HTTPError.insecureURL(url)
    }

    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Sends a request with retries (5xx, timeouts, connection errors) for memory bodies.
    public func send(_ request: HTTPRequest, maxBody: Int = 64 << 20) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let r = try perform(request, sink: .memory(limit: maxBody))
                if [500, 502, 503, 504].contains(r.status) && attempt < retry.maxAttempts {
                    Thread.sleep(forTimeInterval: retryDelay(r, attempt: attempt)); continue
                }
                return r
            } catch let e as HTTPError where e.isRetryable && attempt < retry.maxAttempts {
                Thread.sleep(forTimeInterval: retry.delay(attempt: attempt))
            }
        }
    }

    func retryDelay(_ r: HTTPResponse, attempt: Int) -> TimeInterval {
        if let ra = r.headers["Retry-After"], let s = Double(ra) { return min(s, retry.maxDelay) }
        return retry.delay(attempt: attempt)
    }

    /// One attempt, no retries. The body goes to `sink`; for a file sink the returned body is empty
    /// (unless the status is not 2xx: error bodies are kept in memory so they can be reported).
    public func perform(_ request: HTTPRequest, sink: BodySink, cancel: (() -> Bool)? = nil) throws -> HTTPResponse {
        try HTTPClient.checkTransportSecurity(request.url)
        guard let h = curl_easy_init() else { throw HTTPError.transport(url: request.url, code: -1, message: "curl_easy_init failed") }
        defer { curl_easy_cleanup(h) }
        let state = TransferState(sink: sink, cancel: cancel)
        let box = Unmanaged.passRetained(state)
        defer { box.release() }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        var uploadHandle: FileHandle? = nil
        defer { try? uploadHandle?.close() }

        finch_curl_setopt_string(h, CURLOPT_URL, request.url)
        finch_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        finch_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1)
        finch_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2)
        finch_curl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        finch_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        finch_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        if request.timeout > 0 {
            finch_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        } else {
            // long downloads: abort when under 1 byte/s for stallSeconds instead of a total limit
            finch_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
            finch_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, stallSeconds)
        }
        finch_curl_setopt_string(h, CURLOPT_USERAGENT, userAgent)
        // Accept-Encoding stays identity (libcurl's default without CURLOPT_ACCEPT_ENCODING): sizes are real sizes.
        var headers = request.headers
        if headers["Expect"] == nil { headers.set("Expect", "") }  // no 100-continue round trip
        for (k, v) in headers.pairs {
            list = curl_slist_append(list, v.isEmpty ? "\(k):" : "\(k): \(v)")
        }
        finch_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)

        switch request.method {
        case "GET": break
        case "HEAD": finch_curl_setopt_long(h, CURLOPT_NOBODY, 1)
        default: finch_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let file = request.bodyFile {
            guard let fh = FileHandle(forReadingAtPath: file.path) else {
                throw HTTPError.file(FileError(path: file.path, operation: "open", errno: errno))
            }
            try fh.seek(toOffset: UInt64(file.offset))
            uploadHandle = fh
            state.uploadHandle = fh
            state.uploadRemaining = file.length
            finch_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
            finch_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(file.length))
            finch_curl_setopt_data_cb(h, CURLOPT_READFUNCTION, readCallback)
            finch_curl_setopt_pointer(h, CURLOPT_READDATA, box.toOpaque())
            if request.method != "PUT" { finch_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method) }
        } else if let body = request.body {
            state.uploadData = body
            if request.method == "PUT" {
                finch_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
                finch_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count))
            } else {
                finch_curl_setopt_long(h, CURLOPT_POST, 1)
                finch_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                finch_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
            }
            finch_curl_setopt_data_cb(h, CURLOPT_READFUNCTION, readCallback)
            finch_curl_setopt_pointer(h, CURLOPT_READDATA, box.toOpaque())
        } else if request.method == "POST" || request.method == "PUT" {
            finch_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, 0)
            finch_curl_setopt_string(h, CURLOPT_POSTFIELDS, "")
            finch_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
        }
        finch_curl_setopt_data_cb(h, CURLOPT_HEADERFUNCTION, headerCallback)
        finch_curl_setopt_pointer(h, CURLOPT_HEADERDATA, box.toOpaque())
        finch_curl_setopt_data_cb(h, CURLOPT_WRITEFUNCTION, writeCallback)
        finch_curl_setopt_pointer(h, CURLOPT_WRITEDATA, box.toOpaque())
        finch_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
        finch_curl_setopt_xferinfo_cb(h, xferinfoCallback)
        finch_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, box.toOpaque())

        let rc = curl_easy_perform(h)
        if let e = state.fileError { throw HTTPError.file(e) }
        if state.overflow {
            switch sink {
            case .memory(let limit): throw HTTPError.bodyTooLarge(url: request.url, limit: limit)
            case .file(_, _, _, let max): throw HTTPError.bodyTooLarge(url: request.url, limit: Int(max ?? 0))
            }
        }
        if state.cancelled { throw HTTPError.cancelled(url: request.url) }
        if rc == CURLE_OPERATION_TIMEDOUT { throw HTTPError.timedOut(url: request.url) }
        guard rc == CURLE_OK else {
            throw HTTPError.transport(url: request.url, code: Int(rc.rawValue), message: String(cString: curl_easy_strerror(rc)))
        }
        var status = 0
        finch_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: state.finalHeaders(), body: state.body, url: request.url)
    }
}

final class TransferState {
    let sink: BodySink
    let cancel: (() -> Bool)?
    var headerBlocks: [[(String, String)]] = []
    var statusLineSeen = false
    var status = 0
    var body = Data()
    var overflow = false
    var truncated = false
    var cancelled = false
    var fileError: FileError?
    var written: Int64 = 0
    var expected: Int64?
    var uploadData: Data?
    var uploadOffset = 0
    var uploadHandle: FileHandle?
    var uploadRemaining: Int64 = 0

    init(sink: BodySink, cancel: (() -> Bool)?) { self.sink = sink; self.cancel = cancel }

    func finalHeaders() -> HTTPHeaders { HTTPHeaders(headerBlocks.last ?? []) }
    var statusIsSuccess: Bool { (200..<300).contains(status) }
}

private let headerCallback: finch_curl_data_cb = { ptr, size, n, user in
    let count = size * n
    guard let ptr, let user else { return count }
    let st = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        st.headerBlocks.append([])  // a new response (e.g. after 100 Continue)
        let parts = line.split(separator: " ")
        if parts.count >= 2, let s = Int(parts[1]) { st.status = s }
    } else if let colon = line.firstIndex(of: ":"), !st.headerBlocks.isEmpty {
        let k = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let v = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        st.headerBlocks[st.headerBlocks.count - 1].append((k, v))
        if k.lowercased() == "content-length" { st.expected = Int64(v) }
    }
    return count
}

private let writeCallback: finch_curl_data_cb = { ptr, size, n, user in
    let count = size * n
    guard let ptr, let user else { return 0 }
    let st = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    switch st.sink {
    case .memory(let limit):
        if st.body.count + count > limit { st.overflow = true; return 0 }
        st.body.append(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: count)
    case .file(let fd, let progress, let truncateIfFull, let maxBytes):
        if truncateIfFull && st.status == 200 && st.written == 0 && !st.truncated {
            ftruncate(fd, 0)
            st.truncated = true
        }
        if !st.statusIsSuccess {
            // error bodies (a JSON message) are kept for reporting, never written into the blob
            if st.body.count + count <= 1 << 20 { st.body.append(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: count) }
            return count
        }
        if let maxBytes {
            var fst = stat()
            if fstat(fd, &fst) == 0, Int64(fst.st_size) + Int64(count) > maxBytes { st.overflow = true; return 0 }
        }
        var off = 0
        while off < count {
            let w = write(fd, ptr + off, count - off)
            if w < 0 {
                if errno == EINTR { continue }
                st.fileError = FileError(path: "download", operation: "write", errno: errno)
                return 0
            }
            off += w
        }
        st.written += Int64(count)
        progress?(st.written, st.expected)
    }
    return count
}

private let readCallback: finch_curl_data_cb = { ptr, size, n, user in
    let capacity = size * n
    guard let ptr, let user else { return 0 }
    let st = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    if let fh = st.uploadHandle {
        let want = Int(min(Int64(capacity), st.uploadRemaining))
        if want == 0 { return 0 }
        guard let chunk = try? fh.read(upToCount: want), !chunk.isEmpty else { return 0 }
        chunk.copyBytes(to: UnsafeMutableRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: chunk.count)
        st.uploadRemaining -= Int64(chunk.count)
        return chunk.count
    }
    guard let data = st.uploadData else { return 0 }
    let k = min(capacity, data.count - st.uploadOffset)
    if k <= 0 { return 0 }
    data.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(ptr).copyMemory(from: raw.baseAddress! + st.uploadOffset, byteCount: k)
    }
    st.uploadOffset += k
    return k
}

private let xferinfoCallback: finch_curl_xferinfo_cb = { user, _, _, _, _ in
    guard let user else { return 0 }
    let st = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    if let c = st.cancel, c() { st.cancelled = true; return 1 }
    return 0
}
