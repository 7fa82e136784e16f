import Foundation
import Testing
@testable import FinchNotebook

/// `load_model(device=…)` where there is no GPU (CI): a named device that cannot be had is
/// explained and the load continues on the CPU; an unknown name is an error that lists the choices.
@Suite struct DeviceBindingTests {
    @Test func cudaWithoutAGPUSaysWhyAndFallsBackToTheCPU() throws {
        let r = try runNotebook(text: """
        %% load
        m = load_model("missing-model.gguf", device="cuda")
        """)
        #expect(r.code != 0)  // the file does not exist: the load itself fails after the device note
        if !FileManager.default.fileExists(atPath: "/dev/nvidia0") {
            #expect(r.stderr.contains("no usable GPU"), "stderr: \(r.stderr)")
            #expect(r.stderr.contains("running on the CPU"))
        }
        #expect(r.stderr.contains("missing-model.gguf"))
    }

    @Test func unknownDeviceNamesTheChoices() throws {
        let r = try runNotebook(text: """
        %% load
        m = load_model("missing-model.gguf", device="tpu")
        """)
        #expect(r.code != 0)
        #expect(r.stderr.contains(#"device must be "cpu", "cuda", "cuda:N" or "auto""#), "stderr: \(r.stderr)")
    }
}
