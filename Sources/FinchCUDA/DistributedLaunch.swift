import Foundation
import FinchTensor
#if canImport(Glibc)
import Glibc
#endif

// Several processes (one per GPU, on one or several nodes) started by torchrun or SLURM: the
// environment says which rank this process is, and where rank 0 serves NCCL's unique id.
//
//   torchrun --nproc-per-node 8 --no-python finch run notebook.cell    RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   srun --ntasks-per-node 8 --gpus-per-node 8 finch run notebook.cell    SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (+ MASTER_ADDR)

/// Which rank this process is in a multi-process launch.
public struct LaunchConfig: Equatable, Sendable {
    public var rank: Int
    public var worldSize: Int
    /// The rank on this node: the GPU this process uses (cuda:localRank).
    public var localRank: Int
    /// Where rank 0 serves the unique id.
    public var masterAddr: String
    public var masterPort: UInt16
    /// "torchrun" or "SLURM", for messages.
    public var launcher: String

    public static let defaultPort: UInt16 = 29500  // torch.distributed's

    public init(rank: Int, worldSize: Int, localRank: Int, masterAddr: String, masterPort: UInt16, launcher: String) {
        self.rank = rank; self.worldSize = worldSize; self.localRank = localRank
        self.masterAddr = masterAddr; self.masterPort = masterPort; self.launcher = launcher
    }

    /// The launch the environment describes: nil when it names none, or a world of one process
    /// (nothing to coordinate). torchrun's variables win over SLURM's (torchrun inside an
    /// allocation sets both). Bad values are errors naming the variable and what to set.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> LaunchConfig? {
        let torchrun = env["RANK"] != nil || env["WORLD_SIZE"] != nil
        let slurm = env["SLURM_PROCID"] != nil && env["SLURM_NTASKS"] != nil
        guard torchrun || slurm else { return nil }
        let launcher = torchrun ? "torchrun" : "SLURM"
        let (rankVar, worldVar, localVar) = torchrun ? ("RANK", "WORLD_SIZE", "LOCAL_RANK") : ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")
        func bad(_ m: String) -> DataParallelError {
            .invalidLaunch("\(launcher) launch: \(m) (Finch reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, or SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID with MASTER_ADDR)")
        }
        func int(_ name: String) throws -> Int? {
            guard let raw = env[name] else { return nil }
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw bad("\(name)=\"\(raw)\" is not a whole number") }
            return v
        }
        guard let world = try int(worldVar) else { throw bad("\(rankVar) is set but \(worldVar) is not") }
        guard let rank = try int(rankVar) else { throw bad("\(worldVar) is set but \(rankVar) is not") }
        guard world >= 1 else { throw bad("\(worldVar)=\(world) must be at least 1") }
        guard rank >= 0, rank < world else { throw bad("\(rankVar)=\(rank) must be in 0..<\(worldVar) (\(world))") }
        if world == 1 { return nil }
        // A launch on one node without LOCAL_RANK: the rank is the GPU.
        let local = try int(localVar) ?? rank
        guard local >= 0 else { throw bad("\(localVar)=\(local) must not be negative") }
        guard let addr = env["MASTER_ADDR"]?.trimmingCharacters(in: .whitespaces), !addr.isEmpty else {
            throw bad("MASTER_ADDR is not set: export MASTER_ADDR to the host name or address of rank 0's node"
                      + (slurm && !torchrun ? " (e.g. MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1))" : ""))
        }
        var port = defaultPort
        if let raw = env["MASTER_PORT"] {
            guard let p = Int(raw.trimmingCharacters(in: .whitespaces)), p > 0, p < 65536 else {
                throw bad("MASTER_PORT=\"\(raw)\" is not a port number (1–65535)")
            }
            port = UInt16(p)
        }
        return LaunchConfig(rank: rank, worldSize: world, localRank: local, masterAddr: addr, masterPort: port, launcher: launcher)
    }
}

// MARK: The unique-id bootstrap

/// Rank 0 hands NCCL's unique id (128 bytes, from ncclGetUniqueId) to every other rank over TCP
/// at MASTER_ADDR:MASTER_PORT; NCCL then connects the ranks itself. Each rank sends a hello
/// ("FNCH", its rank, the world size) so a stray connection or a misconfigured launch (another
/// world size, a rank twice) is refused with a clear error instead of joining the wrong group.
public enum UniqueIdBootstrap {
    public static let idBytes = 128
    static let magic: [UInt8] = Array("FNCH".utf8)

    /// Rank 0 serves `id`; the others fetch it. Returns the id on every rank.
    public static func exchange(id: [UInt8]?, config: LaunchConfig, timeout: Double = 300) throws -> [UInt8] {
        if config.rank == 0 {
            guard let id else { throw DataParallelError.bootstrap("rank 0 has no unique id to serve") }
            let server = try Server(port: config.masterPort)
            try server.serve(id: id, worldSize: config.worldSize, timeout: timeout)
            return id
        }
        return try fetch(host: config.masterAddr, port: config.masterPort, rank: config.rank, worldSize: config.worldSize, timeout: timeout)
    }

