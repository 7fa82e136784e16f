import Foundation
import Testing
@testable import FinchHub

@Suite struct SecretsTests {
    @Test func storeRoundTripModeAndAtomicWrite() throws {
        let dir = makeTempDir("secrets"); defer { removeDir(dir) }
        let env = ["XDG_CONFIG_HOME": dir, "HOME": dir]
        let store = SecretStore.default(environment: env)
        #expect(store.path == dir + "/finch/secrets.json")
        try store.set(name: "HF_TOKEN", value: "hf_abcdefghijklmnop")
        try store.set(name: "WANDB_API_KEY", value: "wandb-key-123456")
        #expect(fileMode(store.path) == 0o600)
        #expect(fileMode(dir + "/finch") == 0o700)
        #expect(try store.names() == ["HF_TOKEN", "WANDB_API_KEY"])
        let s = try store.secret(named: "HF_TOKEN")
        #expect(s.withValue { $0 } == "hf_abcdefghijklmnop")
        // no temp files left beside the store
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/finch")
        #expect(left == ["secrets.json"])
        #expect(try store.remove(name: "HF_TOKEN"))
        #expect(try store.names() == ["WANDB_API_KEY"])
        #expect(try store.remove(name: "HF_TOKEN") == false)
    }

    @Test func looseModeIsRefused() throws {
        let dir = makeTempDir("secrets"); defer { removeDir(dir) }
        let store = SecretStore(path: dir + "/secrets.json", environment: [:])
        try store.set(name: "A_KEY", value: "value-one-two")
        chmod(store.path, 0o644)
        #expect(throws: SecretError.looseMode(path: store.path, mode: 0o644)) { try store.secret(named: "A_KEY") }
        let message = "\(SecretError.looseMode(path: store.path, mode: 0o644))"
        #expect(message.contains("chmod 600"))
    }

    @Test func lookupFallsBackToEnvironmentAndMissingSaysHowToSet() throws {
        let dir = makeTempDir("secrets"); defer { removeDir(dir) }
        let store = SecretStore(path: dir + "/secrets.json", environment: ["FROM_ENV": "env-value-xyz"])
        #expect(try store.secret(named: "FROM_ENV").withValue { $0 } == "env-value-xyz")
        do {
            _ = try store.secret(named: "NOPE")
            Issue.record("expected an error")
        } catch let e as SecretError {
            let text = "\(e)"
            #expect(text.contains("finch secrets set NOPE"))
            #expect(text.contains("export NOPE="))
        }
        #expect(throws: SecretError.invalidName("bad name")) { try store.secret(named: "bad name") }
    }

    @Test func secretNeverPrintsItsValue() {
        let s = Secret(name: "HF_TOKEN", value: "hf_supersecretvalue")
        #expect("\(s)" == "Secret(HF_TOKEN: ••••••)")
        #expect(String(describing: s) == "Secret(HF_TOKEN: ••••••)")
        #expect(String(reflecting: s) == "Secret(HF_TOKEN: ••••••)")
        var dumped = ""
        dump(s, to: &dumped)
        #expect(!dumped.contains("supersecret"))
        #expect("\(s.conversionRefused)".contains("cannot convert Secret(HF_TOKEN)"))
    }

    @Test func redactorMasksKnownValues() {
        let r = Redactor()
        r.register("hf_TOKEN_abcdef")
        r.register("abc")  // too short to redact
        let text = "token=hf_TOKEN_abcdef and again hf_TOKEN_abcdef; abc stays"
        #expect(r.redact(text) == "token=•••••• and again ••••••; abc stays")
        #expect(Secret(name: "X", value: "registered-globally-1").description.contains("••••••"))
        #expect(Redactor.shared.redact("v=registered-globally-1") == "v=••••••")
    }

    @Test func streamingRedactorHandlesSplitWrites() {
        let r = Redactor()
        r.register("SECRET-VALUE-42")
        let s = StreamingRedactor(redactor: r)
        var out = ""
        for chunk in ["log: SEC", "RET-VA", "LUE-42 done, SE", "CURITY fine", " tail SECRET-"] { out += s.write(chunk) }
        out += String(decoding: s.flush(), as: UTF8.self)
        #expect(out == "log: •••••• done, SECURITY fine tail SECRET-")
        #expect(!out.contains("SECRET-VALUE-42"))
    }

    @Test func cliSetReadsFromPipeAndListShowsNamesOnly() throws {
        let dir = makeTempDir("secrets"); defer { removeDir(dir) }
        let store = SecretStore(path: dir + "/s.json", environment: [:])
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let value = "piped-secret-value\n"
        _ = value.withCString { write(fds[1], $0, strlen($0)) }
        close(fds[1])
        let msg = try SecretsCLI.set(name: "PIPED", readFrom: fds[0], store: store)
        close(fds[0])
        #expect(msg.contains("PIPED") && !msg.contains("piped-secret-value"))
        #expect(try SecretsCLI.list(store: store) == ["PIPED"])
        #expect(try store.secret(named: "PIPED").withValue { $0 } == "piped-secret-value")
        #expect(try SecretsCLI.remove(name: "PIPED", store: store).hasPrefix("Removed"))
    }
}
