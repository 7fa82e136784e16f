#!/usr/bin/env python3
"""Writes the tokenizer fixtures under Tests/FinchModelsTests/Fixtures/tokenizers/.

Run outside CI, with a venv holding transformers, tokenizers, sentencepiece, gguf:
    python scripts/reference/tokenizer_fixtures.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf

Writes:
  smollm2/tokenizer.json, smollm2/tokenizer_config.json  (from the GGUF through transformers, with the
      pre-tokenizer the real SmolLM2 tokenizer.json uses: Sequence[Digits(individual), ByteLevel])
  variants.json        small overrides that turn the SmolLM2 tokenizer.json into GPT-2 / Llama-3 / Qwen2 style ones
  spm/tokenizer.json, spm/tokenizer_config.json, spm/spm_vocab.json  (a tiny SentencePiece BPE with byte fallback)
  expected.json        the test strings and the reference ids of every variant
No randomness (SentencePiece training is deterministic with one thread); seed recorded anyway.
"""
import json, os, sys, random, tempfile, shutil, copy
import tokenizers, transformers, sentencepiece as spm
from tokenizers import Tokenizer
from transformers import AutoTokenizer

SEED = 0
random.seed(SEED)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FinchModelsTests", "Fixtures", "tokenizers")
HEADER = {
    "generator": "scripts/reference/tokenizer_fixtures.py",
    "transformers": transformers.__version__,
    "tokenizers": tokenizers.__version__,
    "sentencepiece": spm.__version__,
    "seed": SEED,
}

STRINGS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, we've done it, you'd agree; THEY'RE WE'VE I'M",
    "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i); }",
    "let x: [Int: String] = [:] // Swift",
    "1234567890",
    "Pi is 3.14159265358979 and e is 2.71828; 2024-11-25 12:34:56",
    "12 345 6789 00000000001",
    "a  b   c    d",
    "     leading and trailing     ",
    "tabs\tand\t\tmore\ttabs",
    "line one\r\nline two\r\n\r\nline four",
    "\n\n\nnewlines\n\n",
    " \n \n\t\n",
    "你好，世界！今天天气很好。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장입니다.",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم، كيف حالك؟",
    "Café déjà vu: naïve façade, São Paulo, Zürich, Ørsted, ﬁ ligature",
    "e\u0301 composed vs \u00e9 precomposed, A\u030a vs \u00c5",
    "Emoji: 😀 😂 🚀 🇫🇷 👍🏽",
    "Family: 👨‍👩‍👧‍👦 and 🏳️‍🌈 and 👩🏽‍💻",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|>",
    "<|im_start",
    "Special in middle: abc<|im_end|>def",
    "Mixed: ABCdef123ghi456!!! ???",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=2#frag",
    "user@example.com, +1 (555) 123-4567",
    "$$$ %%% ^^^ &&& *** ((( ))) ___ +++",
    "''''' \"\"\" ``` ~~~",
    "CamelCaseIdentifiers and snake_case_names and SCREAMING_CASE",
    "Ελληνικά κείμενα και αριθμοί ١٢٣ ٤٥٦",
    "हिन्दी पाठ और संख्या १२३",
    "ThisIsAVeryLongWordWithoutAnySpacesThatGoesOnAndOnForeverAndEver",
    "a",
    " ",
    "\t",
    "Zero-width: a\u200bb, soft\u00adhyphen, nbsp\u00a0here, bom\ufeffthere",
    "Mathematical: ∀x ∈ ℝ, x² ≥ 0; ∑ᵢ aᵢ ≤ ∞ — “quotes” ‘single’ …",
    "control \u0001\u0002\u007f chars",
    "x = {\"key\": [1, 2, 3], 'other': None}\n\tif x:\n\t\tpass",
    "’s ’t 's 't 'S 'T 'Re 'LL",
    "    indented code\n        more indented\n",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "1 12 123 1234 12345 123456 1234567",
]

# Training text for the tiny SentencePiece model (fixed, so the model does not change when this script does).
TRAINING_TEXT = """
Finch is a notebook-style scripting REPL for adapting language models. People who fine-tune in a notebook
(secrets, Hub login, load a model, prompt style, try it, load a dataset, add LoRA, train, try again, save,
push) do the same in Finch: interactively at the prompt, or in plain-text notebooks that re-run from the
command line. The tokenizer splits text into pieces; byte pair encoding merges the most frequent pairs of
symbols first. Unknown characters fall back to bytes, written <0x41> for the letter A. The quick brown fox
jumps over the lazy dog, and the lazy dog sleeps while the fox runs through the forest and over the hills.
def tokenize(text): return [vocab[piece] for piece in split(text)] # comments, code, numbers 0123456789
""" * 4

LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

DEEPSEEK_RE = r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

SMOLLM_PRE = {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}

VARIANTS = {
    # What transformers' GGUF loader writes: the GPT-2 regex inside ByteLevel.
    "gpt2": {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}},
    # GPT-2 regex with a prefix space added (ByteLevel add_prefix_space true).
    "gpt2_prefix_space": {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
                          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}},
    # Llama-3 style: Split regex + ByteLevel(use_regex false), ignore_merges, legacy "a b" merges,
    # plus added tokens with lstrip/rstrip and a non-special added token.
    "llama3": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                   {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated", "invert": False},
                   {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
               "ignore_merges": True, "merges_format": "string",
               "extra_added_tokens": [
                   {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
                   {"content": "<sep>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
                   {"content": "finchword", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
                   {"content": "xyzzy", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": False}]},
    # DeepSeek-V3/R1 style: three Split regexes Finch has no hand-written splitter for (general regex path).
    "deepseek_v3": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": DEEPSEEK_RE}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}},
    # Qwen2 style: NFC normalizer, single-digit regex, array merges.
    "qwen2": {"normalizer": {"type": "NFC"},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"Regex": QWEN2_RE}, "behavior": "Isolated", "invert": False},
                  {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}},
}
EXTRA_STRINGS = ["a <mask> b", "x<sep>   y", "one   <mask>two<sep>\nthree", "finchword and finchwords", "Ünïcödé <mask>",
                 "xyzzy at start", "inxyzzy and xyzzyout", "a xyzzy, b (xyzzy)"]
# Special tokens written in the text of the SentencePiece-style tokenizers.
SPM_EXTRA_STRINGS = ["<s>Hello</s> world", "a <unk> b", " <s> x</s>", "<s>", "hi\n<s>\n", "</s></s>"]


def apply_variant(base: dict, v: dict) -> dict:
    d = copy.deepcopy(base)
    if "normalizer" in v: d["normalizer"] = v["normalizer"]
    if "pre_tokenizer" in v: d["pre_tokenizer"] = v["pre_tokenizer"]
    if "decoder" in v: d["decoder"] = v["decoder"]
    if "ignore_merges" in v: d["model"]["ignore_merges"] = v["ignore_merges"]
    if v.get("merges_format") == "string":
        d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    next_id = max(t["id"] for t in d["added_tokens"]) + 1
    next_id = max(next_id, len(d["model"]["vocab"]))
    for t in v.get("extra_added_tokens", []):
        d["added_tokens"].append(dict(id=next_id, **t)); next_id += 1
    return d


def main():
    gguf = sys.argv[1]
    os.makedirs(ROOT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    tok = AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
    tok.save_pretrained(tmp)
    base = json.load(open(os.path.join(tmp, "tokenizer.json")))
    base["pre_tokenizer"] = SMOLLM_PRE
    cfg = json.load(open(os.path.join(tmp, "tokenizer_config.json")))
    tpl_path = os.path.join(tmp, "chat_template.jinja")
    if "chat_template" not in cfg and os.path.exists(tpl_path):
        cfg["chat_template"] = open(tpl_path).read()
    cfg["add_bos_token"] = False
    cfg["add_eos_token"] = False
    os.makedirs(os.path.join(ROOT, "smollm2"), exist_ok=True)
    with open(os.path.join(ROOT, "smollm2", "tokenizer.json"), "w") as f:
        json.dump(base, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(ROOT, "smollm2", "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)

    expected = {"header": HEADER, "strings": STRINGS, "extra_strings": EXTRA_STRINGS, "ids": {}}
    # SmolLM2: tokenizers library and transformers must agree.
    smol = Tokenizer.from_str(json.dumps(base))
    hf = AutoTokenizer.from_pretrained(os.path.join(ROOT, "smollm2"))
    ids = []
    for s in STRINGS:
        a = smol.encode(s, add_special_tokens=False).ids
        b = hf.encode(s, add_special_tokens=False)
        assert a == b, (s, a, b)
        assert hf.decode(a) == s or True
        ids.append(a)
    expected["ids"]["smollm2"] = ids
    expected["decoded"] = {"smollm2": [smol.decode(i, skip_special_tokens=False) for i in ids]}

    for name, v in VARIANTS.items():
        t = Tokenizer.from_str(json.dumps(apply_variant(base, v)))
        strings = STRINGS + (EXTRA_STRINGS if "extra_added_tokens" in v else [])
        expected["ids"][name] = [t.encode(s, add_special_tokens=False).ids for s in strings]
        expected["decoded"][name] = [t.decode(i, skip_special_tokens=False) for i in expected["ids"][name]]
        expected["decoded"][name + "_skip"] = [t.decode(i, skip_special_tokens=True) for i in expected["ids"][name]]
    with open(os.path.join(ROOT, "variants.json"), "w") as f:
        json.dump({"header": HEADER, "variants": VARIANTS}, f, ensure_ascii=False, indent=1)

    # SentencePiece BPE with byte fallback, trained on a small text, converted by transformers.
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        text = TRAINING_TEXT + "\n".join(STRINGS) + "\n"
        for _ in range(3): f.write(text)
    prefix = os.path.join(tmp, "spm")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=700, hard_vocab_limit=False,
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, seed_sentencepiece_size=100000,
        allow_whitespace_only_pieces=True)
    from transformers import LlamaTokenizer
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    out_spm = os.path.join(ROOT, "spm")
    os.makedirs(out_spm, exist_ok=True)
    slow_dir = os.path.join(tmp, "slow"); os.makedirs(slow_dir)
    shutil.copy(prefix + ".model", os.path.join(slow_dir, "tokenizer.model"))
    LlamaTokenizer.from_pretrained(slow_dir, legacy=True).save_pretrained(os.path.join(tmp, "converted"))
    converted = json.load(open(os.path.join(tmp, "converted", "tokenizer.json")))
    # transformers 5 writes the Metaspace form; the classic Llama-2 file uses a Prepend+Replace normalizer.
    spmj = copy.deepcopy(converted)
    spmj["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    spmj["pre_tokenizer"] = None
    spmj["model"]["unk_token"] = "<unk>"
    with open(os.path.join(out_spm, "tokenizer.json"), "w") as f:
        json.dump(spmj, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out_spm, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
                   "add_eos_token": False, "legacy": True, "tokenizer_class": "LlamaTokenizer"}, f, indent=2)
    # Pieces and scores as GGUF would hold them (model "llama"): token types 1 normal, 2 unknown, 3 control, 6 byte.
    pieces = []
    for i in range(sp.get_piece_size()):
        ty = 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1
        pieces.append([sp.id_to_piece(i), sp.get_score(i), ty])
    with open(os.path.join(out_spm, "spm_vocab.json"), "w") as f:
        json.dump({"header": HEADER, "pieces": pieces}, f, ensure_ascii=False)
    t = Tokenizer.from_str(json.dumps(spmj))
    expected["spm_extra_strings"] = SPM_EXTRA_STRINGS
    expected["ids"]["spm"] = [t.encode(s, add_special_tokens=False).ids for s in STRINGS + SPM_EXTRA_STRINGS]
    expected["decoded"]["spm"] = [t.decode(i, skip_special_tokens=False) for i in expected["ids"]["spm"]]
    expected["decoded"]["spm_skip"] = [t.decode(i, skip_special_tokens=True) for i in expected["ids"]["spm"]]
    expected["ids"]["spm_sentencepiece"] = [sp.encode(s) for s in STRINGS]
    # Non-legacy Metaspace variant of the same model.
    meta = converted
    with open(os.path.join(out_spm, "tokenizer_metaspace.json"), "w") as f:
        json.dump(meta, f, ensure_ascii=False, separators=(",", ":"))
    t = Tokenizer.from_str(json.dumps(meta))
    expected["ids"]["spm_metaspace"] = [t.encode(s, add_special_tokens=False).ids for s in STRINGS + SPM_EXTRA_STRINGS]
    expected["decoded"]["spm_metaspace"] = [t.decode(i, skip_special_tokens=False) for i in expected["ids"]["spm_metaspace"]]

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
    shutil.rmtree(tmp)
    print("ok", {k: len(v) for k, v in expected["ids"].items()})


if __name__ == "__main__":
    main()
