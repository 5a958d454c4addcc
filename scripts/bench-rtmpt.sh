#!/usr/bin/env bash
# RTMPT's cost against plain RTMP on the same stream, our elements at both ends on loopback.
# It measures; it does not pass or fail on the numbers.
#
#  (a) CPU: the 60 s 720p 8 Mbit/s H.264 + AAC FLV of bench-e2e.sh, published as fast as it goes
#      from one gst-launch process (filesrc ! flvdemux ! parsers ! rtmpsink sync=false) into
#      another (rtmpsrc mode=listener ! fakesinks), over rtmp:// and rtmpt:// alternately, RUNS
#      times each. CPU is user+sys of each process (GNU time), wall is the publisher's.
#  (c) live CPU: the first 20 s of that file published in real time (rtmpsink sync=true), the
#      same two processes; what a live stream costs each end over the tunnel.
#  (b) latency: examples/rtmpt_latency.rs: a live 640x360 30 fps x264enc zerolatency publisher
#      into a listening rtmpsrc in one process, per video frame the time from h264parse on the
#      publisher to the player's fakesink; LATENCY_SECONDS (20) per run, RUNS runs per scheme.
#
# Results: target/bench-rtmpt/<timestamp>/ (raw.tsv, latency.tsv, summary.md).
# Environment: RUNS=5, PARTS="a c b", LATENCY_SECONDS=20, SKIP_BUILD=1 (reuse target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
PARTS=${PARTS:-a c b}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --lib --example rtmpt_latency
fi
PLUGIN_DIR=$ROOT/target/release
OUT=$ROOT/target/bench-rtmpt/$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gst-plugin-rtmp-bench-rtmpt.XXXXXX")
mkdir -p "$OUT"
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export GST_PLUGIN_PATH=$PLUGIN_DIR GST_REGISTRY=$WORK/registry.bin

MEDIA=$ROOT/target/bench-media/720p-8M-60s.flv
if [ ! -s "$MEDIA" ]; then
    mkdir -p "$(dirname "$MEDIA")"
    echo "bench-rtmpt: encoding $MEDIA (once; as bench-e2e.sh makes it)"
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 \
        -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 60 -bf 2 \
        -b:v 8M -minrate 8M -maxrate 8M -bufsize 8M -x264-params nal-hrd=cbr \
        -c:a aac -b:a 128k -ac 2 -f flv "$MEDIA.tmp"
    mv "$MEDIA.tmp" "$MEDIA"
fi

LIVE_MEDIA=$ROOT/target/bench-media/720p-8M-20s.flv
if [ ! -s "$LIVE_MEDIA" ]; then
    ffmpeg -hide_banner -loglevel error -y -i "$MEDIA" -t 20 -c copy -f flv "$LIVE_MEDIA.tmp"
    mv "$LIVE_MEDIA.tmp" "$LIVE_MEDIA"
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}
# "user sys wall maxrss_kib" of a finished run, from GNU time's output file.
cpu_of() { awk '{print $1 + $2, $3, $4}' "$1"; }

