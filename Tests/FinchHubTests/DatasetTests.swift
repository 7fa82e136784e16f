import Foundation
import Testing
import FinchSupport
import FinchTestHub
@testable import FinchHub

@Suite struct DatasetTests {
    @Test func localJSONShapesAndJSONLines() throws {
        let dir = makeTempDir("ds"); defer { removeDir(dir) }
        writeFile(dir + "/array.json", #"[{"q":"a","n":1},{"q":"b","n":2.5},{"q":"c","n":null}]"#)
        writeFile(dir + "/columns.json", #"{"q":["a","b"],"n":[1,2]}"#)
        writeFile(dir + "/lines.jsonl", "{\"q\":\"a\",\"n\":1}\n\n{\"q\":\"b\",\"n\":2}\n")
        let loader = DatasetLoader()
        let a = try loader.load(source: dir + "/array.json")
        #expect(a.columns == ["q", "n"] && a.count == 3)
        #expect(a.row(1).map(\.1) == [.string("b"), .double(2.5)])
        let c = try loader.load(source: dir + "/columns.json")
        #expect(c.columns == ["q", "n"] && c.rows.map { $0[1].1 } == [.int(1), .int(2)])
        let l = try loader.load(source: dir + "/lines.jsonl")
        #expect(l.count == 2 && l.column("q") == [.string("a"), .string("b")])
    }

    @Test func csvFollowsRFC4180() throws {
        let dir = makeTempDir("ds"); defer { removeDir(dir) }
        writeFile(dir + "/d.csv", "id,text,score\r\n1,\"hello, world\",0.5\r\n2,\"line1\nline2\",1\r\n3,\"say \"\"hi\"\"\",\r\n")
        let d = try DatasetLoader().load(source: dir + "/d.csv")
        #expect(d.columns == ["id", "text", "score"])
        #expect(d.column("id") == [.int(1), .int(2), .int(3)])
        #expect(d.column("text") == [.string("hello, world"), .string("line1\nline2"), .string("say \"hi\"")])
        #expect(d.column("score") == [.double(0.5), .double(1), .null])
        writeFile(dir + "/bad.csv", "a,b\n1,2\n3\n")
        #expect(throws: DatasetError.badRow(source: "bad.csv", row: 1, field: "b", detail: "1 fields, header has 2")) {
            try DatasetLoader().load(source: dir + "/bad.csv")
        }
        writeFile(dir + "/open.csv", "a,b\n1,\"never closed\n")
        #expect(throws: DatasetError.self) { try DatasetLoader().load(source: dir + "/open.csv") }
    }

    @Test func badRowsNameTheRowAndField() throws {
        let dir = makeTempDir("ds"); defer { removeDir(dir) }
        writeFile(dir + "/missing.json", #"[{"a":1,"b":"x"},{"a":2,"b":"y"},{"a":3}]"#)
        #expect(throws: DatasetError.badRow(source: "missing.json", row: 2, field: "b", detail: "missing field")) {
            try DatasetLoader().load(source: dir + "/missing.json")
        }
        writeFile(dir + "/type.jsonl", "{\"a\":1,\"b\":\"x\"}\n{\"a\":\"two\",\"b\":\"y\"}\n")
        #expect(throws: DatasetError.badRow(source: "type.jsonl", row: 1, field: "a", detail: "expected number, found string")) {
            try DatasetLoader().load(source: dir + "/type.jsonl")
        }
        writeFile(dir + "/extra.json", #"[{"a":1},{"a":2,"zzz":3}]"#)
        #expect(throws: DatasetError.badRow(source: "extra.json", row: 1, field: "zzz", detail: "unexpected field (not in row 0)")) {
            try DatasetLoader().load(source: dir + "/extra.json")
        }
        writeFile(dir + "/broken.jsonl", "{\"a\":1}\n{\"a\":\n")
        do { _ = try DatasetLoader().load(source: dir + "/broken.jsonl"); Issue.record("expected an error") }
        catch { #expect("\(error)".contains("line 2")) }
    }

    @Test func splitSlicing() throws {
        let dir = makeTempDir("ds"); defer { removeDir(dir) }
        let rows = (0..<1000).map { #"{"i":\#($0)}"# }.joined(separator: "\n")
        writeFile(dir + "/data.jsonl", rows)
        let src = dir + "/data.jsonl"
        let loader = DatasetLoader()
        func ids(_ split: String) throws -> [Int] { try loader.load(source: src, split: split).column("i")!.compactMap(\.intValue) }
        #expect(try ids("train[:500]") == Array(0..<500))
        #expect(try ids("train[10%:]") == Array(100..<1000))
        #expect(try ids("train[-100:]") == Array(900..<1000))
        #expect(try ids("train[10:20]") == Array(10..<20))
        #expect(try ids("train[:5]+train[-2:]") == [0, 1, 2, 3, 4, 998, 999])
        #expect(try ids("train[:0.5%]") == Array(0..<5))
        #expect(try loader.load(source: src).count == 1000)
        #expect(throws: DatasetError.invalidSplit("train[abc:]")) { try loader.load(source: src, split: "train[abc:]") }
        #expect(throws: DatasetError.splitNotFound(split: "test", available: ["train"])) { try loader.load(source: src, split: "test") }
        let d = try loader.load(source: src, split: "train[:10]")
        #expect(d.shuffled(seed: 1).column("i") != d.column("i"))
        #expect(d.shuffled(seed: 1).column("i") == d.shuffled(seed: 1).column("i"))
        let (train, test) = d.trainTestSplit(testSize: 0.2, seed: 3)
        #expect(train.count == 8 && test.count == 2)
        #expect(Set((train.column("i")! + test.column("i")!).compactMap(\.intValue)) == Set(0..<10))
        #expect(d.preview(maxRows: 2).hasPrefix("DataTable(10 rows × 1 columns)\ni\n"))
    }

    @Test func localFolderSplitsByFileName() throws {
        let dir = makeTempDir("ds"); defer { removeDir(dir) }
        writeFile(dir + "/data/train-00000-of-00002.jsonl", "{\"x\":1}\n{\"x\":2}\n")
        writeFile(dir + "/data/train-00001-of-00002.jsonl", "{\"x\":3}\n")
        writeFile(dir + "/data/test.csv", "x\n9\n")
        let loader = DatasetLoader()
        #expect(try loader.load(source: dir).column("x") == [.int(1), .int(2), .int(3)])
        #expect(try loader.load(source: dir, split: "test").column("x") == [.int(9)])
        #expect(throws: DatasetError.configNotFound(name: "en", available: ["default"])) { try loader.load(source: dir, name: "en") }
    }

    @Test func localFolderWithCardUsesConfigs() throws {
        let root = makeTempDir("ds"); defer { removeDir(root) }
        DatasetTests.makeMedicalRepo(root)
        let dir = root + "/datasets/FreedomIntelligence/medical-o1-reasoning-SFT"
        let d = try DatasetLoader().load(source: dir, name: "en", split: "train[10%:]")
        #expect(d.count == 7 && d.columns == ["Question", "Complex_CoT", "Response"])
        #expect(try DatasetLoader().load(source: dir, name: "zh").count == 1)
    }

    static let medicalRows: [(String, String, String)] = (0..<8).map {
        ("Question \($0): A 45-year-old presents with \"chest pain\", what next?", "Let me think step by step, case \($0).\nFirst…", "Response \($0)")
    }

    static func makeMedicalRepo(_ root: String) {
        let repo = root + "/datasets/FreedomIntelligence/medical-o1-reasoning-SFT"
        writeFile(repo + "/README.md", """
        ---
        license: apache-2.0
        task_categories:
        - question-answering
        - text-generation
        language:
        - en
        - zh
        tags:
        - medical
        - biology
        configs:
        - config_name: en
          data_files: medical_o1_sft.json
        - config_name: zh
          data_files: medical_o1_sft_Chinese.json
        ---

        ## News
        A fixture in the layout of FreedomIntelligence/medical-o1-reasoning-SFT.
        """)
        let en = JSON.array(medicalRows.map { .object([("Question", .string($0.0)), ("Complex_CoT", .string($0.1)), ("Response", .string($0.2))]) })
        writeFile(repo + "/medical_o1_sft.json", en.serialized())
        writeFile(repo + "/medical_o1_sft_Chinese.json", #"[{"Question":"问题","Complex_CoT":"思考","Response":"回答"}]"#)
    }

    @Test func hubDatasetHonoursConfigsBlock() throws {
        let fx = try HubFixture(populate: false)
        DatasetTests.makeMedicalRepo(fx.root)
        let loader = DatasetLoader(hub: fx.client())
        let d = try loader.load(source: "FreedomIntelligence/medical-o1-reasoning-SFT", name: "en", split: "train[:5]")
        #expect(d.columns == ["Question", "Complex_CoT", "Response"])
        #expect(d.count == 5)
        #expect(d.values.map { $0[0].stringValue! } == DatasetTests.medicalRows.prefix(5).map(\.0))
        #expect(d.row(4).map(\.1) == [.string(DatasetTests.medicalRows[4].0), .string(DatasetTests.medicalRows[4].1), .string(DatasetTests.medicalRows[4].2)])
        let zh = try loader.load(source: "FreedomIntelligence/medical-o1-reasoning-SFT", name: "zh")
        #expect(zh.column("Response") == [.string("回答")])
        #expect(throws: DatasetError.configRequired(available: ["en", "zh"])) {
            try loader.load(source: "FreedomIntelligence/medical-o1-reasoning-SFT")
        }
        #expect(throws: DatasetError.configNotFound(name: "fr", available: ["en", "zh"])) {
            try loader.load(source: "FreedomIntelligence/medical-o1-reasoning-SFT", name: "fr")
        }
        // files land in the datasets cache layout; offline afterwards still loads
        #expect(Files.isDirectory(fx.home + "/hub/datasets--FreedomIntelligence--medical-o1-reasoning-SFT/snapshots"))
        fx.server.stop()
        let offline = DatasetLoader(hub: fx.client(offline: true))
        #expect(try offline.load(source: "FreedomIntelligence/medical-o1-reasoning-SFT", name: "en", split: "train[-3:]").count == 3)
    }

    @Test func hubDatasetWithoutCardInfersSplits() throws {
        let fx = try HubFixture(populate: false)
        let repo = fx.root + "/datasets/org/plain"
        writeFile(repo + "/data/train-00000.jsonl", "{\"t\":\"a\"}\n{\"t\":\"b\"}\n")
        writeFile(repo + "/data/validation.csv", "t\nc\n")
        let loader = DatasetLoader(hub: fx.client())
        #expect(try loader.load(source: "org/plain").column("t") == [.string("a"), .string("b")])
        #expect(try loader.load(source: "org/plain", split: "validation").column("t") == [.string("c")])
        #expect(throws: DatasetError.notFound("no such repo!")) { try loader.load(source: "no such repo!") }
        // more than one '/' cannot be a Hub id: a missing path, said so without asking the Hub
        #expect(throws: DatasetError.fileNotFound(path: "no/such/thing/here", directory: FileManager.default.currentDirectoryPath)) {
            try loader.load(source: "no/such/thing/here")
        }
        #expect(throws: DatasetError.fileNotFound(path: "missing.json", directory: FileManager.default.currentDirectoryPath)) {
            try loader.load(source: "missing.json")
        }
    }

    @Test func miniYAMLReadsCardShapes() {
        let y = MiniYAML.parse("""
        configs:
          - config_name: default
            default: true
            data_files:
              - split: train
                path: "data/train-*"
              - split: test
                path: [a.json, 'b.json']
        tags: [x, y]  # comment
        description: |
          line one
          line two
        """)
        let c = y["configs"]?.arrayValue?.first
        #expect(c?["config_name"] == .string("default"))
        #expect(c?["default"] == .bool(true))
        #expect(c?["data_files"]?.arrayValue?[0]["path"] == .string("data/train-*"))
        #expect(c?["data_files"]?.arrayValue?[1]["path"] == .array([.string("a.json"), .string("b.json")]))
        #expect(y["tags"] == .array([.string("x"), .string("y")]))
        #expect(y["description"] == .string("line one\nline two"))
        let files = try? DataFileResolution.configDataFiles(readme: "---\n" + """
        configs:
          - config_name: default
            data_files:
              - split: train
                path: "data/train-*"
        """ + "\n---\n", name: nil, files: ["data/train-0.jsonl", "data/train-1.jsonl", "data/test-0.jsonl"])
        #expect(files?["train"] == ["data/train-0.jsonl", "data/train-1.jsonl"])
    }
}
