#!/usr/bin/env bash
# Builds and runs a libFuzzer harness: fuzz/run.sh NAME SECONDS   (NAME: gguf | safetensors)
# The harness is compiled with the parser sources into one module (-sanitize=fuzzer,address); seeds
# come from the committed test fixtures, the working corpus and any crash files go to .build-fuzz/NAME/.
set -euo pipefail
name=${1:?usage: fuzz/run.sh NAME SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.build-fuzz/$name"
mkdir -p "$out/corpus" "$out/artifacts"
sources=("$root"/Sources/FinchModels/Formats/*.swift "$root/Sources/FinchTensor/DType.swift" "$root/fuzz/$name/Harness.swift")
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name FinchFuzz "${sources[@]}" -o "$out/fuzz-$name"
fixtures="$root/Tests/FinchModelsTests/Fixtures"
case "$name" in
  gguf) cp "$fixtures"/*.gguf "$out/corpus/" ;;
  safetensors) cp "$fixtures"/*.safetensors "$fixtures"/sharded/* "$out/corpus/" ;;
  *) echo "unknown harness $name" >&2; exit 2 ;;
esac
cd "$out"
exec ./"fuzz-$name" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 corpus
