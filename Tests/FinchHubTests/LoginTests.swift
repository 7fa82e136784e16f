import Foundation
import Testing
import FinchTestHub
@testable import FinchHub

@Suite struct LoginTests {
    @Test func loginStoresTokenLikeHuggingfaceCLI() throws {
        let fx = try HubFixture(populate: false)
        let hub = fx.client(token: nil)
        let name = try hub.login(token: Secret(name: "HF_TOKEN", value: HubFixture.token))
        #expect(name == HubFixture.user)
        let tokenFile = fx.home + "/token"
        #expect(String(decoding: contents(tokenFile)!, as: UTF8.self) == HubFixture.token)
        #expect(fileMode(tokenFile) == 0o600)
        #expect(fileMode(fx.home + "/stored_tokens") == 0o600)
        let ini = String(decoding: contents(fx.home + "/stored_tokens")!, as: UTF8.self)
        #expect(ini == "[finch-test]\nhf_token = \(HubFixture.token)\n\n")
        #expect(HubAuth.storedTokens(config: hub.config).map(\.name) == ["finch-test"])
        // the stored token is now the one in force, and whoami answers with it
        #expect(hub.currentToken() == HubFixture.token)
        #expect(try hub.whoami().name == HubFixture.user)
        #expect(try hub.loginWithExistingToken() == HubFixture.user)
        #expect(fx.server.requests.filter { $0.path == "/api/whoami-v2" }.allSatisfy { $0.hadAuthorization })
    }

    @Test func invalidTokenIsClearErrorAndNothingStored() throws {
        let fx = try HubFixture(populate: false)
        let hub = fx.client(token: nil)
        do {
            try hub.login(token: Secret(name: "HF_TOKEN", value: "hf_wrong_token_value"))
            Issue.record("expected invalid token")
        } catch let e as HubError {
            guard case .invalidToken = e else { Issue.record("wrong error \(e)"); return }
            #expect("\(e)".contains("rejected"))
            #expect(!"\(e)".contains("hf_wrong_token_value"))
        }
        #expect(!Files.exists(fx.home + "/token"))
        #expect(throws: HubError.self) { try hub.login(token: Secret(name: "T", value: "api_org_abcdef")) }
        #expect(throws: HubError.noToken) { try hub.loginWithExistingToken() }
    }

    @Test func tokenLookupOrderMatchesHuggingfaceHub() throws {
        let home = makeTempDir("tok"); defer { removeDir(home) }
        writeFile(home + "/token", "file_token_value\n")
        func cfg(_ env: [String: String]) -> HubConfig { HubConfig.fromEnvironment(env.merging(["HF_HOME": home, "HOME": home]) { a, _ in a }) }
        #expect(HubAuth.lookupToken(config: cfg([:])) == "file_token_value")
        #expect(HubAuth.lookupToken(config: cfg(["HUGGING_FACE_HUB_TOKEN": "legacy_token"])) == "legacy_token")
        #expect(HubAuth.lookupToken(config: cfg(["HF_TOKEN": " env_token\r\n", "HUGGING_FACE_HUB_TOKEN": "legacy_token"])) == "env_token")
        writeFile(home + "/elsewhere", "path_token")
        #expect(HubAuth.lookupToken(config: cfg(["HF_TOKEN_PATH": home + "/elsewhere"])) == "path_token")
        #expect(HubAuth.lookupToken(config: cfg(["HF_TOKEN": "  "])) == "file_token_value")
        let c = cfg(["HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"])
        #expect(HubClient(config: c, progress: nil).currentToken() == nil)
        // every token read is known to the redactor
        #expect(Redactor.shared.redact("x file_token_value y") == "x •••••• y")
    }
}

@Suite struct HubCLITests {
    @Test func finchLoginReadsTokenFromPipe() throws {
        let fx = try HubFixture(populate: false)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = (HubFixture.token + "\n").withCString { write(fds[1], $0, strlen($0)) }
        close(fds[1])
        defer { close(fds[0]) }
        let line = try HubCLI.login(readFrom: fds[0], config: fx.config())
        #expect(line == "Logged in as \(HubFixture.user)")
        #expect(String(decoding: contents(fx.home + "/token")!, as: UTF8.self) == HubFixture.token)
    }
}
