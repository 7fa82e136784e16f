#!/usr/bin/env bash
# Builds and runs the QuantMatVec benchmark in release (-O, -Ounchecked for the Swift engine files as
# Package.swift does) without a full package build: scripts/bench/quant_matvec.sh [threads]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build-bench"
mkdir -p "$out/CFinchKernels"
cat > "$out/CFinchKernels/module.modulemap" <<MAP
module CFinchKernels { header "$root/Sources/CFinchKernels/include/finch_kernels.h" export * }
MAP
for c in "$root"/Sources/CFinchKernels/*.c; do
  clang -O3 -c "$c" -I "$root/Sources/CFinchKernels/include" -o "$out/$(basename "$c" .c).o"
done
swiftc -Ounchecked -wmo -parse-as-library -module-name QuantBench \
  -I "$out/CFinchKernels" -I "$root/Sources/CBLAS" \
  "$root/Sources/FinchTensor/DType.swift" "$root/Sources/FinchTensor/Threads.swift" "$root"/Sources/FinchTensor/Quant/*.swift \
  "$root/scripts/bench/QuantMatVecBench.swift" "$out"/*.o -lopenblas -o "$out/quant-matvec-bench"
FINCH_THREADS=${1:-$(nproc)} "$out/quant-matvec-bench"