    /// Rank 0's listening socket (all interfaces; port 0 picks a free port, see `port`).
    public final class Server {
        let fd: Int32
        public let port: UInt16

        public init(port: UInt16) throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw DataParallelError.bootstrap("socket() failed: \(errnoText())") }
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr = in_addr(s_addr: INADDR_ANY)
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, listen(fd, 128) == 0 else {
                let why = errnoText()
                close(fd)
                throw DataParallelError.bootstrap("rank 0 cannot listen on port \(port): \(why); set MASTER_PORT to a free port")
            }
            var actual = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            self.fd = fd
            self.port = UInt16(bigEndian: actual.sin_port)
        }

        deinit { close(fd) }

        /// Sends `id` to ranks 1..<worldSize, each once; returns when all have it.
        public func serve(id: [UInt8], worldSize: Int, timeout: Double) throws {
            guard id.count == idBytes else { throw DataParallelError.bootstrap("the unique id has \(id.count) bytes, not \(idBytes)") }
            var served = Set<Int>()
            let deadline = Date().addingTimeInterval(timeout)
            while served.count < worldSize - 1 {
                let left = deadline.timeIntervalSinceNow
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard left > 0, poll(&p, 1, Int32(min(left, 3600) * 1000)) > 0 else {
                    let missing = (1..<worldSize).filter { !served.contains($0) }
                    throw DataParallelError.bootstrap("rank 0 waited \(Int(timeout)) s for ranks \(missing.map(String.init).joined(separator: ", ")); check that every rank started with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE")
                }
                let c = accept(fd, nil, nil)
                guard c >= 0 else { continue }
                defer { close(c) }
                let hello = try readAll(c, count: 12, deadline: deadline)
                guard Array(hello[0..<4]) == magic else { continue }  // not a Finch rank: ignore it
                let rank = Int(decode(hello[4..<8])), world = Int(decode(hello[8..<12]))
                guard world == worldSize else {
                    throw DataParallelError.bootstrap("rank \(rank) was started with world size \(world), rank 0 with \(worldSize); start every rank with the same WORLD_SIZE")
                }
                guard rank >= 1, rank < worldSize, served.insert(rank).inserted else {
                    throw DataParallelError.bootstrap("rank \(rank) connected twice or is out of range (world size \(worldSize)); every process needs its own RANK")
                }
                try writeAll(c, id)
            }
        }
    }

    /// A rank other than 0: connects to rank 0 (retrying until it listens) and reads the id.
    public static func fetch(host: String, port: UInt16, rank: Int, worldSize: Int, timeout: Double) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError = "no attempt"
        while true {
            if let fd = try? connect(host: host, port: port, lastError: &lastError) {
                defer { close(fd) }
                var hello = magic
                hello += encode(UInt32(rank)) + encode(UInt32(worldSize))
                try writeAll(fd, hello)
                return try readAll(fd, count: idBytes, deadline: deadline)
            }
            guard deadline.timeIntervalSinceNow > 0 else {
                throw DataParallelError.bootstrap("rank \(rank) could not reach rank 0 at \(host):\(port) within \(Int(timeout)) s (\(lastError)); check MASTER_ADDR and MASTER_PORT, and that rank 0 started")
            }
            usleep(100_000)
        }
    }

    static func connect(host: String, port: UInt16, lastError: inout String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let r = getaddrinfo(host, String(port), &hints, &res)
        guard r == 0, let first = res else {
            lastError = "cannot resolve \(host): \(String(cString: gai_strerror(r)))"
            throw DataParallelError.bootstrap(lastError)
        }
        defer { freeaddrinfo(res) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { lastError = "socket() failed"; throw DataParallelError.bootstrap(lastError) }
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            lastError = errnoText()
            close(fd)
            throw DataParallelError.bootstrap(lastError)
        }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw DataParallelError.bootstrap("sending failed: \(errnoText())") }
            sent += n
        }
    }

    static func readAll(_ fd: Int32, count: Int, deadline: Date) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = deadline.timeIntervalSinceNow
            guard left > 0, poll(&p, 1, Int32(min(left, 3600) * 1000)) > 0 else {
                throw DataParallelError.bootstrap("timed out reading from a peer")
            }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            guard n > 0 else { throw DataParallelError.bootstrap("the peer closed the connection after \(got) of \(count) bytes (see rank 0's error)") }
            got += n
        }
        return buf
    }

    static func encode(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func decode(_ b: ArraySlice<UInt8>) -> UInt32 { b.reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    static func errnoText() -> String { String(cString: strerror(errno)) }
}
