import Foundation
import Testing
@testable import FinchLang
@testable import FinchNotebook
import FinchModels
import FinchTensor
import FinchTrain

/// The tiny Llama-3-style fixture as a Hugging Face folder, with SmolLM2's tokenizer: digits are
/// single tokens below the model's vocabulary of 96, so rows of digits train it.
func tinyModelFolder(in dir: String) throws -> String {
    let m = dir + "/tiny-model"
    let fm = FileManager.default
    try fm.createDirectory(atPath: m, withIntermediateDirectories: true)
    let tiny = repoRoot + "/Tests/FinchModelsTests/Fixtures/tiny/tiny-llama3/"
    let tok = repoRoot + "/Tests/FinchModelsTests/Fixtures/tokenizers/smollm2/"
    for f in ["config.json", "model.safetensors", "generation_config.json"] { try fm.copyItem(atPath: tiny + f, toPath: m + "/" + f) }
    for f in ["tokenizer.json", "tokenizer_config.json"] { try fm.copyItem(atPath: tok + f, toPath: m + "/" + f) }
    return m
}

let digitRows = #"dataset([{"text": "31415926535897932384"}, {"text": "27182818284590452353"}, {"text": "14142135623730950488"}, {"text": "17320508075688772935"}])"#

/// Runs `body` on a thread the interpreter runs on directly (its mark and stack), so that a fault
/// armed there (`FaultInjection.arm` counts the arming thread only) reaches the built-ins.
func onInterpreterThread<T>(_ body: @escaping () throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        Thread.current.threadDictionary[largeStackThreadName] = true
        box.result = Result { try body() }
        done.signal()
    }
    thread.stackSize = 512 << 20
    thread.start()
    done.wait()
    return try box.result!.get()
}

func adapterBytes(_ folder: String) -> Data? {
    FileManager.default.contents(atPath: folder + "/adapter_model.safetensors")
}

/// A safetensors file of f32 zeros (well formed, whatever the shapes).
func writeSafetensors(_ path: String, _ tensors: [(String, [Int])]) throws {
    var header: [String: Any] = [:]
    var offset = 0
    for (name, shape) in tensors {
        let bytes = shape.reduce(1, *) * 4
        header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]]
        offset += bytes
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data()
    var n = UInt64(json.count).littleEndian
    withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
    data.append(json)
    data.append(Data(count: offset))
    try data.write(to: URL(fileURLWithPath: path))
}

