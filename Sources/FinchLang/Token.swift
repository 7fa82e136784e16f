// Tokens produced by the Lexer.

public enum FStringPiece: Equatable, Sendable {
    case text(String)
    /// An embedded `{expr!conv:spec}`; `pos` is where the expression text starts.
    case expr(source: String, pos: Pos, conversion: Character?, spec: String)
}

public enum TokenKind: Equatable, Sendable {
    case name(String)
    case keyword(String)
    case int(Int)
    case float(Double)
    case string(String)
    case fstring([FStringPiece])
    case op(String)
    case newline
    case indent
    case dedent
    case eof
}

public struct Token: Equatable, Sendable {
    public var kind: TokenKind
    public var pos: Pos
    public init(_ kind: TokenKind, _ pos: Pos) { self.kind = kind; self.pos = pos }
}

let keywords: Set<String> = [
    "if", "elif", "else", "for", "in", "while", "break", "continue", "def", "return", "use",
    "and", "or", "not", "lambda", "true", "false", "none", "pass", "is", "assert",
]

/// Spellings from Python and JSON that mean the same as Finch's literals.
let literalAliases: [String: String] = ["True": "true", "False": "false", "None": "none", "null": "none"]
