#!/usr/bin/env bash
# Fuzzing smoke run: builds every cargo-fuzz target in fuzz/ and runs each for SECONDS (default
# 20) on its seed corpus and its regression inputs; fails if any target finds a crash, a hang
# or a memory blow-up. New inputs go to a temporary directory, so the committed corpus stays
# as it is.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The targets build with overflow checks and debug assertions on (fuzz/Cargo.toml's release
# profile), so an arithmetic overflow is a crash here, as it is in a debug build of the plugin.
#
# cargo-fuzz needs unstable rustc flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them, so no nightly is needed.
set -euo pipefail

seconds=${1:-20}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version "^0.13"
fi

export RUSTC_BOOTSTRAP=1
# GLib's deliberate one-off leaks (see the file) would fail the GStreamer-using targets.
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    corpora=("$work/$target" "fuzz/corpus/$target")
    if [ -d "fuzz/regressions/$target" ]; then
        corpora+=("fuzz/regressions/$target")
    fi
    echo "=== $target: ${seconds}s"
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a blow-up is a failure.
    status=0
    cargo fuzz run "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$work/$target.log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units' "$work/$target.log" || true
    if [ "$status" -ne 0 ]; then
        echo "!!! $target failed (exit $status); the end of its log:"
        tail -n 60 "$work/$target.log"
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "all ${#targets[@]} fuzz targets ran ${seconds}s without a failure"
