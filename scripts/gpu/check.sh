#!/usr/bin/env bash
# On a GPU machine without Swift: unpack the portable binary (scripts/gpu/build-portable), point
# Finch at the CUDA libraries, run the GPU checks and the 8B-shape benchmark next to transformers+PEFT.
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
timeout 300 /tmp/finch selftest --device cuda 2>&1 | tee "$out/selftest.log"
