#!/usr/bin/env bash
# On a GPU machine without Swift: unpack the portable binary (scripts/gpu/build-portable), point
# Finch at the CUDA libraries, run the GPU checks, then (unless SELFTEST_ONLY=1) the 8B-shape
# training benchmark in one call, in BENCHMARKS.md's order: Finch, transformers+PEFT, Finch again,
# Finch with a q4_0 base (each with greedy decode). Logs go to the out folder.
# Usage: scripts/gpu/check.sh [finch.gz] [out-dir]      (never run in CI)
set -uo pipefail
gz=${1:-.devcarry/finch.gz}; out=${2:-${OUT:-/tmp/finch-gpu}}
mkdir -p "$out"
gunzip -c "$gz" > /tmp/finch && chmod +x /tmp/finch
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# cuBLAS and NVRTC may live in the pip wheels rather than the system library path.
libs=$(find / \( -name 'libnvrtc.so*' -o -name 'libcublas.so*' \) -not -path '/proc/*' 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
export FINCH_CUDA_LIBS=${FINCH_CUDA_LIBS:-$libs}
echo "FINCH_CUDA_LIBS=$FINCH_CUDA_LIBS"
timeout 300 /tmp/finch selftest --device cuda 2>&1 | tee "$out/selftest.log" || exit 1
[ "${SELFTEST_ONLY:-0}" = 1 ] && exit 0

bench="/tmp/finch bench train --device cuda --shape llama8b --batch 2 --seq-len 2048"
python=$(command -v python3)
[ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3
$bench --steps 4 --decode-tokens 64 2>&1 | tee "$out/finch.log"
if "$python" -c 'import torch, transformers, peft' 2>/dev/null; then
    PYTHONUNBUFFERED=1 "$python" "$(dirname "$0")/../bench/peft_train_cuda.py" 2 2048 4 2>&1 | tee "$out/peft.log"
else
    echo "transformers + PEFT not importable here: peer skipped"
fi
$bench --steps 4 2>&1 | tee "$out/finch-again.log"
$bench --steps 3 --weights q4_0 --decode-tokens 64 2>&1 | tee "$out/finch-q4_0.log"
