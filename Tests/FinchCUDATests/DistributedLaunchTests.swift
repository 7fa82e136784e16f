import CFinchKernels
import Foundation
import Testing
@testable import FinchCUDA
import FinchTensor

/// The multi-process launch on the CPU: the torchrun/SLURM environment and NCCL's unique-id
/// bootstrap over loopback TCP (a fake 128-byte id; NCCL itself needs GPUs).
@Suite struct LaunchConfigTests {
    let torchrun = ["RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3", "MASTER_ADDR": "node-a", "MASTER_PORT": "29600"]

    @Test func torchrunEnvironment() throws {
        let c = try #require(try LaunchConfig.fromEnvironment(torchrun))
        #expect(c == LaunchConfig(rank: 3, worldSize: 8, localRank: 3, masterAddr: "node-a", masterPort: 29600, launcher: "torchrun"))
    }

    @Test func defaultsAndNoLaunch() throws {
        #expect(try LaunchConfig.fromEnvironment([:]) == nil)
        #expect(try LaunchConfig.fromEnvironment(["HOME": "/root"]) == nil)
        // A world of one needs no coordination (plain `srun finch …`).
        #expect(try LaunchConfig.fromEnvironment(["SLURM_PROCID": "0", "SLURM_NTASKS": "1"]) == nil)
        #expect(try LaunchConfig.fromEnvironment(["RANK": "0", "WORLD_SIZE": "1"]) == nil)
        let c = try #require(try LaunchConfig.fromEnvironment(["RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"]))
        #expect(c.masterPort == 29500)
        #expect(c.localRank == 1)
    }

    @Test func slurmEnvironmentAndPrecedence() throws {
        let slurm = ["SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "MASTER_ADDR": "gpu-001"]
        let c = try #require(try LaunchConfig.fromEnvironment(slurm))
        #expect(c == LaunchConfig(rank: 5, worldSize: 16, localRank: 1, masterAddr: "gpu-001", masterPort: 29500, launcher: "SLURM"))
        // torchrun inside a SLURM allocation: torchrun's variables describe this process.
        let both = try #require(try LaunchConfig.fromEnvironment(slurm.merging(torchrun) { $1 }))
        #expect(both.rank == 3 && both.worldSize == 8 && both.launcher == "torchrun")
    }

    @Test(arguments: [
        (["RANK": "abc"], "RANK=\"abc\" is not a whole number"),
        (["RANK": "8"], "RANK=8 must be in 0..<WORLD_SIZE (8)"),
        (["RANK": "-1"], "RANK=-1 must be in"),
        (["WORLD_SIZE": "0", "RANK": "0"], "WORLD_SIZE=0 must be at least 1"),
        (["WORLD_SIZE": "2.5"], "WORLD_SIZE=\"2.5\" is not a whole number"),
        (["LOCAL_RANK": "-2"], "LOCAL_RANK=-2 must not be negative"),
        (["MASTER_PORT": "70000"], "MASTER_PORT=\"70000\" is not a port number"),
        (["MASTER_PORT": "http"], "MASTER_PORT=\"http\" is not a port number"),
        (["MASTER_ADDR": " "], "MASTER_ADDR is not set"),
    ])
    func badTorchrunValuesAreExplained(change: [String: String], message: String) throws {
        let env = torchrun.merging(change) { $1 }
        #expect(throws: DataParallelError.self) { try LaunchConfig.fromEnvironment(env) }
        do { _ = try LaunchConfig.fromEnvironment(env) } catch {
            #expect("\(error)".contains(message), "\(error)")
            #expect("\(error)".hasPrefix("torchrun launch:"))
        }
    }

    @Test func missingCounterpartsAreExplained() throws {
        do { _ = try LaunchConfig.fromEnvironment(["RANK": "1"]); Issue.record("accepted RANK alone") } catch {
            #expect("\(error)".contains("RANK is set but WORLD_SIZE is not"))
        }
        do { _ = try LaunchConfig.fromEnvironment(["WORLD_SIZE": "4"]); Issue.record("accepted WORLD_SIZE alone") } catch {
            #expect("\(error)".contains("WORLD_SIZE is set but RANK is not"))
        }
        // SLURM without MASTER_ADDR: how to set it.
        do { _ = try LaunchConfig.fromEnvironment(["SLURM_PROCID": "0", "SLURM_NTASKS": "2"]); Issue.record("accepted no MASTER_ADDR") } catch {
            #expect("\(error)".contains("MASTER_ADDR is not set"))
            #expect("\(error)".contains("scontrol show hostnames"))
        }
        do { _ = try LaunchConfig.fromEnvironment(["SLURM_PROCID": "x", "SLURM_NTASKS": "2", "MASTER_ADDR": "a"]); Issue.record("accepted x") } catch {
            #expect("\(error)".contains("SLURM_PROCID=\"x\""))
        }
    }
}

@Suite(.serialized) struct UniqueIdBootstrapTests {
    static let fakeId: [UInt8] = (0..<128).map { UInt8(($0 * 37 + 11) % 256) }

    /// Runs `body(rank)` for ranks 1..<n on threads; returns each rank's result.
    func clients(_ n: Int, _ body: @escaping @Sendable (Int) throws -> [UInt8]) -> () -> [Int: Result<[UInt8], Error>] {
        final class Box: @unchecked Sendable { var results: [Int: Result<[UInt8], Error>] = [:] }
        let box = Box(), lock = NSLock(), group = DispatchGroup()
        for r in 1..<n {
            group.enter()
            Thread {
                let res = Result { try body(r) }
                lock.lock(); box.results[r] = res; lock.unlock()
                group.leave()
            }.start()
        }
        return { group.wait(); return box.results }
    }

