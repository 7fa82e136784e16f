import Foundation
import FinchLang

/// A prompt style: a prompt template and a response template with `{Field}` placeholders (literal
/// braces doubled). `style.prompt(Question=q)` renders the prompt for inference; `style(row)`
/// renders prompt + response + the tokenizer's EOS for training; `data.map(style)` adds a `text`
/// column and `_response_start` (where the response begins, in characters) so that
/// `train(..., train_on="responses")` puts the loss on the response only.
public final class PromptStyle: FinchObject, DatasetRowMapper {
    enum Piece: Equatable { case text(String), field(String) }

    public let promptSource: String
    public let responseSource: String
    let prompt: [Piece]
    let response: [Piece]
    /// Appended after the response in training text; `prompt_style(..., eos=…)` or the model's EOS token.
    public var eos: String

    public init(prompt: String, response: String, eos: String) throws {
        promptSource = prompt
        responseSource = response
        self.prompt = try PromptStyle.parse(prompt, what: "prompt")
        self.response = try PromptStyle.parse(response, what: "response")
        self.eos = eos
    }

    static func parse(_ s: String, what: String) throws -> [Piece] {
        var out: [Piece] = []
        var text = ""
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            let next = s.index(after: i)
            if c == "{" {
                if next < s.endIndex && s[next] == "{" { text.append("{"); i = s.index(after: next); continue }
                guard let close = s[next...].firstIndex(of: "}") else {
                    throw FinchError("prompt_style(): unclosed '{' in the \(what) template (write {{ for a literal brace)")
                }
                let name = String(s[next..<close]).trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw FinchError("prompt_style(): '{\(name)}' in the \(what) template is not a field name (write {{ and }} for literal braces)")
                }
                if !text.isEmpty { out.append(.text(text)); text = "" }
                out.append(.field(name))
                i = s.index(after: close)
            } else if c == "}" {
                guard next < s.endIndex && s[next] == "}" else {
                    throw FinchError("prompt_style(): single '}' in the \(what) template (write }} for a literal brace)")
                }
                text.append("}")
                i = s.index(after: next)
            } else {
                text.append(c)
                i = next
            }
        }
        if !text.isEmpty { out.append(.text(text)) }
        return out
    }

    public var fields: [String] {
        var seen = Set<String>()
        return (prompt + response).compactMap { if case .field(let f) = $0, seen.insert(f).inserted { return f }; return nil }
    }
    public var promptFields: [String] { prompt.compactMap { if case .field(let f) = $0 { return f }; return nil } }

    func render(_ pieces: [Piece], _ lookup: (String) throws -> String) throws -> String {
        try pieces.map { p -> String in
            switch p {
            case .text(let t): return t
            case .field(let f): return try lookup(f)
            }
        }.joined()
    }

    func fieldValue(_ row: FinchDict, _ field: String, rowIndex: Int?) throws -> String {
        guard let v = row[.string(field)] else {
            let cols = row.keys.compactMap { if case .string(let s) = $0 { return s }; return nil }
            let hint = suggestion(for: field, among: cols).map { " (did you mean \($0)?)" } ?? ""
            throw FinchError("prompt_style: \(rowIndex.map { "row \($0)" } ?? "the row") has no field '\(field)'\(hint); it has: \(cols.joined(separator: ", "))")
        }
        if case .string(let s) = v { return s }
        return str(v)
    }

    /// The training text and where its response starts (characters).
    public func renderRow(_ row: FinchDict, index: Int?) throws -> (text: String, responseStart: Int) {
        let p = try render(prompt) { try fieldValue(row, $0, rowIndex: index) }
        let r = try render(response) { try fieldValue(row, $0, rowIndex: index) }
        return (p + r + eos, p.count)
    }

    public func mapRow(_ row: FinchDict, index: Int, _ ctx: CallContext) throws -> FinchDict {
        let (text, start) = try renderRow(row, index: index)
        return FinchDict([("text", .string(text)), ("_response_start", .int(start))])
    }

    // MARK: FinchObject

    public var typeName: String { "PromptStyle" }
    public var description: String { "PromptStyle(fields: \(fields.joined(separator: ", ")))" }
    public var display: String {
        "PromptStyle(fields: \(fields.joined(separator: ", ")))\n--- prompt ---\n\(promptSource)\n--- response ---\n\(responseSource)\(eos.isEmpty ? "" : "\n--- then ---\n\(eos)")"
    }
    public var attributeNames: [String] { ["fields", "prompt_template", "response_template", "eos"] }
    public var methodNames: [String] { ["prompt"] }
    public var isCallable: Bool { true }
    public var fingerprint: String? { "PromptStyle:\(promptSource)\u{1}\(responseSource)\u{1}\(eos)" }

    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        switch name {
        case "fields": return .list(FinchList(fields.map { .string($0) }))
        case "prompt_template": return .string(promptSource)
        case "response_template": return .string(responseSource)
        case "eos": return .string(eos)
        default: return nil
        }
    }

    public func setAttribute(_ name: String, _ value: Value, _ ctx: CallContext) throws -> Bool {
        guard name == "eos" else { return false }
        guard case .string(let s) = value else { throw FinchError("PromptStyle.eos must be a string") }
        eos = s
        return true
    }

    public func callMethod(_ name: String, _ args: CallArgs, _ ctx: CallContext) throws -> Value? {
        guard name == "prompt" else { return nil }
        // style.prompt(Question=q) or style.prompt(row_dict)
        var row = FinchDict()
        if let first = args.positional.first {
            guard case .dict(let d) = first, args.positional.count == 1 else {
                throw FinchError("PromptStyle.prompt() takes the fields as keywords (prompt(Question=q)) or one dict")
            }
            row = d
        }
        for (k, v) in args.keywords { row[.string(k)] = v }
        return .string(try render(prompt) { try fieldValue(row, $0, rowIndex: nil) })
    }

    public func call(_ args: CallArgs, _ ctx: CallContext) throws -> Value {
        guard args.positional.count == 1, case .dict(let row) = args.positional[0], args.keywords.isEmpty else {
            throw FinchError("a PromptStyle is called with one row (a dict): style(row)")
        }
        return .string(try renderRow(row, index: nil).text)
    }
}

func registerPromptStyleBinding(_ r: BuiltinRegistry) {
    r.register("prompt_style",
               params: [.keyword("prompt"), .keyword("response", default: .string("")), .keyword("eos", default: .none),
                        .keyword("model", default: .none)],
               doc: "A prompt style: templates with {Field} placeholders. style.prompt(Field=…) for inference, data.map(style) for training.",
               category: "training") { args, _ in
        var eos = try args.optionalString("eos") ?? ""
        if args.isNone("eos"), let m = try args.optionalObject("model", as: ModelValue.self),
           let id = m.model.tokenizer.eosTokenId, let tok = m.model.tokenizer.token(for: id) {
            eos = tok
        }
        return .object(try PromptStyle(prompt: try args.string("prompt"), response: try args.string("response"), eos: eos))
    }
}
