// finch-testhub --port P --root DIR [--token TOKEN=USER]... [--lfs-threshold BYTES] [--multipart THRESHOLD:CHUNK]
// Serves a folder of repos as a local Hugging Face Hub (see FinchTestHub). Prints the endpoint, then runs
// until killed.
import Foundation
import FinchTestHub

var port: UInt16 = 0
var root = "."
var tokens: [(String, String)] = []
var lfsThreshold: Int64?
var multipart: (Int64, Int64)?
var args = CommandLine.arguments.dropFirst()
func usage() -> Never {
    FileHandle.standardError.write(Data("usage: finch-testhub --port P --root DIR [--token TOKEN=USER]... [--lfs-threshold BYTES] [--multipart THRESHOLD:CHUNK]\n".utf8))
    exit(2)
}
while let a = args.popFirst() {
    switch a {
    case "--port": guard let v = args.popFirst(), let p = UInt16(v) else { usage() }; port = p
    case "--root": guard let v = args.popFirst() else { usage() }; root = v
    case "--token":
        guard let v = args.popFirst(), let eq = v.firstIndex(of: "=") else { usage() }
        tokens.append((String(v[..<eq]), String(v[v.index(after: eq)...])))
    case "--lfs-threshold": guard let v = args.popFirst(), let n = Int64(v) else { usage() }; lfsThreshold = n
    case "--multipart": // THRESHOLD:CHUNK in bytes
        guard let v = args.popFirst(), let c = v.firstIndex(of: ":"), let t = Int64(v[..<c]), let k = Int64(v[v.index(after: c)...]), k > 0 else { usage() }
        multipart = (t, k)
    default: usage()
    }
}
do {
    let server = try TestHubServer(root: root, port: port)
    for (t, u) in tokens { server.addToken(t, user: u) }
    if let lfsThreshold { server.lfsThreshold = lfsThreshold }
    if let (t, k) = multipart { server.multipartThreshold = t; server.multipartChunkSize = k }
    server.start()
    print("finch-testhub serving \(root) at \(server.endpoint)")
    fflush(stdout)
    while true { sleep(3600) }
} catch {
    FileHandle.standardError.write(Data("finch-testhub: \(error)\n".utf8))
    exit(1)
}
