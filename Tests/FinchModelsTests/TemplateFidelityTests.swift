import Foundation
import Testing
@testable import FinchModels
import FinchSupport

/// Chat templates render exactly the text transformers' apply_chat_template gives
/// (fixtures: scripts/reference/template_fixtures.py).
@Suite struct TemplateFidelityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let template: String
        let conversation: String
        let addGenerationPrompt: Bool
        let tools: Bool
        let output: String?
        let error: String?
        var testDescription: String { "\(template)/\(conversation)/gen=\(addGenerationPrompt)\(tools ? "/tools" : "")" }
    }

    static let root: [String: Any] = {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/templates/expected.json")
        guard let d = try? Data(contentsOf: url) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] ?? [:]
    }()

    static let cases: [Case] = ((root["cases"] as? [[String: Any]]) ?? []).map {
        Case(template: $0["template"] as! String, conversation: $0["conversation"] as! String,
             addGenerationPrompt: $0["add_generation_prompt"] as! Bool, tools: $0["tools"] as! Bool,
             output: $0["output"] as? String, error: $0["error"] as? String)
    }

    static func templateSource(_ name: String) throws -> String {
        if name == "smollm2" {
            let cfg = try JSONSerialization.jsonObject(with: TokenizerFixtures.smolConfig) as! [String: Any]
            return cfg["chat_template"] as! String
        }
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/templates/\(name).jinja")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Converts JSON into template values. Object key order is not kept by the parsers, so the order the
    /// fixture was written in (role, content, type, function, …) is restored from a fixed list.
    static func value(_ any: Any) -> TemplateValue {
        let text = (try? JSONSerialization.data(withJSONObject: any, options: [.fragmentsAllowed])) ?? Data()
        return (try? JSON.parse(text, options: .lenient)).map(convert) ?? .none
    }

    static func convert(_ j: JSON) -> TemplateValue {
        switch j {
        case .null: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? .int(Int(d)) : .double(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(convert))
        case .object(let o):
            let order = ["role", "content", "type", "function", "name", "description", "parameters", "properties", "city", "required"]
            let sorted = o.sorted { (order.firstIndex(of: $0.0) ?? 99, $0.0) < (order.firstIndex(of: $1.0) ?? 99, $1.0) }
            return .object(TemplateObject(sorted.map { ($0.0, convert($0.1)) }))
        }
    }

    @Test func enoughCases() {
        #expect(Self.cases.count >= 90)
        #expect(Set(Self.cases.map(\.template)).count >= 8)
        #expect(Self.cases.contains { $0.error != nil })
    }

    @Test(arguments: cases)
    func rendersLikeTransformers(_ c: Case) throws {
        let template = try ChatTemplate(source: try Self.templateSource(c.template))
        let conversations = try #require(Self.root["conversations"] as? [String: Any])
        let messages = (conversations[c.conversation] as! [Any]).map(Self.value)
        let tokens = Self.root["tokens"] as! [String: String]
        var extra: [String: TemplateValue] = [:]
        if c.tools { extra["tools"] = Self.value(Self.root["tools"]!) }
        let render = {
            try template.render(messages: messages, addGenerationPrompt: c.addGenerationPrompt,
                                bosToken: tokens["bos_token"], eosToken: tokens["eos_token"], extra: extra)
        }
        if let expected = c.output {
            let got = try render()
            #expect(got == expected)
        } else {
            #expect(throws: TemplateError.raised(message: c.error ?? "")) { try render() }
        }
    }
}
