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

# Where scripts/setup puts the embedded model and an installed finch finds it: $FINCH_MODELS, else the
# per-user data folder ($XDG_DATA_HOME/finch/models, default ~/.local/share/finch/models).
finch_models_dir() {
    if [ -n "${FINCH_MODELS:-}" ]; then echo "$FINCH_MODELS"; return; fi
    local data="${XDG_DATA_HOME:-}"
    case "$data" in /*) ;; *) data="$HOME/.local/share" ;; esac
    echo "$data/finch/models"
}
