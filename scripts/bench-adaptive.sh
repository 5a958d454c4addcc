#!/usr/bin/env bash
# Adaptive bitrate on a shaped link (issue #12): the scenario of tests/adaptive_shaped.rs, run
# several ways, one per-second table each. It measures; it does not pass or fail on the numbers.
#
# Each run is a child process in a private network namespace (unshare -n, so root): nginx-rtmp
# on its loopback, `tc` htb shaping the traffic to nginx's port, a live 640x360 30 fps x264enc
# (4 Mbit/s, zerolatency, ultrafast, keyframe every second) + 128 kbit/s AAC publisher, and our
# rtmpsrc playing the stream, all in one process. Per second: the link rate, the encoder's
# bitrate property (target), what it produced (encoded), what the player received, the largest
# delay of a video frame arriving in that second (arrival against capture time), GOPs dropped.
#
# Modes (MODES, default all four):
#   adaptive  rtmpsink adaptive-bitrate=true max-delay=1500
#   drop      rtmpsink max-delay=1500 (GOPs dropped, bitrate untouched)
#   plain     rtmpsink as by default
#   rtmp2     flvmux streamable=true ! rtmp2sink
#   app       as adaptive, the encoder in another pipeline (proxysink/proxysrc) out of the
#             sink's reach: the scenario applies each rtmp-bitrate-changed target itself
# PHASES: link rate and duration, "kbps:seconds,...", default 8000:8,1500:15,8000:12.
#
# Results: target/bench-adaptive/<timestamp>/<mode>.txt and summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODES=${MODES:-adaptive drop plain rtmp2}
PHASES=${PHASES:-8000:8,1500:15,8000:12}
if [ "$(id -u)" != 0 ]; then
    echo "needs root (unshare -n, tc)" >&2
    exit 1
fi
# The scenario is the ignored `scenario` test of the adaptive_shaped test binary.
BIN=$(cargo test --test adaptive_shaped --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*adaptive_shaped[^"]*"' | tail -1 | cut -d'"' -f4)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "could not build tests/adaptive_shaped.rs" >&2
    exit 1
fi
cargo build --lib >/dev/null 2>&1
OUT=$ROOT/target/bench-adaptive/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.md
{
    echo "# Adaptive bitrate on a shaped link ($(date -u +%Y-%m-%d), phases $PHASES)"
    echo
} >"$SUMMARY"
for mode in $MODES; do
    echo "== $mode" >&2
    RTMP_ABR_MODE=$mode RTMP_ABR_PHASES=$PHASES unshare -n "$BIN" --ignored --exact scenario \
        --nocapture >"$OUT/$mode.raw" 2>"$OUT/$mode.err" || {
        echo "$mode failed: see $OUT/$mode.err" >&2
        continue
    }
    grep '^ROW' "$OUT/$mode.raw" | cut -c5- >"$OUT/$mode.txt"
    {
        echo "## $mode"
        echo
        echo '```'
        echo "  t  link  target  encoded  received  delay_ms  dropped_gops  (kbit/s)"
        cat "$OUT/$mode.txt"
        echo '```'
        awk '{ if ($6 > max) max = $6 } END { printf "worst delay %d ms\n\n", max }' "$OUT/$mode.txt"
    } >>"$SUMMARY"
done
cat "$SUMMARY"
echo "results in $OUT" >&2
