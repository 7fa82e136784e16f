# Shared by the scripts: quiet builds that show the log when they fail.
quiet_build() {
    local log
    log=$(mktemp)
    if ! swift build "$@" >"$log" 2>&1; then
        grep -E 'error:' "$log" | head -n 60 >&2 || true
        tail -n 30 "$log" >&2
        echo "build failed: swift build $*" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}
