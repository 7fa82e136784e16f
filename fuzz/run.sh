#!/usr/bin/env bash
# Builds and runs a libFuzzer harness: fuzz/run.sh NAME SECONDS
#   parser       the Finch lexer/parser           (fuzz/parser/harness.swift)
#   gguf         the GGUF reader                   (fuzz/gguf/Harness.swift)
#   safetensors  the safetensors reader            (fuzz/safetensors/Harness.swift)
#   tokenizer    tokenizer.json/config/templates   (fuzz/tokenizer/run.sh)
#   hub-parsers  JSON/JSONL/CSV/card YAML/splits   (fuzz/hub-parsers/run.sh, when present)
#   model-config config.json / generation_config.json / adapter_config.json (fuzz/model-config/Harness.swift)
#   checkpoint-state  a checkpoint's state.json      (fuzz/checkpoint-state/Harness.swift)
#   cache-entry  a memo-cache entry of train()      (fuzz/cache-entry/Harness.swift)
# The harness is compiled with the sources it tests (swiftc -sanitize=fuzzer,address); seeds come from
# the committed fixtures; the corpus and any crash files go to .build-fuzz/NAME/.
set -euo pipefail
name=${1:?usage: fuzz/run.sh NAME SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$root/fuzz/$name/run.sh" ]; then exec "$root/fuzz/$name/run.sh" "$seconds"; fi
out="$root/.build-fuzz/$name"
mkdir -p "$out/corpus" "$out/artifacts"
fixtures="$root/Tests/FinchModelsTests/Fixtures"
module=FinchFuzz
case "$name" in
  parser)
    module=FinchLang  # FinchLang's sources name their own module (FinchLang.resolvePath)
    sources=("$root"/Sources/FinchLang/*.swift "$root"/Sources/FinchSupport/*.swift "$root/fuzz/parser/PackageResourcesStub.swift" "$root/fuzz/parser/harness.swift")
    for f in "$root"/notebooks/*.cell "$root"/stdlib/*.fin "$root"/Tests/FinchNotebookTests/Fixtures/*.cell "$root"/fuzz/parser/seeds/*; do
        [ -f "$f" ] && cp "$f" "$out/corpus/" || true
    done
    maxlen=4096 ;;
  gguf)
    sources=("$root"/Sources/FinchModels/Formats/*.swift "$root"/Sources/FinchSupport/*.swift "$root/Sources/FinchTensor/DType.swift" "$root/fuzz/gguf/Harness.swift")
    cp "$fixtures"/*.gguf "$out/corpus/"
    maxlen=65536 ;;
  safetensors)
    sources=("$root"/Sources/FinchModels/Formats/*.swift "$root"/Sources/FinchSupport/*.swift "$root/Sources/FinchTensor/DType.swift" "$root/fuzz/safetensors/Harness.swift")
    cp "$fixtures"/*.safetensors "$fixtures"/sharded/* "$out/corpus/"
    maxlen=65536 ;;
  model-config)
    m="$root/Sources/FinchModels"
    sources=("$m/Architectures/ModelConfig.swift" "$m/ModelError.swift" "$root/Sources/FinchTrain/AdapterConfig.swift" "$root"/Sources/FinchSupport/JSON*.swift
             "$root/fuzz/model-config/RopeStub.swift" "$root/fuzz/model-config/Harness.swift")
    cp "$root"/fuzz/model-config/seeds/* "$out/corpus/"
    maxlen=4096 ;;
  checkpoint-state)
    sources=("$root/Sources/FinchTrain/CheckpointState.swift" "$root"/Sources/FinchSupport/JSON*.swift "$root/fuzz/checkpoint-state/Harness.swift")
    cp "$root"/fuzz/checkpoint-state/seeds/* "$out/corpus/"
    maxlen=4096 ;;
  cache-entry)
    sources=("$root"/Sources/FinchModels/Formats/*.swift "$root"/Sources/FinchSupport/*.swift "$root/Sources/FinchTensor/DType.swift"
             "$root/Sources/FinchTrain/TrainCacheFormat.swift" "$root/fuzz/cache-entry/StepMetricsStub.swift" "$root/fuzz/cache-entry/Harness.swift")
    cp "$root"/fuzz/cache-entry/seeds/* "$out/corpus/"
    maxlen=8192 ;;
  *) echo "unknown harness $name (parser, gguf, safetensors, tokenizer, hub-parsers, model-config, checkpoint-state, cache-entry)" >&2; exit 2 ;;
esac
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name "$module" "${sources[@]}" -o "$out/fuzz-$name"
start=$(date +%s)
set +e
"$out/fuzz-$name" "$out/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=$maxlen -timeout=10 \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1
status=$?
set -e
echo "fuzz/run.sh: $name ran $(( $(date +%s) - start )) s, exit status $status" >&2
exit $status
