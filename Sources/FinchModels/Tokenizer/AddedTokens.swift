/// A token matched in the text before the model runs (`added_tokens` of tokenizer.json).
struct AddedToken: Sendable {
    let id: Int
    let content: String
    let scalars: [Unicode.Scalar]
    let special: Bool
    let lstrip: Bool
    let rstrip: Bool
    let singleWord: Bool
    let normalized: Bool
}

/// Leftmost-longest matching of added tokens, as `tokenizers`' AddedVocabulary (Aho–Corasick, leftmost-longest).
struct AddedTokenMatcher: Sendable {
    /// First scalar → candidates, longest first.
    private let byFirst: [Unicode.Scalar: [AddedToken]]
    var isEmpty: Bool { byFirst.isEmpty }

    init(_ tokens: [AddedToken]) {
        var m: [Unicode.Scalar: [AddedToken]] = [:]
        for t in tokens where !t.scalars.isEmpty { m[t.scalars[0], default: []].append(t) }
        for k in m.keys { m[k]!.sort { $0.scalars.count > $1.scalars.count } }
        byFirst = m
    }

    enum Segment {
        case text(ArraySlice<Unicode.Scalar>)
        case token(Int)
    }

    private static func isWordChar(_ s: Unicode.Scalar) -> Bool {
        s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil
    }

    /// Splits `s` into text and token segments.
    func split(_ s: ArraySlice<Unicode.Scalar>) -> [Segment] {
        guard !byFirst.isEmpty else { return [.text(s)] }
        var out: [Segment] = []
        var textStart = s.startIndex
        var i = s.startIndex
        while i < s.endIndex {
            guard let candidates = byFirst[s[i]] else { i += 1; continue }
            var matched: AddedToken? = nil
            for t in candidates where i + t.scalars.count <= s.endIndex {
                guard s[i..<(i + t.scalars.count)].elementsEqual(t.scalars) else { continue }
                if t.singleWord {
                    let end = i + t.scalars.count
                    if i > s.startIndex && Self.isWordChar(s[i - 1]) { continue }
                    if end < s.endIndex && Self.isWordChar(s[end]) { continue }
                }
                matched = t
                break
            }
            guard let t = matched else { i += 1; continue }
            var start = i
            var end = i + t.scalars.count
            if t.lstrip { while start > textStart && s[start - 1].properties.isWhitespace { start -= 1 } }
            if t.rstrip { while end < s.endIndex && s[end].properties.isWhitespace { end += 1 } }
            if start > textStart { out.append(.text(s[textStart..<start])) }
            out.append(.token(t.id))
            i = end
            textStart = end
        }
        if textStart < s.endIndex { out.append(.text(s[textStart..<s.endIndex])) }
        return out
    }
}
