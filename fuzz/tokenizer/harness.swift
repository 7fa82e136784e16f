// libFuzzer harness for the tokenizer.json / tokenizer_config.json parsers and the chat template engine.
// Built by fuzz/tokenizer/run.sh together with Sources/FinchModels/Tokenizer and Template.
// Input layout: first byte selects the target, the rest is the file.
//   0: tokenizer.json (then encode/decode a few strings with whatever loaded)
//   1: tokenizer_config.json beside a minimal valid tokenizer.json
//   2: a chat template, rendered with a small conversation
//   3: a GGUF tokenizer spec: lines "model pre", then tokens, an empty line, then merges
import Foundation

let minimalTokenizerJSON = #"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"Ġ":3},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"},"decoder":{"type":"ByteLevel"}}"#

func exercise(_ tok: Tokenizer) {
    // Locals, not globals: a lazily initialised global looks like a leak to LeakSanitizer.
    for s in ["", "ab ab", "héllo 123 <|im_start|>", "👨‍👩‍👧", "\r\n\t  x"] {
        let ids = tok.encode(s)
        _ = tok.decode(ids)
        _ = tok.decode(ids + [-1, 1 << 40, tok.vocabSize], skipSpecialTokens: true)
        var stream = tok.streamingDecoder()
        for id in ids { _ = stream.push(id) }
        _ = stream.finish()
    }
    _ = tok.token(for: Int.max)
    _ = tok.id(for: "a")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let body = Data(bytes.dropFirst())
    switch bytes[0] % 4 {
    case 0:
        if let tok = try? Tokenizer(tokenizerJSON: body) { exercise(tok) }
    case 1:
        if let tok = try? Tokenizer(tokenizerJSON: Data(minimalTokenizerJSON.utf8), config: body) {
            exercise(tok)
            if let t = tok.chatTemplate, let tpl = try? ChatTemplate(source: t) {
                _ = try? tpl.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true)
            }
        }
    case 3:
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.first else { return 0 }
        let words = header.split(separator: " ").map(String.init)
        let rest = lines.dropFirst()
        let blank = rest.firstIndex(of: "") ?? rest.endIndex
        let tokens = Array(rest[..<blank])
        let merges = blank < rest.endIndex ? Array(rest[(blank + 1)...]) : []
        let spec = GGUFTokenizerSpec(
            model: words.first ?? "gpt2", pre: words.count > 1 ? words[1] : nil, tokens: tokens,
            tokenTypes: tokens.map { $0.hasPrefix("<") ? 3 : 1 }, scores: tokens.indices.map { Float(-$0) },
            merges: merges, bosTokenId: 0, eosTokenId: tokens.count - 1, unknownTokenId: words.count > 2 ? Int(words[2]) : nil)
        if let tok = try? Tokenizer(gguf: spec) { exercise(tok) }
    default:
        guard let source = String(data: body, encoding: .utf8), var tpl = try? ChatTemplate(source: source) else { return 0 }
        tpl.maxLoopIterations = 10_000
        tpl.maxOutputBytes = 1 << 16
        _ = try? tpl.render(messages: [["role": "system", "content": "s"], ["role": "user", "content": "q"]],
                            addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
    }
    return 0
}
