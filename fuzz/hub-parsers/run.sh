#!/bin/sh
# Builds the FinchHub parser fuzzer with libFuzzer + AddressSanitizer and runs it for N seconds (default 60).
set -e
cd "$(dirname "$0")/../.."
out=.build/fuzz; mkdir -p "$out" fuzz/hub-parsers/corpus
S=Sources/FinchHub
swiftc -sanitize=fuzzer,address -parse-as-library -module-name FinchHubFuzz -O \
  fuzz/hub-parsers/main.swift Sources/FinchSupport/JSON*.swift $S/Support/MiniYAML.swift \
  $S/Datasets/DataFiles.swift $S/Datasets/DataTable.swift $S/Datasets/DataFileResolution.swift $S/Support/Glob.swift \
  -o "$out/hub-parsers"
"$out/hub-parsers" -max_total_time="${1:-60}" -max_len=4096 fuzz/hub-parsers/corpus
