#!/usr/bin/env bash
# Prefill and greedy decode, Finch next to llama.cpp in one run (BENCHMARKS.md "Prefill and decode"):
# Finch at each ISA level, llama.cpp, then Finch again; the same GGUF, prompt text, token counts and threads.
# Prints the machine, the commit and the load first.
#
# Usage: scripts/bench/decode.sh [prompt_tokens=256] [decode_tokens=64] [threads=2]
# Env:   FINCH_MODELS (folder with the GGUF; default models), PEER_PYTHON (a python with llama-cpp-python;
#        default /work/peers/bin/python if present, else python3), FINCH (default .build/release/finch),
#        ISAS (default "avx512 avx2"; levels the CPU lacks run at its best level), MODES (FINCH_DECODE values,
#        default "int16 exact int8": int16 is what generate does by default, exact its f32-activation twin, int8
#        llama.cpp's arithmetic).
set -euo pipefail
cd "$(dirname "$0")/../.."
P=${1:-256}; N=${2:-64}; T=${3:-2}
MODEL=${FINCH_MODELS:-models}/SmolLM2-135M-Instruct.Q4_1.gguf
FINCH=${FINCH:-.build/release/finch}
PY=${PEER_PYTHON:-$( [ -x /work/peers/bin/python ] && echo /work/peers/bin/python || echo python3 )}
[ -f "$MODEL" ] || { echo "no model at $MODEL: run scripts/setup or set FINCH_MODELS" >&2; exit 1; }
[ -x "$FINCH" ] || { echo "no $FINCH: swift build -c release --product finch" >&2; exit 1; }

cpu() { grep -m1 "$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'; }
flags=$(cpu '^flags' | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|avx512_bf16)$' | tr '\n' ' ')
echo "cpu: $(cpu 'model name'), family $(cpu 'cpu family') model $(cpu '^model\s'), nproc $(nproc), flags: $flags"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources || echo '+changes'), $(date -u '+%F %T UTC'), threads $T"
echo "load: $(uptime | sed 's/.*load average/load average/')"
finch() {
    for isa in ${ISAS:-avx512 avx2}; do for mode in ${MODES:-int16 exact int8}; do
        echo -n "FINCH_ISA=$isa FINCH_DECODE=$mode  "
        FINCH_ISA=$isa FINCH_DECODE=$mode FINCH_THREADS=$T "$FINCH" bench decode --model "$MODEL" --prompt-tokens "$P" --tokens "$N"
    done; done
}
finch
"$PY" scripts/bench/llamacpp_bench.py "$MODEL" "$P" "$N" "$T"
finch
echo "load: $(uptime | sed 's/.*load average/load average/')"