one_run() { # scheme run [media sync table]
    local scheme=$1 run=$2 media=${3:-$MEDIA} sync=${4:-false} table=${5:-raw.tsv} port url
    port=$(free_port)
    url="$scheme://127.0.0.1:$port/live/key"
    /usr/bin/time -f "%U %S %e %M" -o "$WORK/server.time" \
        gst-launch-1.0 -q rtmpsrc mode=listener location="$url" timeout=30 name=s \
        s.video ! fakesink sync=false async=false s.audio ! fakesink sync=false async=false \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port" || { echo "bench-rtmpt: the listener did not start"; cat "$WORK/server.log"; exit 1; }
    /usr/bin/time -f "%U %S %e %M" -o "$WORK/client.time" \
        gst-launch-1.0 -q filesrc location="$media" ! flvdemux name=d \
        d.video ! queue ! h264parse ! s.video d.audio ! queue ! aacparse ! s.audio \
        rtmpsink name=s location="$url" sync="$sync" >"$WORK/client.log" 2>&1 ||
        { echo "bench-rtmpt: the publisher failed"; cat "$WORK/client.log"; exit 1; }
    wait "$SERVER_PID" || { echo "bench-rtmpt: the listener failed"; cat "$WORK/server.log"; exit 1; }
    SERVER_PID=
    read -r c_cpu c_wall c_rss < <(cpu_of "$WORK/client.time")
    read -r s_cpu s_wall s_rss < <(cpu_of "$WORK/server.time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scheme" "$run" "$c_cpu" "$s_cpu" "$c_wall" \
        "$((c_rss / 1024))" "$((s_rss / 1024))" | tee -a "$OUT/$table"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
col() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s {print $c}' "$OUT/${3:-raw.tsv}" | median; }

{
    echo "# RTMPT against plain RTMP ($(date -u +%Y-%m-%d), $(nproc) CPUs)"
    echo
} >"$OUT/summary.md"

if [[ " $PARTS " == *" a "* ]]; then
    printf 'scheme\trun\tpublisher_cpu_s\tlistener_cpu_s\twall_s\tpublisher_rss_mib\tlistener_rss_mib\n' >"$OUT/raw.tsv"
    for run in $(seq "$RUNS"); do
        for scheme in rtmp rtmpt; do one_run "$scheme" "$run"; done
    done
    {
        echo "## (a) 60 s 720p 8 Mbit/s file published as fast as it goes (medians of $RUNS runs)"
        echo
        echo "| | publisher CPU s | listener CPU s | wall s | publisher RSS MiB | listener RSS MiB |"
        echo "|---|---|---|---|---|---|"
        for scheme in rtmp rtmpt; do
            echo "| $scheme | $(col $scheme 3) | $(col $scheme 4) | $(col $scheme 5) | $(col $scheme 6) | $(col $scheme 7) |"
        done
        echo
    } >>"$OUT/summary.md"
fi

if [[ " $PARTS " == *" c "* ]]; then
    printf 'scheme\trun\tpublisher_cpu_s\tlistener_cpu_s\twall_s\tpublisher_rss_mib\tlistener_rss_mib\n' >"$OUT/live.tsv"
    for run in $(seq "$RUNS"); do
        for scheme in rtmp rtmpt; do one_run "$scheme" "$run" "$LIVE_MEDIA" true live.tsv; done
    done
    {
        echo "## (c) the first 20 s of that file published in real time (medians of $RUNS runs)"
        echo
        echo "| | publisher CPU s | listener CPU s | wall s | publisher RSS MiB | listener RSS MiB |"
        echo "|---|---|---|---|---|---|"
        for scheme in rtmp rtmpt; do
            echo "| $scheme | $(col $scheme 3 live.tsv) | $(col $scheme 4 live.tsv) | $(col $scheme 5 live.tsv) | $(col $scheme 6 live.tsv) | $(col $scheme 7 live.tsv) |"
        done
        echo
    } >>"$OUT/summary.md"
fi

if [[ " $PARTS " == *" b "* ]]; then
    "$PLUGIN_DIR/examples/rtmpt_latency" "$LATENCY_SECONDS" "$RUNS" | tee "$OUT/latency.tsv"
    {
        echo "## (b) latency, live 640x360 30 fps ($RUNS runs of $LATENCY_SECONDS s per scheme, all frames)"
        echo
        echo "| | frames | median ms | p95 ms | max ms |"
        echo "|---|---|---|---|---|"
        awk -F'\t' '$1 == "all" {printf "| %s | %s | %s | %s | %s |\n", $2, $6, $7, $8, $9}' "$OUT/latency.tsv"
    } >>"$OUT/summary.md"
fi
cat "$OUT/summary.md"
echo "bench-rtmpt: results in $OUT"
