import Foundation
import Testing
import FinchCUDA
@testable import FinchLang
@testable import FinchNotebook
import FinchTensor

/// `train(..., devices=)`: the argument, the plan against a (described) machine, and the error on
/// this machine, which has no GPU.
@Suite struct TrainDevicesTests {
    @Test func devicesArgumentForms() throws {
        #expect(try TrainDevices.parse(.none) == .own)
        #expect(try TrainDevices.parse(.string("cpu")) == .own)
        #expect(try TrainDevices.parse(.string("CPU")) == .own)
        #expect(try TrainDevices.parse(.string("all")) == .all)
        #expect(try TrainDevices.parse(.list(FinchList([.int(1), .int(0)]))) == .list([1, 0]))
    }

    @Test(arguments: [
        (Value.string("gpu"), "got \"gpu\""),
        (Value.int(2), "got a int"),
        (Value.list(FinchList([])), "the list is empty"),
        (Value.list(FinchList([.int(0), .int(0)])), "GPU 0 is listed twice"),
        (Value.list(FinchList([.int(-1)])), "-1 is not a GPU number"),
        (Value.list(FinchList([.string("0")])), "is not a GPU number"),
    ])
    func badDevicesAreExplained(value: Value, message: String) {
        do { _ = try TrainDevices.parse(value); Issue.record("accepted \(value)") } catch {
            #expect("\(error)".contains("devices must be none, \"cpu\", \"all\" or a list of GPU numbers"), "\(error)")
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    func plan(_ d: TrainDevices, on device: Device, gpus: Int, launch: LaunchConfig? = nil) throws -> String {
        "\(try TrainPlacement.plan(d, modelDevice: device, gpuCount: { gpus }, launch: launch))"
    }

    @Test func plansOnMachinesWithGPUs() throws {
        #expect(try plan(.all, on: .cuda(0), gpus: 4) == "threads([0, 1, 2, 3])")
        // The model's own GPU is rank 0 (it reports, checkpoints and keeps the result).
        #expect(try plan(.list([0, 2]), on: .cuda(2), gpus: 4) == "threads([2, 0])")
        #expect(try plan(.list([1]), on: .cuda(1), gpus: 4) == "single")
        #expect(try plan(.own, on: .cpu, gpus: 0) == "single")
        #expect(throws: FinchError.self) { try plan(.list([0, 4]), on: .cuda(0), gpus: 4) }
        do { _ = try plan(.list([0, 1]), on: .cpu, gpus: 2); Issue.record("trained copies of a CPU model") } catch {
            #expect("\(error)".contains("it is on cpu. Load it on one of them first: load_model(..., device=\"cuda:0\")"), "\(error)")
        }
        do { _ = try plan(.list([0, 1]), on: .cuda(3), gpus: 4); Issue.record("model outside the list") } catch {
            #expect("\(error)".contains("it is on cuda:3"))
        }
    }

    @Test func plansInATorchrunLaunch() throws {
        let launch = LaunchConfig(rank: 1, worldSize: 2, localRank: 1, masterAddr: "127.0.0.1", masterPort: 29500, launcher: "torchrun")
        #expect(try plan(.own, on: .cuda(1), gpus: 2, launch: launch).hasPrefix("process("))
        do { _ = try plan(.all, on: .cuda(1), gpus: 2, launch: launch); Issue.record("devices= inside a launch") } catch {
            #expect("\(error)".contains("rank 1 of 2 (started by torchrun)"))
        }
        do { _ = try plan(.own, on: .cuda(0), gpus: 2, launch: launch); Issue.record("wrong GPU for LOCAL_RANK") } catch {
            #expect("\(error)".contains("must train on cuda:1 (LOCAL_RANK)"))
        }
    }

    @Test func withoutGPUsTheReasonIsNamed() throws {
        struct NoDriver: Error, CustomStringConvertible { var description: String { "libcuda.so.1 not found" } }
        do {
            _ = try TrainPlacement.plan(.list([0, 1]), modelDevice: .cpu, gpuCount: { throw NoDriver() }, launch: nil)
            Issue.record("planned without a driver")
        } catch {
            #expect("\(error)" == "train(): devices=[0, 1] needs CUDA GPUs, but none can be used here: libcuda.so.1 not found. Leave devices out (or devices=\"cpu\") to train on this machine's cpu")
        }
        do { _ = try plan(.all, on: .cpu, gpus: 0); Issue.record("planned with no GPUs") } catch {
            #expect("\(error)".contains("devices=\"all\" needs CUDA GPUs, but this machine has none"))
        }
    }

    /// On this machine (no GPU): the notebook cell fails before training, naming why; devices="cpu"
    /// trains as without it.
    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/dev/nvidia0"), "a GPU is present"))
    func notebookWithoutAGPU() throws {
        let dir = try tempDirectory()
        let model = try tinyModelFolder(in: dir)
        let r = try runNotebook(text: """
        %% setup
        m = lora(load_model("\(model)", device="cpu"), r=2)
        data = \(digitRows)
        %% several
        train(m, data, steps=1, batch_size=2, devices=[0, 1])
        """, dir: dir)
        #expect(r.code != 0)
        #expect(r.stderr.contains("devices=[0, 1] needs CUDA GPUs, but none can be used here"), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("not found"), "the reason (no libcuda) is named: \(r.stderr)")
        #expect(!r.stderr.contains("training:"), "nothing trained")

        let all = try runNotebook(text: """
        %% setup
        m = lora(load_model("\(model)", device="cpu"), r=2)
        data = \(digitRows)
        %% all
        train(m, data, steps=1, batch_size=2, devices="all")
        """, dir: dir)
        #expect(all.code != 0)
        #expect(all.stderr.contains("devices=\"all\" needs CUDA GPUs"), "stderr: \(all.stderr)")

        let cpu = try runNotebook(text: """
        %% setup
        m = lora(load_model("\(model)", device="cpu"), r=2)
        data = \(digitRows)
        %% cpu
        r = train(m, data, steps=2, batch_size=2, devices="cpu")
        print(len(r.losses))
        """, dir: dir)
        #expect(cpu.code == 0, "stderr: \(cpu.stderr)")
        #expect(cpu.stdout.contains("2"))
    }
}