/// #13 "Failures become errors, never exits" and "Validate, then change", in notebook sessions.
@Suite(.serialized) struct DeviceFailureNotebookTests {
    /// A failure injected into step 2 of a train() call: the cell reports it with what to lower,
    /// the next cell runs, and the adapter equals that of a one-step run.
    @Test(arguments: [FaultInjection.Phase.forward, .backward, .optimizer])
    func aNotebookSessionSurvivesAFailedStep(phase: FaultInjection.Phase) throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModelFolder(in: dir)
        let text = """
        %% reference
        data = \(digitRows)
        ref = load_model("\(model)")
        lora(ref, r=4)
        train(ref, data, steps=1, batch_size=2)
        save(ref, "\(dir)/ref")
        %% failing
        m = load_model("\(model)")
        lora(m, r=4)
        train(m, data, steps=3, batch_size=2)
        %% after
        save(m, "\(dir)/after")
        print("the session goes on")
        %% relora
        lora(m, r=2)
        """
        var options = RunOptions()
        options.keepGoing = true
        let run = try onInterpreterThread { () -> RunCapture in
            FaultInjection.arm(.init(phase: phase, allocation: 2, step: 2))
            defer { FaultInjection.disarm() }
            return try runNotebook(text: text, options: options, dir: dir)
        }
        #expect(run.code == 1)
        #expect(run.stderr.contains("training stopped at step 2, in the \(phase.rawValue)"), "\(run.stderr)")
        #expect(run.stderr.contains("keeps the values of step 1") && run.stderr.contains("lower batch_size (now 2)"))
        #expect(run.stdout.contains("the session goes on"))
        let ref = try #require(adapterBytes(dir + "/ref")), after = try #require(adapterBytes(dir + "/after"))
        #expect(ref == after)
        // The failed run trained one step: the model's identity says so (memo keys, lora's refusal).
        #expect(run.stderr.contains("already has an adapter trained by 1 train() call"))
    }

    /// Every built-in is a boundary: an error its work left pending is thrown after it, one left
    /// before it (by a path that is no boundary) before its body runs.
    @Test func builtinsThrowPendingDeviceErrors() throws {
        let oom = DeviceError(device: .cpu, kind: .outOfMemory(bytes: 1 << 20, inUse: 0, free: nil, total: nil))
        let e1 = #expect(throws: FinchError.self) { try bridge { () -> Int in DeviceErrors.record(oom); return 1 } }
        #expect(e1?.message.contains("out of host memory allocating 1.00 MiB") == true && e1?.message.contains("lower batch_size") == true)
        DeviceErrors.record(oom)
        var ran = false
        #expect(throws: FinchError.self) { try bridge { ran = true } }
        #expect(!ran && DeviceErrors.pending == nil)
        #expect(try bridge { 2 } == 2)
    }

    /// load_adapter of a well-formed file whose tensors do not fit: the trained adapter stays.
    @Test func loadAdapterThatDoesNotFitLeavesTheTrainedAdapter() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModelFolder(in: dir)
        let bad = dir + "/bad"
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try #"{"peft_type": "LORA", "r": 4, "lora_alpha": 16, "target_modules": ["q_proj"]}"#.write(toFile: bad + "/adapter_config.json", atomically: true, encoding: .utf8)
        // Layer 0 fits; layer 1's lora_B has 16 rows for a 32-row projection.
        let key = { (l: Int, w: String) in "base_model.model.model.layers.\(l).self_attn.q_proj.\(w).weight" }
        try writeSafetensors(bad + "/adapter_model.safetensors", [(key(0, "lora_A"), [4, 32]), (key(0, "lora_B"), [32, 4]),
                                                                  (key(1, "lora_A"), [4, 32]), (key(1, "lora_B"), [16, 4])])
        let run = try runNotebook(text: """
        %% train
        data = \(digitRows)
        m = load_model("\(model)")
        lora(m, r=4)
        train(m, data, steps=2, batch_size=2)
        save(m, "\(dir)/trained")
        %% load
        load_adapter(m, "\(bad)", replace=true)
        %% after
        save(m, "\(dir)/after")
        print(m.trainable_params)
        """, options: { var o = RunOptions(); o.keepGoing = true; return o }(), dir: dir)
        #expect(run.stderr.contains("do not fit"), "\(run.stderr)")
        #expect(run.stdout.contains("3712"))
        let trained = try #require(adapterBytes(dir + "/trained")), after = try #require(adapterBytes(dir + "/after"))
        #expect(trained == after)
    }

    /// lora() on a model whose adapter was trained refuses to discard it unless replace=true; a
    /// fresh adapter (made again from its seed) is replaced without asking.
    @Test func loraKeepsATrainedAdapterUnlessReplaceIsTrue() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModelFolder(in: dir)
        let run = try runNotebook(text: """
        %% train
        data = \(digitRows)
        m = load_model("\(model)")
        lora(m, r=2)
        lora(m, r=4)
        train(m, data, steps=1, batch_size=2)
        save(m, "\(dir)/trained")
        %% again
        m2 = lora(m, r=8)
        %% kept
        save(m, "\(dir)/kept")
        print(m.trainable_params)
        lora(m, r=8, replace=true)
        print(m.trainable_params)
        """, options: { var o = RunOptions(); o.keepGoing = true; return o }(), dir: dir)
        #expect(run.stderr.contains("already has an adapter trained by 1 train() call (r 4, 3,712 parameters)"), "\(run.stderr)")
        #expect(run.stderr.contains("replace=true") && run.stderr.contains("in place"))
        #expect(run.stdout == "3712\n7424\n")
        #expect(try #require(adapterBytes(dir + "/trained")) == (try #require(adapterBytes(dir + "/kept"))))
    }

    /// The same refusal after load_adapter, and help says it.
    @Test func loraKeepsALoadedAdapterAndHelpSaysInPlace() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModelFolder(in: dir)
        let run = try runNotebook(text: """
        %% a
        m = load_model("\(model)")
        lora(m, r=4)
        save(m, "\(dir)/fresh")
        load_adapter(m, "\(dir)/fresh")
        lora(m, r=4)
        """, dir: dir)
        #expect(run.stderr.contains("already has an adapter loaded with load_adapter()"), "\(run.stderr)")
        let doc = makeRegistry().lookup("lora")?.doc ?? ""
        #expect(doc.contains("in place") && doc.contains("replace=true"))
    }

    /// A device failure while making the new adapter (lora, load_adapter) or a merged export
    /// leaves the model (and the export folder) exactly as it was.
    @Test func deviceFailuresInBuiltinsThatChangeAModelChangeNothing() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(try tinyModelFolder(in: dir))
        var lc = LoRAConfig(); lc.rank = 4
        try model.network.attachLoRA(lc)
        for (_, t) in model.network.trainableParameters { try t.assign((0..<t.count).map { Float($0 % 7) * 0.01 }) }
        func adapter() -> [[Float]] { model.network.trainableParameters.map { $0.tensor.toArray() } }
        let before = adapter()
        try AdapterIO.save(model, to: dir + "/adapter")
        try MergedExport.save(model, to: dir + "/merged", dtype: .f32)
        let merged = try FileManager.default.contentsOfDirectory(atPath: dir + "/merged").sorted()
        let mergedWeights = FileManager.default.contents(atPath: dir + "/merged/model.safetensors")

        for allocation in [1, 5, 20] {
            var other = LoRAConfig(); other.rank = 8
            FaultInjection.arm(.init(phase: .any, allocation: allocation))
            #expect(throws: DeviceError.self) { try model.network.attachLoRA(other) }
            FaultInjection.arm(.init(phase: .any, allocation: allocation))
            #expect(throws: DeviceError.self) { try AdapterIO.load(into: model, from: dir + "/adapter") }
            FaultInjection.arm(.init(phase: .any, allocation: allocation))
            #expect(throws: (any Error).self) { try MergedExport.save(model, to: dir + "/merged", dtype: .f32) }
            FaultInjection.disarm()
            #expect(DeviceErrors.pending == nil)
            #expect(adapter() == before && model.network.loraConfig == lc)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/merged").sorted() == merged)
            #expect(FileManager.default.contents(atPath: dir + "/merged/model.safetensors") == mergedWeights)
        }
    }
}

