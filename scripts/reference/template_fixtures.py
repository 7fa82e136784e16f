#!/usr/bin/env python3
"""Renders the chat templates under Tests/FinchModelsTests/Fixtures/templates/ with transformers'
apply_chat_template(..., tokenize=False) and writes expected.json next to them.

Run outside CI:  python scripts/reference/template_fixtures.py
The SmolLM2 template comes from the committed SmolLM2 tokenizer fixture. No randomness (seed recorded anyway).
"""
import json, os, glob
import transformers, jinja2
from transformers import AutoTokenizer

SEED = 0
HERE = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FinchModelsTests", "Fixtures")
TPL = os.path.join(HERE, "templates")

CONVERSATIONS = {
    "user_only": [{"role": "user", "content": "Hello! What is 2+2?"}],
    "system_user": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a prime."}],
    "multi_turn": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Tell me a joke about ducks."}],
    "no_system_multi": [
        {"role": "user", "content": "  Translate 'chat' to English.  \n"},
        {"role": "assistant", "content": "<think>\nFrench word.\n</think>\n\n\"Cat\" — it means cat."},
        {"role": "user", "content": "Merci! 日本語で？ 🐱"}],
    "assistant_first": [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "ok"}],
    "tool_role": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "{\"sky\": \"clear\"}"}],
}
TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def main():
    tok = AutoTokenizer.from_pretrained(os.path.join(HERE, "tokenizers", "smollm2"))
    templates = {"smollm2": tok.chat_template}
    for path in sorted(glob.glob(os.path.join(TPL, "*.jinja"))):
        templates[os.path.basename(path)[:-6]] = open(path).read()
    cases = []
    for tname, src in templates.items():
        for cname, conv in CONVERSATIONS.items():
            for agp in (False, True):
                for tools in ((None, TOOLS) if tname in ("qwen2_5", "llama3_1") and cname in ("system_user", "multi_turn") else (None,)):
                    case = {"template": tname, "conversation": cname, "add_generation_prompt": agp,
                            "tools": tools is not None}
                    try:
                        case["output"] = tok.apply_chat_template(conv, chat_template=src, tokenize=False,
                                                                 add_generation_prompt=agp, tools=tools, **TOKENS)
                    except Exception as e:  # raise_exception in the template
                        case["error"] = str(e)
                    cases.append(case)
    out = {"header": {"generator": "scripts/reference/template_fixtures.py", "transformers": transformers.__version__,
                      "jinja2": jinja2.__version__, "seed": SEED},
           "tokens": TOKENS, "tools": TOOLS, "conversations": CONVERSATIONS, "cases": cases}
    with open(os.path.join(TPL, "expected.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(len(cases), "cases,", sum("error" in c for c in cases), "errors")


if __name__ == "__main__":
    main()
