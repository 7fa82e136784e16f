#!/usr/bin/env bash
# Fuzzes the tokenizer.json/config parsers and the chat template engine with libFuzzer + AddressSanitizer.
#   fuzz/tokenizer/run.sh SECONDS [extra libFuzzer flags]
# Builds into .build/fuzz-tokenizer/, keeps its corpus in .build/fuzz-tokenizer/corpus (seeded from
# fuzz/tokenizer/seeds and the test fixtures). A crash leaves crash-* files in the current directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"; shift || true
OUT=.build/fuzz-tokenizer
mkdir -p "$OUT/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
    -module-name FinchFuzzTokenizer -o "$OUT/fuzz-tokenizer" \
    Sources/FinchSupport/JSON*.swift Sources/FinchModels/Tokenizer/*.swift Sources/FinchModels/Template/*.swift fuzz/tokenizer/harness.swift
# Seeds: selector byte + file.
seed() { { printf "\\x$1"; cat "$2"; } > "$OUT/corpus/seed-$(basename "$2")-$1"; }
for f in fuzz/tokenizer/seeds/*.json; do seed 00 "$f"; done
seed 00 Tests/FinchModelsTests/Fixtures/tokenizers/spm/tokenizer.json
seed 00 Tests/FinchModelsTests/Fixtures/tokenizers/spm/tokenizer_metaspace.json
seed 01 Tests/FinchModelsTests/Fixtures/tokenizers/smollm2/tokenizer_config.json
seed 01 Tests/FinchModelsTests/Fixtures/tokenizers/spm/tokenizer_config.json
for f in Tests/FinchModelsTests/Fixtures/templates/*.jinja fuzz/tokenizer/seeds/*.jinja; do seed 02 "$f"; done
for f in fuzz/tokenizer/seeds/gguf-*.txt; do seed 03 "$f"; done
"$OUT/fuzz-tokenizer" "$OUT/corpus" -dict=fuzz/tokenizer/json.dict -max_total_time="$SECONDS_TO_RUN" \
    -max_len=65536 -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 "$@"
