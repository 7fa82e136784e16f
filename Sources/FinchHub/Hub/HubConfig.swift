// Where the Hub is and where its files go, read from the environment exactly as `huggingface_hub`'s
// constants.py does, so that Finch and the Python tools share one cache and one login.
import Foundation

public enum RepoType: String, Sendable, CaseIterable {
    case model, dataset, space
    /// Prefix in resolve URLs ("" for models).
    public var urlPrefix: String { self == .model ? "" : "\(rawValue)s/" }
    /// Path segment in API URLs (`/api/models/...`).
    public var apiSegment: String { "\(rawValue)s" }
}

public struct HubConfig: Sendable {
    public var endpoint: String
    public var hfHome: String
    public var hubCache: String
    public var tokenPath: String
    public var offline: Bool
    public var disableImplicitToken: Bool
    /// Seconds allowed for the metadata HEAD (`HF_HUB_ETAG_TIMEOUT`, default 10); on timeout the cache answers.
    public var etagTimeout: Double = 10
    public var environment: [String: String]

    public init(endpoint: String, hfHome: String, hubCache: String? = nil, tokenPath: String? = nil, offline: Bool = false,
                disableImplicitToken: Bool = false, environment: [String: String] = [:]) {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.hfHome = hfHome
        self.hubCache = hubCache ?? hfHome + "/hub"
        self.tokenPath = tokenPath ?? hfHome + "/token"
        self.offline = offline
        self.disableImplicitToken = disableImplicitToken
        self.environment = environment
    }

    static func truthy(_ v: String?) -> Bool {
        guard let v else { return false }
        return ["1", "ON", "YES", "TRUE"].contains(v.uppercased())
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> HubConfig {
        func path(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return Files.expand(v, env: env)
        }
        let home = env["HOME"] ?? Files.home
        let hfHome = path("HF_HOME") ?? ((path("XDG_CACHE_HOME") ?? home + "/.cache") + "/huggingface")
        var c = HubConfig(
            endpoint: env["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co",
            hfHome: hfHome,
            hubCache: path("HF_HUB_CACHE") ?? path("HUGGINGFACE_HUB_CACHE") ?? hfHome + "/hub",
            tokenPath: path("HF_TOKEN_PATH") ?? hfHome + "/token",
            offline: truthy(env["HF_HUB_OFFLINE"]) || truthy(env["TRANSFORMERS_OFFLINE"]),
            disableImplicitToken: truthy(env["HF_HUB_DISABLE_IMPLICIT_TOKEN"]),
            environment: env)
        if let t = env["HF_HUB_ETAG_TIMEOUT"].flatMap(Double.init), t > 0 { c.etagTimeout = t }
        return c
    }

    /// `dirname(HF_TOKEN_PATH)/stored_tokens`.
    public var storedTokensPath: String { (tokenPath as NSString).deletingLastPathComponent + "/stored_tokens" }

    /// Cache folder of one repo: `models--ORG--NAME`.
    public func repoFolder(_ repo: String, type: RepoType) -> String {
        hubCache + "/" + ([type.rawValue + "s"] + repo.split(separator: "/").map(String.init)).joined(separator: "--")
    }

    /// Scheme, host and port of the endpoint: the only origin that ever receives the token.
    public var endpointOrigin: String? { HubConfig.origin(of: endpoint) }

    static func origin(of url: String) -> String? {
        guard let c = URLComponents(string: url), let s = c.scheme?.lowercased(), let h = c.host?.lowercased() else { return nil }
        let port = c.port ?? (s == "https" ? 443 : 80)
        return "\(s)://\(h):\(port)"
    }
}

public enum HubError: Error, CustomStringConvertible, Equatable {
    case repoNotFound(repo: String, status: Int)
    case revisionNotFound(repo: String, revision: String)
    case entryNotFound(repo: String, path: String)
    case gated(repo: String)
    case unauthorized(detail: String)
    case http(status: Int, url: String, message: String, requestId: String?)
    case offlineNotCached(repo: String, path: String?)
    case invalidRepoId(String)
    case invalidFilePath(String)
    case invalidServerValue(what: String, value: String)
    case sizeMismatch(path: String, expected: Int64, actual: Int64)
    case incompleteDownload(path: String, have: Int64, expected: Int64)
    case hashMismatch(path: String, expected: String, actual: String)
    case absurdSize(path: String, size: String)
    case insufficientSpace(path: String, needed: Int64, available: Int64)
    case notOnHub(url: String)
    case invalidToken(detail: String)
    case noToken
    case upload(detail: String)
    case notAnAdapter(repo: String, missing: String, files: [String])

    public var description: String {
        let text: String
        switch self {
        case let .repoNotFound(repo, status):
            text = "repository \(repo) not found (HTTP \(status)): check the id, and if it is private or gated, log in with `login(secret(\"HF_TOKEN\"))`"
        case let .revisionNotFound(repo, rev): text = "revision \(rev) not found in \(repo)"
        case let .entryNotFound(repo, path): text = "file \(path) not found in \(repo)"
        case .gated(let repo): text = "\(repo) is gated: accept its terms on the Hub, then log in with a token that has access"
        case .unauthorized(let d): text = "not authorised: \(d)"
        case let .http(status, url, message, rid): text = "HTTP \(status) from \(url): \(message)" + (rid.map { " (request id \($0))" } ?? "")
        case let .offlineNotCached(repo, path):
            text = "offline mode (HF_HUB_OFFLINE) is on and \(path.map { "\($0) from " } ?? "")\(repo) is not in the cache; unset HF_HUB_OFFLINE to download it"
        case .invalidRepoId(let r): text = "invalid repo id \"\(r)\": expected NAME or ORG/NAME"
        case .invalidFilePath(let p): text = "refusing unsafe repo file path \"\(p)\" (absolute, `..`, or empty components)"
        case let .invalidServerValue(what, v): text = "the server sent an invalid \(what): \"\(v.prefix(80))\""
        case let .sizeMismatch(p, e, a): text = "consistency check failed: \(p) should be \(e) bytes but is \(a); the partial file was removed, try again"
        case let .incompleteDownload(p, h, e): text = "download of \(p) stopped at \(h) of \(e) bytes after several retries; run again to resume it"
        case let .hashMismatch(p, e, a): text = "checksum mismatch for \(p): expected \(e), got \(a); the file was discarded"
        case let .absurdSize(p, s): text = "the server announced an impossible size \(s) for \(p)"
        case let .insufficientSpace(p, n, a): text = "not enough disk space for \(p): needs \(n) bytes, \(a) available"
        case .notOnHub(let u): text = "\(u) did not answer like the Hugging Face Hub (no X-Repo-Commit or ETag); check HF_ENDPOINT"
        case .invalidToken(let d): text = "invalid token: \(d)"
        case .noToken: text = "no Hugging Face token: pass one to login(secret(\"HF_TOKEN\")), set HF_TOKEN, or run `finch login`"
        case .upload(let d): text = "upload failed: \(d)"
        case let .notAnAdapter(repo, missing, files):
            let shown = files.prefix(8).joined(separator: ", ") + (files.count > 8 ? ", …" : "")
            text = "\(repo) is not a PEFT adapter repo: it has no \(missing) (files: \(shown.isEmpty ? "none" : shown)); for a full model use load_model(\"\(repo)\")"
        }
        return Redactor.shared.redact(text)
    }
}
