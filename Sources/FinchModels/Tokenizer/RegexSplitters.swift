import Foundation

/// Hand-written equivalents of the split regexes that real tokenizer.json files use. They run over
/// Unicode scalars with precomputed classes, and are checked against the Python `tokenizers` library
/// (Oniguruma) by the fidelity tests. Unknown patterns fall back to `NSRegularExpression`.
enum KnownSplitPattern: Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (`maxDigits` 3: Llama-3; 1: Qwen2)
    case llama3(maxDigits: Int)

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init?(source: String) {
        switch source {
        case Self.gpt2Source: self = .gpt2
        case Self.llama3Source: self = .llama3(maxDigits: 3)
        case Self.qwen2Source: self = .llama3(maxDigits: 1)
        default: return nil
        }
    }

    /// Appends the match ranges covering `lo..<hi` (these patterns match every character).
    func split(_ s: [Unicode.Scalar], _ c: [CharClass], _ lo: Int, _ hi: Int, into out: inout [Range<Int>]) {
        var i = lo
        while i < hi {
            let end: Int
            switch self {
            case .gpt2: end = Self.gpt2Match(s, c, i, hi)
            case .llama3(let maxDigits): end = Self.llama3Match(s, c, i, hi, maxDigits: maxDigits)
            }
            out.append(i..<end)
            i = end
        }
    }

    /// Length of a contraction `'s|'t|'re|'ve|'m|'ll|'d` at `i`, or 0.
    @inline(__always)
    static func contraction(_ s: [Unicode.Scalar], _ i: Int, _ hi: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < hi else { return 0 }
        func lower(_ x: Unicode.Scalar) -> Unicode.Scalar {
            guard caseInsensitive, x.value >= 65, x.value <= 90 else { return x }
            return Unicode.Scalar(x.value + 32)!
        }
        let a = lower(s[i + 1])
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        guard i + 2 < hi else { return 0 }
        let b = lower(s[i + 2])
        if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        return 0
    }

    @inline(__always)
    static func run(_ c: [CharClass], from i: Int, _ hi: Int, while pred: (CharClass) -> Bool) -> Int {
        var j = i
        while j < hi && pred(c[j]) { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at a whitespace position.
    @inline(__always)
    static func whitespaceTail(_ c: [CharClass], _ i: Int, _ hi: Int) -> Int {
        let j = run(c, from: i, hi) { $0.isSpace }
        if j == hi || j - i == 1 { return j }
        return j - 1
    }

    static func gpt2Match(_ s: [Unicode.Scalar], _ c: [CharClass], _ i: Int, _ hi: Int) -> Int {
        let k = contraction(s, i, hi, caseInsensitive: false)
        if k > 0 { return i + k }
        var start = i
        if s[i] == " " && i + 1 < hi && !c[i + 1].isSpace { start = i + 1 }
        let cls = c[start]
        switch cls {
        case .letter: return run(c, from: start, hi) { $0 == .letter }
        case .number: return run(c, from: start, hi) { $0 == .number }
        case .other: return run(c, from: start, hi) { $0 == .other }
        case .space, .newline: return whitespaceTail(c, i, hi)
        }
    }

    static func llama3Match(_ s: [Unicode.Scalar], _ c: [CharClass], _ i: Int, _ hi: Int, maxDigits: Int) -> Int {
        let k = contraction(s, i, hi, caseInsensitive: true)
        if k > 0 { return i + k }
        let cls = c[i]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if cls == .letter { return run(c, from: i, hi) { $0 == .letter } }
        if cls != .newline && cls != .number && i + 1 < hi && c[i + 1] == .letter {
            return run(c, from: i + 1, hi) { $0 == .letter }
        }
        // \p{N}{1,maxDigits}
        if cls == .number {
            var j = i
            while j < hi && j - i < maxDigits && c[j] == .number { j += 1 }
            return j
        }
        // ' '?[^\s\p{L}\p{N}]+[\r\n]*
        var start = -1
        if cls == .other { start = i } else if s[i] == " " && i + 1 < hi && c[i + 1] == .other { start = i + 1 }
        if start >= 0 {
            let j = run(c, from: start, hi) { $0 == .other }
            return run(c, from: j, hi) { $0 == .newline }
        }
        // \s*[\r\n]+ : the whitespace run up to and including its last newline
        let j = run(c, from: i, hi) { $0.isSpace }
        var lastNewline = -1
        var p = j - 1
        while p >= i { if c[p] == .newline { lastNewline = p; break }; p -= 1 }
        if lastNewline >= 0 { return lastNewline + 1 }
        // \s+(?!\S)|\s+
        return whitespaceTail(c, i, hi)
    }
}

/// A general regex for patterns not recognised above: Swift's Regex with Unicode-scalar semantics (slower than
/// the hand-written splitters; pure Swift, so a bad pattern from an untrusted file is just an error).
final class FallbackRegex: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>

    init(_ pattern: String) throws {
        regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
    }

    /// Match ranges (in scalar indices) inside `lo..<hi`.
    func matches(_ s: [Unicode.Scalar], _ lo: Int, _ hi: Int) -> [Range<Int>] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s[lo..<hi])
        let text = String(view)
        let scalars = text.unicodeScalars
        var out: [Range<Int>] = []
        for m in text.matches(of: regex) where !m.range.isEmpty {
            let a = scalars.distance(from: scalars.startIndex, to: m.range.lowerBound)
            let b = a + scalars.distance(from: m.range.lowerBound, to: m.range.upperBound)
            out.append((lo + a)..<(lo + b))
        }
        return out
    }

    func replace(in s: String, with content: String) -> String {
        s.replacing(regex, with: content)
    }
}
