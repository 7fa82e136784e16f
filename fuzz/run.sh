#!/usr/bin/env bash
# Runs a libFuzzer harness: fuzz/run.sh parser SECONDS
# Builds fuzz/NAME/harness.swift with the FinchLang sources (swiftc -sanitize=fuzzer,address) into
# .build/fuzz/NAME and runs it for SECONDS on a corpus in .build/fuzz/NAME-corpus seeded from the
# repository's notebooks, stdlib and test fixtures. Crashes are written to .build/fuzz/NAME-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: fuzz/run.sh parser SECONDS}"
seconds="${2:-60}"
out=.build/fuzz
mkdir -p "$out/$name-corpus" "$out/$name-artifacts"
case "$name" in
    parser) sources=(Sources/FinchLang/*.swift) ;;
    *) echo "unknown harness: $name (known: parser)" >&2; exit 2 ;;
esac
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FinchFuzz \
    "${sources[@]}" "fuzz/$name/harness.swift" -o "$out/$name"
# Seed the corpus with real Finch source.
for f in notebooks/*.cell stdlib/*.fin Tests/FinchNotebookTests/Fixtures/*.cell fuzz/$name/seeds/*; do
    [ -f "$f" ] && cp "$f" "$out/$name-corpus/" || true
done
start=$(date +%s)
set +e
"$out/$name" "$out/$name-corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -artifact_prefix="$out/$name-artifacts/" -print_final_stats=1
status=$?
set -e
echo "fuzz/run.sh: $name ran $(( $(date +%s) - start )) s, exit status $status" >&2
exit $status
