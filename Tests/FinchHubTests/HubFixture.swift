import Foundation
import FinchTestHub
@testable import FinchHub

/// A test server over a temp folder of repos, plus a client whose cache lives in another temp folder.
final class HubFixture {
    let root: String
    let home: String
    let server: TestHubServer
    static let token = "hf_testtoken_0123456789abcdef"
    static let user = "finch-tester"
    let weights = randomBytes(300_000, seed: 7)
    let binWeights = randomBytes(2000, seed: 9)

    init(populate: Bool = true) throws {
        root = makeTempDir("hubroot")
        home = makeTempDir("hfhome")
        if populate {
            let repo = root + "/models/org/tiny"
            writeFile(repo + "/config.json", #"{"model_type":"llama","hidden_size":8}"#)
            writeFile(repo + "/tokenizer.json", #"{"version":"1.0","model":{"type":"BPE"}}"#)
            writeFile(repo + "/model.safetensors", weights)
            writeFile(repo + "/pytorch_model.bin", binWeights)
            writeFile(repo + "/sub/dir/notes.txt", "nested file\n")
            writeFile(repo + "/README.md", "# tiny\n")
            let gguf = root + "/models/org/tiny-gguf"
            writeFile(gguf + "/tiny.Q4_0.gguf", randomBytes(5000, seed: 3))
            writeFile(gguf + "/tiny.Q8_0.gguf", randomBytes(6000, seed: 4))
        }
        server = try TestHubServer(root: root)
        server.addToken(HubFixture.token, user: HubFixture.user)
        server.start()
    }

    func config(offline: Bool = false, env: [String: String] = [:]) -> HubConfig {
        HubConfig(endpoint: server.endpoint, hfHome: home, offline: offline, environment: env)
    }

    func client(offline: Bool = false, token: String? = HubFixture.token, env: [String: String] = [:]) -> HubClient {
        HubClient(config: config(offline: offline, env: env), token: token.map { Secret(name: "HF_TOKEN", value: $0) },
                  http: HTTPClient(retry: RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 0.05)), progress: nil)
    }

    var cacheRepo: String { home + "/hub/models--org--tiny" }

    deinit {
        server.stop()
        removeDir(root)
        removeDir(home)
    }
}

func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buf, buf.count - 1)
    return n >= 0 ? String(cString: buf) : nil
}

func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
