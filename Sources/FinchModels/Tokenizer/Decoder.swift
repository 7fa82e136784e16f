/// Decoders, applied to the list of token strings as `tokenizers`' `decode_chain` does.
indirect enum TokenDecoder: Sendable {
    case byteLevel
    case replace(pattern: String, content: String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case sequence([TokenDecoder])

    func decode(_ tokens: [String]) -> String {
        decodeChain(tokens).joined()
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.decodeChain($0) }

        case .byteLevel:
            // All tokens' bytes together, then lossy UTF-8 (tokens with unmapped characters keep their UTF-8).
            var bytes: [UInt8] = []
            for t in tokens {
                let start = bytes.count
                var ok = true
                for s in t.unicodeScalars {
                    guard let b = ByteLevelTable.byte(for: s) else { ok = false; break }
                    bytes.append(b)
                }
                if !ok { bytes.removeSubrange(start...); bytes.append(contentsOf: t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]

        case let .replace(pattern, content):
            return tokens.map { ReplacePattern.literal(pattern).replace(in: $0, with: content) }

        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.byteToken(t) { pending.append(b) } else { flush(); out.append(t) }
            }
            flush()
            return out

        case .fuse:
            return [tokens.joined()]

        case let .strip(content, start, stop):
            return tokens.map { t in
                var s = Substring(t).unicodeScalars[...]
                var k = 0
                while k < start, s.first == content { s.removeFirst(); k += 1 }
                k = 0
                while k < stop, s.last == content { s.removeLast(); k += 1 }
                return String(String.UnicodeScalarView(s))
            }

        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { (i, t) in
                var out = String.UnicodeScalarView()
                for s in t.unicodeScalars {
                    if s == replacement {
                        if !(i == 0 && scheme != .never) { out.append(" ") }
                    } else {
                        out.append(s)
                    }
                }
                return String(out)
            }
        }
    }

    /// `<0xNN>` → the byte.
    static func byteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 60, u[1] == 48, u[2] == 120, u[5] == 62 else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }
        guard let h = hex(u[3]), let l = hex(u[4]) else { return nil }
        return h << 4 | l
    }
}
