import Foundation

/// A Jinja chat template (the subset real templates use), parsed once and rendered many times.
///
/// Rendering matches transformers' `apply_chat_template(..., tokenize=False)`: `trim_blocks` and
/// `lstrip_blocks` on, `raise_exception`, `namespace`, `strftime_now`. Sandboxed: templates can only read
/// the values passed in; loops, output size and macro depth are bounded.
public struct ChatTemplate: Sendable {
    public let source: String
    private let nodes: NodeBox

    /// Upper bounds that stop a hostile template.
    public var maxLoopIterations = 1_000_000
    public var maxOutputBytes = 16 << 20

    final class NodeBox: @unchecked Sendable {
        let nodes: [Node]
        init(_ nodes: [Node]) { self.nodes = nodes }
    }

    public init(source: String) throws {
        self.source = source
        // Jinja drops one trailing newline of the template (keep_trailing_newline=False).
        var body = Substring(source)
        if body.hasSuffix("\r\n") || body.hasSuffix("\n") { body.removeLast() }
        let pieces = try TemplateLexer(String(body)).tokenize()
        var parser = TemplateParser(pieces)
        nodes = NodeBox(try parser.parseTemplate())
    }

    /// Renders with messages given as role/content string dictionaries.
    public func render(messages: [[String: String]], addGenerationPrompt: Bool, bosToken: String? = nil,
                       eosToken: String? = nil, extra: [String: TemplateValue] = [:]) throws -> String {
        let values: [TemplateValue] = messages.map { m in
            // Keep role and content first, as the Python dicts that transformers passes would.
            var o = TemplateObject()
            if let r = m["role"] { o["role"] = .string(r) }
            if let c = m["content"] { o["content"] = .string(c) }
            for k in m.keys.sorted() where k != "role" && k != "content" { o[k] = .string(m[k]!) }
            return .object(o)
        }
        return try render(messages: values, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken,
                          eosToken: eosToken, extra: extra)
    }

    /// Renders with arbitrary message values (tool calls, content lists, …). `extra` adds variables such as `tools`.
    public func render(messages: [TemplateValue], addGenerationPrompt: Bool, bosToken: String? = nil,
                       eosToken: String? = nil, extra: [String: TemplateValue] = [:], now: Date = Date()) throws -> String {
        var globals = TemplateBuiltins.globals(strftimeNow: now)
        globals["messages"] = .array(messages)
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        globals["bos_token"] = bosToken.map { .string($0) } ?? .undefined
        globals["eos_token"] = eosToken.map { .string($0) } ?? .undefined
        globals["tools"] = TemplateValue.none
        globals["documents"] = TemplateValue.none
        for (k, v) in extra { globals[k] = v }
        let ev = TemplateEvaluator(globals: globals, limits: .init(maxIterations: maxLoopIterations, maxOutputBytes: maxOutputBytes))
        return try ev.render(nodes.nodes)
    }
}
