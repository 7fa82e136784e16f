import Foundation
import Testing
@testable import FinchModels

@Suite struct TemplateSandboxTests {
    func render(_ source: String, _ messages: [[String: String]] = [["role": "user", "content": "hi"]],
                gen: Bool = false, extra: [String: TemplateValue] = [:]) throws -> String {
        try ChatTemplate(source: source).render(messages: messages, addGenerationPrompt: gen, bosToken: "<s>", eosToken: "</s>", extra: extra)
    }

    @Test func whitespaceControlMatchesJinja() throws {
        // trim_blocks drops the newline after a block tag; lstrip_blocks drops indentation before it.
        #expect(try render("{% if true %}\n  A\n  {% endif %}\nB") == "  A\nB")
        #expect(try render("x  {%- if true -%}  y  {%- endif -%}  z") == "xyz")
        #expect(try render("{{ 'a' }}\n{{ 'b' }}") == "a\nb")          // not for {{ }}
        #expect(try render("a {# note #}\nb") == "a b")                  // comments trim too
        #expect(try render("  {%+ if true %}x{% endif %}") == "  x")     // {%+ keeps indentation
    }

    @Test func expressions() throws {
        #expect(try render("{{ [3, 1, 2] | sort | join(',') }}|{{ 'abc'[::-1] }}|{{ 'abc'[1:] }}|{{ -7 // 2 }}|{{ -7 % 3 }}") == "1,2,3|cba|bc|-4|2")
        #expect(try render("{{ 'x' if false }}|{{ 'x' if false else 'y' }}|{{ none }}|{{ 1.0 }}|{{ [1, 'a'] }}") == "|y|None|1.0|[1, 'a']")
        #expect(try render("{% set x = namespace(n=1) %}{% for i in range(3) %}{% set x.n = x.n * 2 %}{% endfor %}{{ x.n }}") == "8")
        #expect(try render("{% set y = 1 %}{% for i in [1] %}{% set y = 2 %}{% endfor %}{{ y }}") == "1")  // loop scope
        #expect(try render("{% macro m(a, b='!') %}<{{ a }}{{ b }}>{% endmacro %}{{ m('x') }}{{ m('y', b='?') }}") == "<x!><y?>")
        #expect(try render("{{ messages[0].content | upper }}{{ messages[0]['role'] | length }}") == "HI4")
        #expect(try render("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}") == "a1")
        #expect(try render("{{ {'a': [1, {'b': none}]} | tojson(indent=2) }}") == "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ]\n}")
        #expect(try render("{{ strftime_now('%Y') | length }}") == "4")
    }

    @Test func raiseExceptionIsTyped() throws {
        #expect(throws: TemplateError.raised(message: "bad role")) { try render("{{ raise_exception('bad role') }}") }
    }

    @Test func syntaxErrorsCarryPositions() throws {
        #expect(throws: TemplateError.syntax(line: 2, column: 4, message: "unexpected \"}\"")) { try ChatTemplate(source: "ok\n{{ } }}") }
        #expect(throws: TemplateError.syntax(line: 1, column: 1, message: "missing }}")) { try ChatTemplate(source: "{{ x ") }
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{% if x %}no end") }
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{% endfor %}") }
        #expect(throws: TemplateError.syntax(line: 1, column: 1, message: "unsupported statement \"include\"")) {
            try ChatTemplate(source: "{% include 'x' %}")
        }
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{# never closed") }
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{{ 'unterminated }}") }
    }

    @Test func runtimeErrors() throws {
        #expect(throws: TemplateError.runtime(line: 1, message: "undefined value has no attribute \"y\"")) { try render("{{ x.y }}") }
        #expect(throws: TemplateError.runtime(line: 1, message: "unsupported operand types for +: str and int")) { try render("{{ 'a' + 1 }}") }
        #expect(throws: TemplateError.self) { try render("{{ 1 // 0 }}") }
        #expect(throws: TemplateError.self) { try render("{{ x | nosuchfilter }}") }
        #expect(throws: TemplateError.self) { try render("{{ messages() }}") }
    }

    @Test func sandboxBoundsLoopsOutputAndDepth() throws {
        var t = try ChatTemplate(source: "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}")
        t.maxLoopIterations = 100_000
        #expect(throws: TemplateError.limitExceeded("more than 100000 loop iterations")) {
            try t.render(messages: [[String: String]](), addGenerationPrompt: false)
        }
        var big = try ChatTemplate(source: "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}")
        big.maxOutputBytes = 1000
        #expect(throws: TemplateError.limitExceeded("output larger than 1000 bytes")) {
            try big.render(messages: [[String: String]](), addGenerationPrompt: false)
        }
        #expect(throws: TemplateError.self) { try render("{{ range(10000000) }}") }
        #expect(throws: TemplateError.self) { try render("{{ 'x' * 100000000000 }}") }
        #expect(throws: TemplateError.self) { try render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}") }
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}") }
    }

    @Test func tokenizerChatTemplateRendersSmolLM2Prompt() throws {
        let tok = try TokenizerFixtures.tokenizer("smollm2")
        let t = try ChatTemplate(source: try #require(tok.chatTemplate))
        let text = try t.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true)
        #expect(text == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(tok.encode(text).filter { $0 == 1 }.count == 3)
    }
}

@Suite struct TemplateArithmeticEdgeTests {
    func render(_ source: String) throws -> String {
        try ChatTemplate(source: source).render(messages: [[String: String]](), addGenerationPrompt: false)
    }

    /// Extreme integers never trap: Python semantics where cheap, a typed error otherwise.
    @Test func extremeIntegersDoNotTrap() throws {
        let minInt = "(-9223372036854775807 - 1)"
        #expect(try render("{{ \(minInt) // -1 }}") == "9.223372036854776e+18")
        #expect(try render("{{ \(minInt) % -1 }}") == "0")
        #expect(try render("{{ 9223372036854775807 + 1 }}") == "9.223372036854776e+18")
        #expect(try render("{{ 'abc'[2::9223372036854775807] }}") == "c")
        #expect(try render("{{ range(\(minInt), 9223372036854775807, 4611686018427387904) | length }}") == "4")
        #expect(try render("{{ '1e300' | int }}") == "0")
        #expect(throws: TemplateError.self) { try render("{{ range(-9223372036854775807, 9223372036854775807) }}") }
        #expect(throws: TemplateError.self) { try render("{{ 99999999999999999999 }}") }
    }
}