/// The REPL and `finch run` processes with `FINCH_FAULT`: the process goes on (REPL) or exits 1
/// (`finch run`), and the adapter saved after the failure is the step-1 adapter.
extension REPLProcessTests {
    func finchWithFault(_ args: [String], stdin: String, cwd: String, fault: String?) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: finchBinary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["FINCH_STDLIB"] = repoRoot + "/stdlib"
        env["NO_COLOR"] = "1"
        env["FINCH_FAULT"] = fault
        p.environment = env
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()  // both streams are a few KiB
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test func theREPLSurvivesInjectedFailuresInEveryPhase() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try tinyModelFolder(in: dir)
        func script(steps: Int, out: String) -> String {
            """
            data = \(digitRows)
            m = load_model("\(model)")
            lora(m, r=4)
            train(m, data, steps=\(steps), batch_size=2)
            save(m, "\(dir)/\(out)")
            print("still here")

            """
        }
        let ref = try finchWithFault([], stdin: script(steps: 1, out: "ref"), cwd: try tempDirectory(), fault: nil)
        #expect(ref.code == 0, "\(ref.err)")
        let reference = try #require(adapterBytes(dir + "/ref"))
        for phase in ["forward", "backward", "optimizer"] {
            let r = try finchWithFault([], stdin: script(steps: 3, out: phase), cwd: try tempDirectory(), fault: "\(phase):2@2")
            #expect(r.err.contains("training stopped at step 2, in the \(phase)"), "\(r.err)")
            #expect(r.err.contains("[injected by FINCH_FAULT]"))
            #expect(r.out.contains("still here"))
            #expect(r.code == 1)  // piped input: an error makes the exit status 1
            #expect(adapterBytes(dir + "/" + phase) == reference)
        }
        // finch run: the failing cell is reported and the run exits 1.
        let nb = dir + "/nb.cell"
        try "%% train\n\(script(steps: 3, out: "run"))".write(toFile: nb, atomically: true, encoding: .utf8)
        let run = try finchWithFault(["run", nb], stdin: "", cwd: dir, fault: "backward:1@2")
        #expect(run.code == 1)
        #expect(run.err.contains("training stopped at step 2, in the backward pass"), "\(run.err)")
    }
}
