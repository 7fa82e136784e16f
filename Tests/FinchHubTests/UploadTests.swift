import Foundation
import Testing
import FinchTestHub
@testable import FinchHub

@Suite struct UploadTests {
    func makeAdapterFolder(_ dir: String, weights: Data) {
        writeFile(dir + "/adapter_config.json", #"{"base_model_name_or_path":"HuggingFaceTB/SmolLM2-135M-Instruct","peft_type":"LORA","task_type":"CAUSAL_LM","r":16,"lora_alpha":32,"lora_dropout":0.05,"target_modules":["q_proj","v_proj"]}"#)
        writeFile(dir + "/adapter_model.safetensors", weights)
        writeFile(dir + "/training_summary.json", #"{"steps":60,"epochs":1,"final_loss":1.2345,"learning_rate":0.0002}"#)
        writeFile(dir + "/notes/extra.txt", "small text file\n")
    }

    @Test func uploadThenByteIdenticalDownload() throws {
        let fx = try HubFixture(populate: false)
        let local = makeTempDir("adapter"); defer { removeDir(local) }
        let weights = randomBytes(1_500_000, seed: 11)   // LFS-sized (over the server's 1 MiB threshold)
        makeAdapterFolder(local, weights: weights)
        let hub = fx.client()
        let result = try hub.upload(folder: local, repo: "\(HubFixture.user)/my-adapter", message: "First push",
                                    card: ModelCardInfo(dataset: "FreedomIntelligence/medical-o1-reasoning-SFT"))
        #expect(result.repoURL == fx.server.endpoint + "/\(HubFixture.user)/my-adapter")
        #expect(result.uploadedLFSObjects == 1)
        #expect(result.files == ["adapter_config.json", "adapter_model.safetensors", "notes/extra.txt", "training_summary.json", "README.md"])
        #expect(result.commitOid?.count == 40)
        // exactly one commit request; the LFS object went through the batch API without the token
        let log = fx.server.requests
        #expect(log.filter { $0.path.contains("/commit/") }.count == 1)
        #expect(log.filter { $0.path.hasPrefix("/lfs-upload/") && $0.method == "PUT" }.count == 1)
        #expect(log.filter { $0.path.hasPrefix("/lfs-upload/") && $0.method == "PUT" }.allSatisfy { !$0.hadAuthorization })

        // re-download through the Hub protocol: byte-identical
        let hub2 = fx.client()
        for name in ["adapter_config.json", "adapter_model.safetensors", "notes/extra.txt", "training_summary.json"] {
            let p = try hub2.download(repo: "\(HubFixture.user)/my-adapter", path: name)
            #expect(contents(p) == contents(local + "/" + name), "\(name)")
        }
        let card = String(decoding: contents(try hub2.download(repo: "\(HubFixture.user)/my-adapter", path: "README.md"))!, as: UTF8.self)
        #expect(card.hasPrefix("---\nbase_model: \"HuggingFaceTB/SmolLM2-135M-Instruct\"\nlibrary_name: peft\n"))
        #expect(card.contains("| r | 16 |"))
        #expect(card.contains("| target_modules | q_proj, v_proj |"))
        #expect(card.contains("| final_loss | 1.234 |"))
        #expect(card.contains("- \"FreedomIntelligence/medical-o1-reasoning-SFT\""))

        // pushing again skips the LFS object the server already has
        fx.server.clearLog()
        let again = try hub.upload(folder: local, repo: "\(HubFixture.user)/my-adapter", message: "Second push")
        #expect(again.skippedLFSObjects == 1 && again.uploadedLFSObjects == 0)
        #expect(fx.server.requests.filter { $0.path.hasPrefix("/lfs-upload/") }.isEmpty)
    }

    @Test func multipartUploadAndInterruptedCommitLeavesNothing() throws {
        let fx = try HubFixture(populate: false)
        fx.server.multipartThreshold = 200_000
        fx.server.multipartChunkSize = 100_000
        let local = makeTempDir("folder"); defer { removeDir(local) }
        let big = randomBytes(350_000, seed: 5)
        writeFile(local + "/model.safetensors", big)
        writeFile(local + "/config.json", #"{"a":1}"#)
        let hub = fx.client()
        // the commit fails every time: the repo gets no files at all
        fx.server.addFault(Fault(.status(500), pathContains: "/commit/", times: 100))
        #expect(throws: HubError.self) { try hub.upload(folder: local, repo: "\(HubFixture.user)/big") }
        let repoDir = fx.root + "/models/\(HubFixture.user)/big"
        #expect(!Files.exists(repoDir + "/model.safetensors"))
        #expect(!Files.exists(repoDir + "/config.json"))
        #expect(fx.server.requests.filter { $0.path.contains("/part/") }.count == 4)  // ceil(350k / 100k)
        fx.server.clearFaults()
        fx.server.clearLog()
        let ok = try hub.upload(folder: local, repo: "\(HubFixture.user)/big")
        #expect(ok.skippedLFSObjects == 1)   // uploaded during the failed push
        #expect(contents(try fx.client().download(repo: "\(HubFixture.user)/big", path: "model.safetensors")) == big)
    }

    @Test func uploadNeedsValidToken() throws {
        let fx = try HubFixture(populate: false)
        let local = makeTempDir("folder"); defer { removeDir(local) }
        writeFile(local + "/a.txt", "x")
        #expect(throws: HubError.noToken) { try fx.client(token: nil).upload(folder: local, repo: "someone/x") }
        #expect(throws: HubError.self) { try fx.client(token: "hf_not_valid_at_all").upload(folder: local, repo: "someone/x") }
        #expect(!Files.exists(fx.root + "/models/someone/x"))
    }
}