    @Test func everyRankReceivesRankZerosId() throws {
        let server = try UniqueIdBootstrap.Server(port: 0)
        let port = server.port
        #expect(port != 0)
        let world = 5
        let wait = clients(world) { r in try UniqueIdBootstrap.fetch(host: "127.0.0.1", port: port, rank: r, worldSize: world, timeout: 60) }
        try server.serve(id: Self.fakeId, worldSize: world, timeout: 60)
        let results = wait()
        #expect(results.count == world - 1)
        for (_, r) in results { #expect(try r.get() == Self.fakeId) }
    }

    @Test func exchangeThroughTheLaunchConfig() throws {
        // A free port for rank 0 to listen on (bound, then released).
        let port = try UniqueIdBootstrap.Server(port: 0).port
        @Sendable func config(_ rank: Int) -> LaunchConfig {
            LaunchConfig(rank: rank, worldSize: 3, localRank: rank, masterAddr: "localhost", masterPort: port, launcher: "torchrun")
        }
        let wait = clients(3) { r in try UniqueIdBootstrap.exchange(id: nil, config: config(r), timeout: 60) }
        #expect(try UniqueIdBootstrap.exchange(id: Self.fakeId, config: config(0), timeout: 60) == Self.fakeId)
        for (_, r) in wait() { #expect(try r.get() == Self.fakeId) }
        #expect(throws: DataParallelError.self) { try UniqueIdBootstrap.exchange(id: nil, config: config(0), timeout: 1) }
    }

    @Test func aRankWithAnotherWorldSizeIsRefused() throws {
        let server = try UniqueIdBootstrap.Server(port: 0)
        let port = server.port
        let wait = clients(2) { _ in try UniqueIdBootstrap.fetch(host: "127.0.0.1", port: port, rank: 1, worldSize: 4, timeout: 60) }
        do { try server.serve(id: Self.fakeId, worldSize: 2, timeout: 60); Issue.record("served a rank of another world") } catch {
            #expect("\(error)".contains("world size 4, rank 0 with 2"))
        }
        #expect(throws: DataParallelError.self) { try wait()[1]!.get() }
    }

    @Test func aRankTwiceIsRefused() throws {
        let server = try UniqueIdBootstrap.Server(port: 0)
        let port = server.port
        let wait = clients(3) { _ in try UniqueIdBootstrap.fetch(host: "127.0.0.1", port: port, rank: 1, worldSize: 3, timeout: 60) }
        do { try server.serve(id: Self.fakeId, worldSize: 3, timeout: 60); Issue.record("served rank 1 twice") } catch {
            #expect("\(error)".contains("rank 1 connected twice"))
        }
        let results = wait()
        #expect(results.values.filter { (try? $0.get()) == Self.fakeId }.count == 1)
    }

    @Test func noRankZeroIsAnErrorNamingTheAddress() throws {
        let port = try UniqueIdBootstrap.Server(port: 0).port  // nothing listens there now
        do { _ = try UniqueIdBootstrap.fetch(host: "127.0.0.1", port: port, rank: 1, worldSize: 2, timeout: 0.3); Issue.record("connected to nothing") } catch {
            #expect("\(error)".contains("could not reach rank 0 at 127.0.0.1:\(port)"))
            #expect("\(error)".contains("MASTER_ADDR"))
        }
        do { _ = try UniqueIdBootstrap.fetch(host: "no-such-host.invalid", port: port, rank: 1, worldSize: 2, timeout: 0.2); Issue.record("resolved .invalid") } catch {
            #expect("\(error)".contains("cannot resolve no-such-host.invalid"))
        }
        #expect(throws: DataParallelError.self) { try UniqueIdBootstrap.Server(port: 0).serve(id: [1, 2, 3], worldSize: 2, timeout: 1) }
    }
}

@Suite(.serialized) struct NCCLSetupTests {
    @Test func uniqueIdIsNCCLs128Bytes() {
        #expect(MemoryLayout<finch_nccl_unique_id>.size == UniqueIdBootstrap.idBytes)
    }

    @Test func nvlsIsOffUnlessTheUserChose() {
        let saved = ProcessInfo.processInfo.environment["NCCL_NVLS_ENABLE"]
        defer { if let saved { setenv("NCCL_NVLS_ENABLE", saved, 1) } else { unsetenv("NCCL_NVLS_ENABLE") } }
        unsetenv("NCCL_NVLS_ENABLE")
        NCCLLibrary.applyEnvironmentDefaults()
        #expect(String(cString: getenv("NCCL_NVLS_ENABLE")) == "0")
        setenv("NCCL_NVLS_ENABLE", "1", 1)
        NCCLLibrary.applyEnvironmentDefaults()
        #expect(String(cString: getenv("NCCL_NVLS_ENABLE")) == "1")
    }

    @Test(.enabled(if: !gpuPresent, "a GPU is present: NCCL may initialise"))
    func withoutAGPUTheReducersExplainWhy() {
        do { _ = try NCCL.reducers(devices: [0, 1]); Issue.record("NCCL reducers without a GPU") } catch {
            #expect("\(error)".contains("not found") || "\(error)".contains("no CUDA GPU"), "\(error)")
        }
        #expect(throws: DataParallelError.self) { try NCCL.reducers(devices: [1, 1]) }
    }
}
