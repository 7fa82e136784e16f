import Foundation
import Testing
@testable import FinchModels

/// Where `load_model()` looks for the embedded model: $FINCH_MODELS, the per-user data folder, then models/ in
/// the notebook's folder; relative sources resolve against the notebook's folder.
struct ModelSearchTests {
    func tempFolder() throws -> String {
        let dir = NSTemporaryDirectory() + "finch-models-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return URL(fileURLWithPath: dir).standardized.path
    }

    @Test func searchOrderIsEnvironmentThenUserDataThenBeside() {
        let dirs = ModelLoader.defaultModelFolders(environment: ["FINCH_MODELS": "/m", "XDG_DATA_HOME": "/data", "HOME": "/home/u"], base: "/nb")
        #expect(Array(dirs.prefix(3)) == ["/m", "/data/finch/models", "/nb/models"])
        let plain = ModelLoader.defaultModelFolders(environment: ["HOME": "/home/u"], base: "/nb")
        #expect(Array(plain.prefix(2)) == ["/home/u/.local/share/finch/models", "/nb/models"])
        // A relative XDG_DATA_HOME is invalid (XDG base directory spec) and ignored; an empty FINCH_MODELS too.
        #expect(ModelLoader.userModelFolder(environment: ["XDG_DATA_HOME": "rel", "HOME": "/h"]) == "/h/.local/share/finch/models")
        #expect(ModelLoader.defaultModelFolders(environment: ["FINCH_MODELS": "", "HOME": "/h"], base: "/nb").first == "/h/.local/share/finch/models")
    }

    @Test func theFirstFolderHoldingTheModelWins() throws {
        let data = try tempFolder(), nb = try tempFolder(), env = try tempFolder()
        try FileManager.default.createDirectory(atPath: data + "/finch/models", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: nb + "/models", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: nb + "/models/" + ModelLoader.defaultModelFile, contents: Data())
        #expect(ModelLoader.defaultModelPath(environment: ["XDG_DATA_HOME": data, "FINCH_MODELS": env], base: nb)
                == nb + "/models/" + ModelLoader.defaultModelFile)
        FileManager.default.createFile(atPath: data + "/finch/models/" + ModelLoader.defaultModelFile, contents: Data())
        #expect(ModelLoader.defaultModelPath(environment: ["XDG_DATA_HOME": data, "FINCH_MODELS": env], base: nb)
                == data + "/finch/models/" + ModelLoader.defaultModelFile)
        FileManager.default.createFile(atPath: env + "/" + ModelLoader.defaultModelFile, contents: Data())
        #expect(ModelLoader.defaultModelPath(environment: ["XDG_DATA_HOME": data, "FINCH_MODELS": env], base: nb)
                == env + "/" + ModelLoader.defaultModelFile)
    }

    @Test func aMissingDefaultModelSaysWhereFinchLookedAndHowToFetchIt() throws {
        let nb = try tempFolder()
        let message = "\(ModelLoader.defaultModelMissing(base: nb))"
        #expect(message.contains(ModelLoader.defaultModelFile + ": not found"))
        #expect(message.contains(nb + "/models"))
        #expect(message.contains(ModelLoader.userModelFolder()))
        #expect(message.contains("scripts/setup"))
        #expect(message.contains("FINCH_MODELS"))
    }

    @Test func relativeSourcesResolveAgainstTheBaseFolder() throws {
        let nb = try tempFolder()
        do {
            _ = try ModelLoader.load("weights/sub/none.gguf", options: LoadOptions(baseDirectory: nb))
            Issue.record("a missing file loaded")
        } catch let ModelError.fileNotFound(path, _) {
            #expect(path == nb + "/weights/sub/none.gguf")
        }
        // A file there is found (and read: this one is not a GGUF file).
        try FileManager.default.createDirectory(atPath: nb + "/weights", withIntermediateDirectories: true)
        try Data("not gguf".utf8).write(to: URL(fileURLWithPath: nb + "/weights/bad.gguf"))
        do {
            _ = try ModelLoader.load("weights/bad.gguf", options: LoadOptions(baseDirectory: nb))
            Issue.record("a bad file loaded")
        } catch let ModelError.fileNotFound(path, _) {
            Issue.record("not found: \(path)")
        } catch {}
    }

    /// A Hub id goes to the resolver the caller passes in `LoadOptions` (no global one): with the id and
    /// `file`, and what it returns is loaded; without one the id is not found, and the error says why.
    @Test func hubIdsGoToTheResolverInTheOptions() throws {
        let folder = try HuggingFaceFolderTests.folder("tiny-llama3")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var o = LoadOptions()
        o.hubResolver = { repo, file in
            guard repo == "org/tiny", file == nil else { throw ModelError.invalidArgument("resolver asked for \(repo), \(file ?? "no file")") }
            return folder
        }
        let m = try ModelLoader.load("org/tiny", options: o)
        #expect(m.name == "org/tiny" && m.path == folder)
        o.file = "*.gguf"
        do {
            _ = try ModelLoader.load("org/tiny", options: o)
            Issue.record("the resolver was not asked for the file")
        } catch let ModelError.invalidArgument(message) {
            #expect(message == "resolver asked for org/tiny, *.gguf")
        }
        do {
            _ = try ModelLoader.load("org/tiny")
            Issue.record("a Hub id loaded without a resolver")
        } catch let ModelError.fileNotFound(name, hint) {
            #expect(name == "org/tiny" && hint.contains("not in the local Hugging Face cache"))
        }
    }
}
