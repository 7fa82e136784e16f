// A PNG writer with no dependencies: 8-bit RGB, filter 0 per row, zlib stream made by a small
// deflate encoder (fixed Huffman codes, matches at distance 1 and one row up: plots are mostly flat
// colour, so this compresses them well), CRC-32 per chunk and Adler-32 for zlib.
import Foundation

struct BitWriter {
    var bytes: [UInt8] = []
    var acc: UInt32 = 0
    var n: UInt32 = 0
    mutating func write(_ value: UInt32, _ count: UInt32) {
        acc |= value << n
        n += count
        while n >= 8 { bytes.append(UInt8(acc & 0xFF)); acc >>= 8; n -= 8 }
    }
    /// Huffman codes go most-significant bit first.
    mutating func writeCode(_ code: UInt32, _ len: UInt32) {
        var r: UInt32 = 0
        for i in 0..<len { r |= ((code >> i) & 1) << (len - 1 - i) }
        write(r, len)
    }
    mutating func flush() { if n > 0 { bytes.append(UInt8(acc & 0xFF)); acc = 0; n = 0 } }
}

enum Deflate {
    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [UInt32] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra: [UInt32] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    static func literal(_ s: Int, _ w: inout BitWriter) {
        switch s {
        case 0...143: w.writeCode(UInt32(0x30 + s), 8)
        case 144...255: w.writeCode(UInt32(0x190 + s - 144), 9)
        case 256...279: w.writeCode(UInt32(s - 256), 7)
        default: w.writeCode(UInt32(0xC0 + s - 280), 8)
        }
    }

    static func match(length: Int, distance: Int, _ w: inout BitWriter) {
        var li = lengthBase.count - 1
        while lengthBase[li] > length { li -= 1 }
        literal(257 + li, &w)
        if lengthExtra[li] > 0 { w.write(UInt32(length - lengthBase[li]), lengthExtra[li]) }
        var di = distBase.count - 1
        while distBase[di] > distance { di -= 1 }
        w.writeCode(UInt32(di), 5)
        if distExtra[di] > 0 { w.write(UInt32(distance - distBase[di]), distExtra[di]) }
    }

    /// A zlib stream (RFC 1950) holding one fixed-Huffman deflate block (RFC 1951).
    static func zlib(_ data: [UInt8], rowDistance: Int) -> [UInt8] {
        var w = BitWriter()
        w.bytes = [0x78, 0x01]
        w.write(1, 1)   // BFINAL
        w.write(1, 2)   // BTYPE = 01, fixed Huffman
        var i = 0
        let n = data.count
        while i < n {
            var bestLen = 0, bestDist = 0
            for d in [1, rowDistance] where d > 0 && d <= 32768 && i >= d {
                var l = 0
                while l < 258 && i + l < n && data[i + l] == data[i + l - d] { l += 1 }
                if l > bestLen { bestLen = l; bestDist = d }
            }
            if bestLen >= 3 {
                match(length: bestLen, distance: bestDist, &w)
                i += bestLen
            } else {
                literal(Int(data[i]), &w); i += 1
            }
        }
        literal(256, &w)
        w.flush()
        let a = Checksum.adler32(data)
        w.bytes += [UInt8(a >> 24), UInt8(a >> 16 & 0xFF), UInt8(a >> 8 & 0xFF), UInt8(a & 0xFF)]
        return w.bytes
    }
}

public struct RGB: Equatable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
}

/// An RGB raster with the few drawing operations a chart needs.
public struct Canvas {
    public let width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[3 * i] = background.r; pixels[3 * i + 1] = background.g; pixels[3 * i + 2] = background.b }
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    public func get(_ x: Int, _ y: Int) -> RGB {
        let i = 3 * (y * width + x)
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    public mutating func fillRect(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: RGB) {
        let y0 = max(0, y), y1 = min(height, y + h), x0 = max(0, x), x1 = min(width, x + w)
        guard y0 < y1, x0 < x1 else { return }   // entirely off the canvas
        for yy in y0..<y1 { for xx in x0..<x1 { set(xx, yy, c) } }
    }

    /// Bresenham, `thickness` pixels wide.
    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: RGB, thickness: Int = 1) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let r = thickness / 2
        while true {
            if thickness <= 1 { set(x, y, c) } else { fillRect(x - r, y - r, thickness, thickness, c) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    // 3×5 glyphs, one row per 3-bit number (MSB = left).
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "+": [0, 2, 7, 2, 0], "e": [7, 5, 7, 4, 7], "l": [4, 4, 4, 4, 7],
        "o": [0, 7, 5, 5, 7], "s": [3, 4, 2, 1, 6], "t": [2, 7, 2, 2, 3], "p": [7, 5, 7, 4, 4], "a": [0, 7, 3, 5, 7],
        "v": [0, 5, 5, 5, 2], "_": [0, 0, 0, 0, 7], " ": [0, 0, 0, 0, 0], "r": [0, 7, 4, 4, 4], "n": [0, 7, 5, 5, 5],
        "i": [2, 0, 2, 2, 2], "g": [7, 5, 7, 1, 7], "d": [1, 7, 5, 5, 7], "m": [0, 7, 7, 5, 5], "k": [5, 6, 4, 6, 5],
    ]

    public mutating func text(_ s: String, x: Int, y: Int, scale: Int = 2, _ c: RGB = .black) {
        var cx = x
        for ch in s.lowercased() {
            let g = Canvas.glyphs[ch] ?? [7, 5, 5, 5, 7]
            for (row, bits) in g.enumerated() {
                for col in 0..<3 where bits & (4 >> col) != 0 { fillRect(cx + col * scale, y + row * scale, scale, scale, c) }
            }
            cx += 4 * scale
        }
    }

    public static func textWidth(_ s: String, scale: Int = 2) -> Int { s.count * 4 * scale - scale }

    /// The PNG file bytes.
    public func png() -> Data {
        var raw = [UInt8]()
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter: None
            raw.append(contentsOf: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let len = UInt32(data.count)
            out += [UInt8(len >> 24), UInt8(len >> 16 & 0xFF), UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF)]
            let body = Array(type.utf8) + data
            out += body
            let c = Checksum.crc32(body)
            out += [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
        }
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        chunk("IHDR", be32(width) + be32(height) + [8, 2, 0, 0, 0])  // 8-bit, truecolour, deflate, filter 0, no interlace
        chunk("IDAT", Deflate.zlib(raw, rowDistance: width * 3 + 1))
        chunk("IEND", [])
        return Data(out)
    }
}
