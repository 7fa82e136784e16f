import Foundation

indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd, lowercase
    case prepend(String)
    case replace(pattern: ReplacePattern, content: String)
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    func apply(_ s: String) -> String {
        switch self {
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        case .prepend(let p): return s.isEmpty ? s : p + s
        case let .replace(pattern, content): return pattern.replace(in: s, with: content)
        case let .strip(left, right):
            var scalars = Substring(s).unicodeScalars[...]
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            return String(String.UnicodeScalarView(scalars))
        case .sequence(let steps): return steps.reduce(s) { $1.apply($0) }
        }
    }
}

enum ReplacePattern: Sendable {
    case literal(String)
    case regex(FallbackRegex)

    func replace(in s: String, with content: String) -> String {
        switch self {
        case .literal(let lit):
            guard !lit.isEmpty else { return s }
            // Scalar-wise so a combining mark after the pattern does not hide a match.
            let pat = Array(lit.unicodeScalars)
            let src = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            var i = 0
            while i < src.count {
                if i + pat.count <= src.count && src[i..<(i + pat.count)].elementsEqual(pat) {
                    out.append(contentsOf: content.unicodeScalars)
                    i += pat.count
                } else {
                    out.append(src[i]); i += 1
                }
            }
            return String(out)
        case .regex(let re):
            return re.replace(in: s, with: content)
        }
    }
}
