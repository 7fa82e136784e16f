import Foundation
@testable import FinchHub

/// A fresh temporary directory per test, removed by the caller's `defer`.
func makeTempDir(_ tag: String = "t") -> String {
    let base = NSTemporaryDirectory() + "finch-hub-tests"
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    let template = base + "/\(tag)-XXXXXX"
    var bytes = Array(template.utf8CString)
    let p = mkdtemp(&bytes)!
    return String(cString: p)
}

func removeDir(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

func writeFile(_ path: String, _ text: String) {
    try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
}

func writeFile(_ path: String, _ data: Data) {
    try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: data)
}

func fileMode(_ path: String) -> mode_t {
    var st = stat()
    stat(path, &st)
    return st.st_mode & 0o777
}

/// Deterministic pseudo-random bytes (xorshift) for LFS-sized fixtures.
func randomBytes(_ count: Int, seed: UInt64) -> Data {
    var s = seed | 1
    var d = Data(count: count)
    d.withUnsafeMutableBytes { raw in
        let p = raw.bindMemory(to: UInt8.self)
        for i in 0..<count { s ^= s << 13; s ^= s >> 7; s ^= s << 17; p[i] = UInt8(truncatingIfNeeded: s) }
    }
    return d
}
