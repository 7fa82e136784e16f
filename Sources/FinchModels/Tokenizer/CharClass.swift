/// The character classes the pre-tokenizer regexes use: `\p{L}`, `\p{N}`, `\s` (White_Space), `\r`/`\n`.
enum CharClass: UInt8 {
    case letter, number, newline, space, other

    static let ascii: [CharClass] = (0..<128).map { classify(slow: Unicode.Scalar(UInt8($0))) }

    @inline(__always)
    static func of(_ s: Unicode.Scalar) -> CharClass {
        s.value < 128 ? ascii[Int(s.value)] : classify(slow: s)
    }

    static func classify(slow s: Unicode.Scalar) -> CharClass {
        if s == "\r" || s == "\n" { return .newline }
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}

extension CharClass {
    var isSpace: Bool { self == .space || self == .newline }
}
