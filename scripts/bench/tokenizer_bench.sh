#!/usr/bin/env bash
# Tokenizer encode/decode throughput, Finch side by side with Hugging Face `tokenizers` in one run.
#   scripts/bench/tokenizer_bench.sh [PYTHON]      (PYTHON: an interpreter with `tokenizers`; skipped if absent)
# The corpus (~400 KB) is built from this repository: Swift sources, docs, and the multilingual fixture strings.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${1:-python3}"
OUT=.build/tokenizer-bench
mkdir -p "$OUT"
swiftc -Ounchecked -wmo -parse-as-library -module-name FinchTokenizerBench -o "$OUT/tokenizer-bench" \
    Sources/FinchModels/Tokenizer/*.swift scripts/bench/tokenizer_bench.swift
# Mixed corpus: code, English prose, and the 50 fixture strings (CJK, Cyrillic, Arabic, emoji, …), repeated.
{
  cat Sources/FinchModels/Tokenizer/*.swift Sources/FinchModels/Template/*.swift
  cat DEVELOPERS.md
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    "$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["strings"]))' \
        Tests/FinchModelsTests/Fixtures/tokenizers/expected.json 2>/dev/null || true
  done
  cat Sources/FinchModels/Tokenizer/*.swift Sources/FinchModels/Template/*.swift
} > "$OUT/corpus.txt"
echo "corpus: $(wc -c < "$OUT/corpus.txt") bytes, $(wc -l < "$OUT/corpus.txt") lines; tokenizer: SmolLM2 (fixture)"
JSON=Tests/FinchModelsTests/Fixtures/tokenizers/smollm2/tokenizer.json
"$OUT/tokenizer-bench" "$JSON" "$OUT/corpus.txt"
"$PY" scripts/bench/tokenizer_bench.py "$JSON" "$OUT/corpus.txt" 2>/dev/null || echo "(tokenizers not available in $PY)"
