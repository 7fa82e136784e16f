#!/usr/bin/env bash
# Prefill by prompt length: for each P, each Finch binary at each ISA level, then llama.cpp, then the last binary
# again (median of 3 each, `finch bench decode --prompt-tokens P --tokens 4`: only the prompt's evaluation into a
# fresh cache is timed on both sides, as `scripts/bench/llamacpp_bench.py` times llama.cpp's). BENCHMARKS.md, session 18.
#
# Usage: scripts/bench/prefill_sweep.sh "2 4 6 8 12 16 24" FINCH_BINARY... 
# Env:   FINCH_MODELS (folder with the GGUF; default models), PEER_PYTHON (as decode.sh), THREADS (default 2),
#        ISAS (default "avx512 avx2").
set -euo pipefail
cd "$(dirname "$0")/../.."
LENGTHS=$1; shift
[ $# -ge 1 ] || { echo "usage: $0 \"P ...\" FINCH_BINARY..." >&2; exit 2; }
MODEL=${FINCH_MODELS:-models}/SmolLM2-135M-Instruct.Q4_1.gguf
PY=${PEER_PYTHON:-$( [ -x /work/peers/bin/python ] && echo /work/peers/bin/python || echo python3 )}
T=${THREADS:-2}
[ -f "$MODEL" ] || { echo "no model at $MODEL: run scripts/setup or set FINCH_MODELS" >&2; exit 1; }
cpu() { grep -m1 "$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'; }
echo "cpu: $(cpu 'model name'), family $(cpu 'cpu family') model $(cpu '^model\s'), nproc $(nproc); commit $(git rev-parse --short HEAD); $(date -u '+%F %T UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
prefill() { FINCH_ISA=$2 FINCH_THREADS=$T "$1" bench decode --model "$MODEL" --prompt-tokens "$3" --tokens 4 2>&1 | grep -o "prefill $3 tokens [0-9.]*" | awk '{print $4}'; }
for P in $LENGTHS; do
  line="P=$P"
  for b in "$@"; do for isa in ${ISAS:-avx512 avx2}; do line="$line | $b $isa $(prefill "$b" $isa "$P")"; done; done
  line="$line | llama.cpp $("$PY" scripts/bench/llamacpp_bench.py "$MODEL" "$P" 4 "$T" 2>&1 | grep -o "prefill $P tokens [0-9.]*" | awk '{print $4}')"
  last=${!#}
  for isa in ${ISAS:-avx512 avx2}; do line="$line | $last $isa $(prefill "$last" $isa "$P")"; done
  echo "$line"
done
