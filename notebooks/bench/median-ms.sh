#!/usr/bin/env bash
# Median wall time of N runs of a command (ms).
n=${N:-30}
times=()
for i in $(seq "$n"); do
  s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
  times+=($(( (e - s) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %.1f ms  min %.1f ms  (n=%d)\n", a[int((NR+1)/2)]/1000, a[1]/1000, NR}'
