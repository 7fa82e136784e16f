// CRC-32 (PNG, zlib polynomial), CRC-32C (TFRecord, Castagnoli) and Adler-32 (zlib), table-driven.
enum Checksum {
    static let crc32Table: [UInt32] = makeTable(0xEDB8_8320)
    static let crc32cTable: [UInt32] = makeTable(0x82F6_3B78)

    static func makeTable(_ poly: UInt32) -> [UInt32] {
        (0..<256).map { n -> UInt32 in
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? poly ^ (c >> 1) : c >> 1 }
            return c
        }
    }

    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer, table: [UInt32]) -> UInt32 {
        var c = ~crc
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    static func crc32<C: Collection>(_ bytes: C, seed: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update(seed, $0, table: crc32Table) }
    }

    static func crc32c<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update(0, $0, table: crc32cTable) }
    }

    /// TFRecord's masked CRC: rotate right by 15 and add a constant.
    static func maskedCRC32C<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let end = min(i + 5552, bytes.count)   // largest n with no UInt32 overflow before the modulo
            while i < end { a += UInt32(bytes[i]); b += a; i += 1 }
            a %= 65521; b %= 65521
        }
        return (b << 16) | a
    }
}
