// Tokens and login, shared with the Python tools: the lookup order of `huggingface_hub.get_token`
// (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then $HF_TOKEN_PATH or $HF_HOME/token) and what
// `huggingface-cli login` writes ($HF_HOME/token and the INI file stored_tokens, both 0600).
import Foundation
import FinchSupport

public struct WhoAmI: Sendable {
    public var name: String
    public var fullname: String?
    public var tokenName: String?
    public var tokenRole: String?
    public var orgs: [String]
}

public enum HubAuth {
    static func clean(_ t: String?) -> String? {
        guard let t else { return nil }
        let c = t.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "").trimmingCharacters(in: .whitespaces)
        return c.isEmpty ? nil : c
    }

    /// The token `huggingface_hub` would use, registered with the redactor.
    public static func lookupToken(config: HubConfig) -> String? {
        let env = config.environment
        let t = clean(env["HF_TOKEN"]) ?? clean(env["HUGGING_FACE_HUB_TOKEN"])
            ?? clean(FileManager.default.contents(atPath: config.tokenPath).map { String(decoding: $0, as: UTF8.self) })
        if let t { Redactor.shared.register(t) }
        return t
    }

    /// Reads `stored_tokens` (INI: `[name]` then `hf_token = value`).
    public static func storedTokens(config: HubConfig) -> [(name: String, token: String)] {
        guard let d = FileManager.default.contents(atPath: config.storedTokensPath) else { return [] }
        var out: [(String, String)] = []
        var section: String?
        for raw in String(decoding: d, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            if let s = section, let eq = line.firstIndex(of: "="), line[..<eq].trimmingCharacters(in: .whitespaces) == "hf_token" {
                let v = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                Redactor.shared.register(v)
                out.append((s, v))
            }
        }
        return out
    }

    static func writeStoredTokens(_ tokens: [(name: String, token: String)], config: HubConfig) throws {
        var text = ""
        for (n, t) in tokens { text += "[\(n)]\nhf_token = \(t)\n\n" }
        try AtomicFile.write(Data(text.utf8), to: config.storedTokensPath, mode: 0o600)
    }
}

extension HubClient {
    /// `GET /api/whoami-v2` with the given token (or the current one).
    public func whoami(token: String? = nil) throws -> WhoAmI {
        guard let t = token ?? currentToken() else { throw HubError.noToken }
        Redactor.shared.register(t)
        let url = config.endpoint + "/api/whoami-v2"
        let r = try http.send(HTTPRequest(url: url, headers: headers(for: url, token: t), timeout: 15))
        if r.status == 401 || r.status == 403 {
            throw HubError.invalidToken(detail: "the Hub at \(config.endpoint) rejected it (HTTP \(r.status)); create a new one at \(config.endpoint)/settings/tokens")
        }
        guard r.isSuccess else { throw errorFor(r, repo: "whoami", revision: "", path: nil) }
        let j = try r.json()
        guard let name = j["name"]?.stringValue else { throw HubError.invalidServerValue(what: "whoami answer", value: r.text) }
        return WhoAmI(name: name, fullname: j["fullname"]?.stringValue,
                      tokenName: j["auth"]?["accessToken"]?["displayName"]?.stringValue,
                      tokenRole: j["auth"]?["accessToken"]?["role"]?.stringValue,
                      orgs: j["orgs"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
    }

    /// Validates the token with whoami-v2, then stores it as `huggingface-cli login` does. Returns the
    /// user name; the caller prints `Logged in as NAME`.
    @discardableResult
    public func login(token: Secret) throws -> String {
        try token.withValue { try login(rawToken: $0) }
    }

    @discardableResult
    func login(rawToken: String) throws -> String {
        guard let t = HubAuth.clean(rawToken) else { throw HubError.invalidToken(detail: "it is empty") }
        Redactor.shared.register(t)
        if t.hasPrefix("api_org") { throw HubError.invalidToken(detail: "organisation API tokens (api_org…) cannot be used to log in") }
        let who = try whoami(token: t)
        let name = who.tokenName ?? "oauth-\(who.name)"
        try Files.makeDirectories((config.tokenPath as NSString).deletingLastPathComponent, mode: 0o700)
        var stored = HubAuth.storedTokens(config: config).filter { $0.name != name }
        stored.append((name, t))
        try HubAuth.writeStoredTokens(stored, config: config)
        try AtomicFile.write(Data(t.utf8), to: config.tokenPath, mode: 0o600)
        return who.name
    }

    /// Login with no explicit token: HF_TOKEN / the stored token, validated.
    @discardableResult
    public func loginWithExistingToken() throws -> String {
        guard let t = currentToken() else { throw HubError.noToken }
        return try whoami(token: t).name
    }
}
