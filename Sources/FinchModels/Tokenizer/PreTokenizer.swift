/// Text split into pieces before the model sees it. Pieces index into `scalars`.
struct PreTokenized {
    var scalars: [Unicode.Scalar]
    var classes: [CharClass]
    var pieces: [Range<Int>]
    /// Whether this segment starts the whole input (Metaspace `prepend_scheme: first`).
    var atTextStart: Bool

    init(_ scalars: [Unicode.Scalar], atTextStart: Bool) {
        self.scalars = scalars
        self.classes = scalars.map(CharClass.of)
        self.pieces = scalars.isEmpty ? [] : [0..<scalars.count]
        self.atTextStart = atTextStart
    }

    /// Rebuilds the buffer from transformed pieces.
    mutating func replace(with newPieces: [[Unicode.Scalar]]) {
        var buffer: [Unicode.Scalar] = []
        buffer.reserveCapacity(scalars.count + newPieces.count)
        var ranges: [Range<Int>] = []
        for p in newPieces where !p.isEmpty {
            ranges.append(buffer.count..<(buffer.count + p.count))
            buffer.append(contentsOf: p)
        }
        scalars = buffer
        classes = buffer.map(CharClass.of)
        pieces = ranges
    }
}

enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

enum SplitPattern: Sendable {
    case known(KnownSplitPattern)
    case regex(FallbackRegex)
    case literal([Unicode.Scalar])
}

enum PrependScheme: String, Sendable { case first, never, always }

indirect enum PreTokenizer: Sendable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, SplitBehavior, invert: Bool)
    case digits(individual: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case sequence([PreTokenizer])

    /// Whether pieces are mapped to bytes through the GPT-2 table before the model.
    var isByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case .sequence(let steps): return steps.contains { $0.isByteLevel }
        default: return false
        }
    }

    func apply(_ t: inout PreTokenized) {
        switch self {
        case .sequence(let steps):
            for step in steps { step.apply(&t) }

        case let .byteLevel(addPrefixSpace, useRegex):
            if addPrefixSpace && t.pieces.contains(where: { t.scalars[$0.lowerBound] != " " }) {
                t.replace(with: t.pieces.map { r in
                    t.scalars[r.lowerBound] == " " ? Array(t.scalars[r]) : [" "] + t.scalars[r]
                })
            }
            if useRegex {
                var out: [Range<Int>] = []
                out.reserveCapacity(t.pieces.count * 4)
                for r in t.pieces {
                    KnownSplitPattern.gpt2.split(t.scalars, t.classes, r.lowerBound, r.upperBound, into: &out)
                }
                t.pieces = out
            }

        case let .digits(individual):
            var out: [Range<Int>] = []
            for r in t.pieces {
                var i = r.lowerBound
                while i < r.upperBound {
                    var j = i + 1
                    if t.classes[i] == .number {
                        if !individual { while j < r.upperBound && t.classes[j] == .number { j += 1 } }
                    } else {
                        while j < r.upperBound && t.classes[j] != .number { j += 1 }
                    }
                    out.append(i..<j)
                    i = j
                }
            }
            t.pieces = out

        case let .split(pattern, behavior, invert):
            var out: [Range<Int>] = []
            for r in t.pieces {
                var matches: [Range<Int>] = []
                switch pattern {
                case .known(let k): k.split(t.scalars, t.classes, r.lowerBound, r.upperBound, into: &matches)
                case .regex(let re): matches = re.matches(t.scalars, r.lowerBound, r.upperBound)
                case .literal(let lit): matches = Self.literalMatches(lit, t.scalars, r)
                }
                Self.applyBehavior(behavior, invert: invert, piece: r, matches: matches, into: &out)
            }
            t.pieces = out

        case let .metaspace(replacement, scheme, split):
            let first = t.atTextStart
            let newPieces: [[Unicode.Scalar]] = t.pieces.map { r in
                var p = t.scalars[r].map { $0 == " " ? replacement : $0 }
                let prepend = scheme == .always || (scheme == .first && first && r.lowerBound == 0)
                if prepend && p.first != replacement { p.insert(replacement, at: 0) }
                return p
            }
            t.replace(with: newPieces)
            if split {
                var out: [Range<Int>] = []
                for r in t.pieces {
                    var start = r.lowerBound
                    for i in r where t.scalars[i] == replacement && i > start {
                        out.append(start..<i)
                        start = i
                    }
                    if start < r.upperBound { out.append(start..<r.upperBound) }
                }
                t.pieces = out
            }
        }
    }

    static func literalMatches(_ lit: [Unicode.Scalar], _ s: [Unicode.Scalar], _ r: Range<Int>) -> [Range<Int>] {
        guard !lit.isEmpty else { return [] }
        var out: [Range<Int>] = []
        var i = r.lowerBound
        while i + lit.count <= r.upperBound {
            if s[i..<(i + lit.count)].elementsEqual(lit) {
                out.append(i..<(i + lit.count))
                i += lit.count
            } else {
                i += 1
            }
        }
        return out
    }

    /// Turns matches inside `piece` into pieces the way `tokenizers`' SplitDelimiterBehavior does.
    static func applyBehavior(_ behavior: SplitBehavior, invert: Bool, piece: Range<Int>,
                              matches: [Range<Int>], into out: inout [Range<Int>]) {
        // (range, isMatch) covering the whole piece.
        var parts: [(Range<Int>, Bool)] = []
        var pos = piece.lowerBound
        for m in matches {
            if m.lowerBound > pos { parts.append((pos..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            pos = m.upperBound
        }
        if pos < piece.upperBound { parts.append((pos..<piece.upperBound, invert)) }

        switch behavior {
        case .isolated:
            out.append(contentsOf: parts.map { $0.0 })
        case .removed:
            out.append(contentsOf: parts.filter { !$0.1 }.map { $0.0 })
        case .mergedWithPrevious:
            var pending: Range<Int>? = nil
            for (r, isMatch) in parts {
                if isMatch, let p = pending { pending = p.lowerBound..<r.upperBound; out.append(pending!); pending = nil }
                else if isMatch { out.append(r) }
                else { if let p = pending { out.append(p) }; pending = r }
            }
            if let p = pending { out.append(p) }
        case .mergedWithNext:
            var pending: Range<Int>? = nil
            for (r, isMatch) in parts {
                if isMatch { if let p = pending { out.append(p) }; pending = r }
                else if let p = pending { out.append(p.lowerBound..<r.upperBound); pending = nil }
                else { out.append(r) }
            }
            if let p = pending { out.append(p) }
        case .contiguous:
            var pending: Range<Int>? = nil
            for (r, isMatch) in parts {
                if isMatch, let p = pending { pending = p.lowerBound..<r.upperBound }
                else { if let p = pending { out.append(p) }; pending = isMatch ? r : nil; if !isMatch { out.append(r) } }
            }
            if let p = pending { out.append(p) }
        }
    }
}
