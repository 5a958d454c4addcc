#!/usr/bin/env bash
# End-to-end benchmark of our rtmpsink (and rtmpsrc, when the plugin has it) against GStreamer's
# rtmp2 elements, through a private nginx-rtmp on a free loopback port. It measures; it does not
# pass or fail on the numbers.
#
#  (a) publish: a 60 s 720p 8 Mbit/s H.264 + AAC FLV, as fast as the server takes it:
#        ours:   filesrc ! flvdemux ! parsers ! rtmpsink sync=false
#        anchor: filesrc ! flvdemux ! parsers ! flvmux streamable=true ! rtmp2sink sync=false
#  (b) play: the same file published at full speed by ffmpeg (-c copy) to an already connected player:
#        ours:   rtmpsrc ! fakesinks          anchor: rtmp2src ! flvdemux ! fakesinks
#      Both idle-timeout=5, fakesinks sync=false async=false. The player is examples/latency.rs
#      (`count`), which counts every video and audio frame with pad probes; skipped when rtmpsrc
#      is not in the plugin.
#  (c) memory: RSS of a publishing pipeline while nginx is SIGSTOPped (reads nothing) must stay
#      within max-queue-bytes plus the pipeline's baseline (its RSS just before the stop).
#  (d) latency: examples/latency.rs (`measure`): live test sources, x264enc tune=zerolatency and
#      voaacenc, published and played in one process; per video frame, the time from h264parse's
#      output on the publisher to the player's fakesink. Median and 95th percentile per side,
#      alternating ours and the anchor RUNS times, LATENCY_SECONDS (20) each.
#  (e) many publishes: PUBLISHES (16) real-time publishes of a 4 Mbit/s 720p H.264 + AAC file
#      (PUBLISH_SECONDS, 20 s) from one gst-launch-1.0 process, paced by the clock (sync=true,
#      the sinks' default), each to its own stream:
#        ours:   filesrc ! flvdemux ! parsers ! rtmpsink            (x PUBLISHES)
#        anchor: filesrc ! flvdemux ! parsers ! flvmux streamable=true ! rtmp2sink
#      CPU and peak RSS of the process, alternating ours and the anchor RUNS times.
#
# Each of (a), (b) and (e) alternates ours and the anchor RUNS times in one go and reports medians of
# CPU seconds (user+sys of the gst-launch or player process), wall time and peak RSS, and ours/anchor ratios.
# Results: target/bench-e2e/<timestamp>/ (raw.tsv, summary.md).
#
# Environment (optional):
#   RUNS=3            runs of each side
#   SKIP_BUILD=1      use target/release as it is
#   PLUGIN_DIR=DIR    measure DIR/libgstrtmp.so and DIR/examples/latency instead (an A/B of two
#                     builds; with SKIP_BUILD=1)
#   PARTS="a b c d e" which parts to run
#   LATENCY_SECONDS=20  length of each (d) run
#   PUBLISHES=16 PUBLISH_SECONDS=20  publishes and input length of (e)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
PARTS=${PARTS:-a b c d e}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}
PUBLISHES=${PUBLISHES:-16}
PUBLISH_SECONDS=${PUBLISH_SECONDS:-20}

bash scripts/install-deps.sh
need_pkg() {
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        echo "bench-e2e: installing $2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
    fi
}
need_pkg python3 python3
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --lib --example latency
fi
PLUGIN_DIR=${PLUGIN_DIR:-$ROOT/target/release}
LATENCY=$PLUGIN_DIR/examples/latency

OUT=$ROOT/target/bench-e2e/$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gst-plugin-rtmp-bench.XXXXXX")
mkdir -p "$OUT"
NGINX_PID=
BG_PIDS=()
cleanup() {
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [ -n "$NGINX_PID" ]; then
        kill -CONT "$NGINX_PID" 2>/dev/null || true
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Ours shadows Debian's librtmp plugin (also libgstrtmp.so); rtmp2 lives in another file and stays.
# Both sides run with this same environment; a private registry keeps scanning out of the timings.
export GST_PLUGIN_PATH=$PLUGIN_DIR
export GST_REGISTRY=$WORK/registry.bin
# (Output captured first: grep -q closing the pipe early would fail the pipeline under pipefail.)
inspect_sink=$(gst-inspect-1.0 rtmpsink 2>/dev/null || true)
inspect_src=$(gst-inspect-1.0 rtmpsrc 2>/dev/null || true)
if ! grep -q "$PLUGIN_DIR/libgstrtmp.so" <<<"$inspect_sink"; then
    echo "bench-e2e: rtmpsink from $PLUGIN_DIR/libgstrtmp.so is not available" >&2
    exit 1
fi
HAVE_RTMPSRC=0
if grep -q "$PLUGIN_DIR/libgstrtmp.so" <<<"$inspect_src"; then
    HAVE_RTMPSRC=1
fi

# --- the input, made once -------------------------------------------------------------------------
MEDIA_DIR=$ROOT/target/bench-media
MEDIA=$MEDIA_DIR/720p-8M-60s.flv
if [ ! -s "$MEDIA" ]; then
    mkdir -p "$MEDIA_DIR"
    echo "bench-e2e: encoding $MEDIA (once; takes a minute or two)"
    # Temporal noise keeps the encoder busy enough to reach the bitrate with real picture data;
    # CBR with filler holds it at 8 Mbit/s. A keyframe every 2 s, as live services ask.
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 \
        -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 60 -bf 2 \
        -b:v 8M -minrate 8M -maxrate 8M -bufsize 8M -x264-params nal-hrd=cbr \
        -c:a aac -b:a 128k -ac 2 -f flv "$MEDIA.tmp"
    mv "$MEDIA.tmp" "$MEDIA"
fi
read -r VIDEO_FRAMES AUDIO_FRAMES < <(
    v=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$MEDIA")
    a=$(ffprobe -v error -select_streams a:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$MEDIA")
    echo "$v $a"
)
MEDIA_BYTES=$(stat -c %s "$MEDIA")
echo "bench-e2e: input $MEDIA: $MEDIA_BYTES bytes, $VIDEO_FRAMES video and $AUDIO_FRAMES audio frames"

# --- nginx-rtmp ---------------------------------------------------------------------------------
# shellcheck source=scripts/nginx-rtmp.sh
. "$ROOT/scripts/nginx-rtmp.sh"
bench_server_block() {
    cat <<CONF
        # Room for the whole file (4614 messages) per player. With the default (256) nginx drops
        # frames for a player that falls behind a full-speed publisher (rtmp2src got 1744/1800
        # video frames), and inter frames go once the queue is half full, hence twice the count.
        out_queue 16384;
        application live {
            live on;
            # Tells players when the publisher stops, so they end with the stream.
            play_restart on;
        }
        # For checking once what a publisher delivered: nginx writes what it received to a file.
        application verify {
            live on;
            record all;
            record_path $WORK/rec;
            record_unique off;
        }
CONF
}
mkdir -p "$WORK/rec"
started=0
start_private_nginx "$WORK" warn bench_server_block && started=1
if [ "$started" -ne 1 ]; then
    echo "bench-e2e: nginx-rtmp did not start:" >&2
    cat "$WORK/error.log" >&2
    exit 1
fi
BASE_URL=rtmp://127.0.0.1:$PORT/live
echo "bench-e2e: nginx-rtmp on 127.0.0.1:$PORT; results in $OUT"

RAW=$OUT/raw.tsv
printf 'part\tside\trun\twall_s\tcpu_s\tuser_s\tsys_s\tmaxrss_kb\tvideo_frames\taudio_frames\n' >"$RAW"
FRONT="filesrc location=$MEDIA ! flvdemux name=d"

# Like GNU time -f '%e %U %S %M' (wall, user, sys, peak RSS in KiB), with milliseconds: the
# publish takes a fraction of a second, where GNU time's 10 ms steps are too coarse. CPU and
# peak RSS are those of the command and the children it waited for (wait4's rusage).
TIMER='
import os, subprocess, sys, time
start = time.monotonic()
proc = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(proc.pid, 0)
wall = time.monotonic() - start
open(sys.argv[1], "w").write(f"{wall:.3f} {ru.ru_utime:.3f} {ru.ru_stime:.3f} {ru.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
'

# Runs a command under $TIMER; sets WALL USER SYS RSS. Fails if the command fails.
timed() {
    local log=$1
    shift
    if ! python3 -c "$TIMER" "$WORK/time" "$@" >"$log" 2>&1; then
        echo "bench-e2e: failed: $*" >&2
        tail -20 "$log" >&2
        return 1
    fi
    read -r WALL USER SYS RSS <"$WORK/time"
}

record() { # part side run video audio
    local cpu
    cpu=$(python3 -c "print(f'{$USER + $SYS:.3f}')")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$WALL" "$cpu" "$USER" "$SYS" "$RSS" "$4" "$5" >>"$RAW"
    printf '  %-7s %-6s run %s: wall %6ss  cpu %6ss (user %s sys %s)  peak RSS %6s KiB  frames %s/%s\n' \
        "$1" "$2" "$3" "$WALL" "$cpu" "$USER" "$SYS" "$RSS" "$4" "$5"
}

# --- (a) publishing -------------------------------------------------------------------------------
publish_ours() {
    # shellcheck disable=SC2086
    timed "$WORK/pub.log" gst-launch-1.0 -q $FRONT \
        d.video ! queue ! h264parse ! rtmpsink name=s sync=false location="$BASE_URL/a$1" \
        d.audio ! queue ! aacparse ! s.
}
publish_anchor() {
    # shellcheck disable=SC2086
    timed "$WORK/pub.log" gst-launch-1.0 -q $FRONT \
        d.video ! queue ! h264parse ! flvmux name=m streamable=true ! rtmp2sink sync=false location="$BASE_URL/a$1" \
        d.audio ! queue ! aacparse ! m.
}
# What nginx recorded of one publish, as "video audio" frame counts.
recorded_frames() {
    local file=$WORK/rec/$1.flv v a
    v=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$file" 2>/dev/null || echo 0)
    a=$(ffprobe -v error -select_streams a:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$file" 2>/dev/null || echo 0)
    echo "${v:-0} ${a:-0}"
}
if [[ " $PARTS " == *" a "* ]]; then
    # Once each, untimed, into a recording application: did every frame reach the server?
    for side in ours anchor; do
        BASE_URL=${BASE_URL%/live}/verify "publish_$side" "-$side"
        sleep 1
        read -r got_v got_a < <(recorded_frames "a-$side")
        echo "bench-e2e: (a) check: nginx received $got_v/$VIDEO_FRAMES video and $got_a/$AUDIO_FRAMES audio frames from $side"
        printf 'delivered\t%s\t-\t-\t-\t-\t-\t-\t%s\t%s\n' "$side" "$got_v" "$got_a" >>"$RAW"
    done
    echo "bench-e2e: (a) publishing, $RUNS runs each, alternating"
    for run in $(seq "$RUNS"); do
        publish_ours "$run"
        record publish ours "$run" - -
        publish_anchor "$run"
        record publish anchor "$run" - -
    done
fi

# --- (b) playing ----------------------------------------------------------------------------------
play_run() { # side run
    local stream=b$2-$1 log=$WORK/play.log
    (timed "$log" timeout 120 "$LATENCY" count "$1" "$BASE_URL/$stream" && echo "$WALL $USER $SYS $RSS" >"$WORK/play.time") &
    local player_pid=$!
    BG_PIDS+=("$player_pid")
    # Connected and waiting before the publisher starts.
    sleep 2
    ffmpeg -hide_banner -loglevel error -i "$MEDIA" -c copy -f flv "$BASE_URL/$stream"
    if ! wait "$player_pid"; then
        echo "bench-e2e: the $1 player failed" >&2
        return 1
    fi
    read -r WALL USER SYS RSS <"$WORK/play.time"
    # Kept for THREAD_CPU=1 (the player's CPU per thread) and other diagnostics.
    cp "$log" "$OUT/play-$1-$2.log"
    read -r _ PLAYED_VIDEO PLAYED_AUDIO < <(grep '^frames ' "$log")
    if [ "$PLAYED_VIDEO" != "$VIDEO_FRAMES" ] || [ "$PLAYED_AUDIO" != "$AUDIO_FRAMES" ]; then
        echo "bench-e2e: WARNING: $1 player got $PLAYED_VIDEO/$VIDEO_FRAMES video and $PLAYED_AUDIO/$AUDIO_FRAMES audio frames" >&2
    fi
}
if [[ " $PARTS " == *" b "* ]]; then
    if [ "$HAVE_RTMPSRC" -ne 1 ]; then
        echo "bench-e2e: (b) skipped: rtmpsrc is not in $PLUGIN_DIR/libgstrtmp.so yet"
    else
        echo "bench-e2e: (b) playing, $RUNS runs each, alternating"
        for run in $(seq "$RUNS"); do
            for side in ours anchor; do
                play_run "$side" "$run"
                record play "$side" "$run" "$PLAYED_VIDEO" "$PLAYED_AUDIO"
            done
        done
    fi
fi

# --- (c) memory against a server that stops reading -----------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
memory_check() { # side max_queue_bytes
    local side=$1 limit=$2 pipeline
    if [ "$side" = ours ]; then
        pipeline=(d.video ! queue ! identity sleep-time=2000 ! h264parse ! rtmpsink name=s sync=false max-queue-bytes="$limit"
            location="$BASE_URL/c-$side-$limit" d.audio ! queue ! aacparse ! s.)
    else
        pipeline=(d.video ! queue ! identity sleep-time=2000 ! h264parse ! flvmux name=m streamable=true
            ! rtmp2sink sync=false location="$BASE_URL/c-$side-$limit" d.audio ! queue ! aacparse ! m.)
    fi
    # identity holds each video frame 2 ms, so the 60 s file takes about 4 s to publish: the stop
    # comes 1 s in, with the stream flowing and most of the file still to come.
    # -m: the log keeps the bus messages (rtmp-disconnected / rtmp-reconnected, errors).
    # shellcheck disable=SC2086
    gst-launch-1.0 -m $FRONT "${pipeline[@]}" >"$OUT/memory-$side-$limit.log" 2>&1 &
    local pid=$!
    BG_PIDS+=("$pid")
    sleep 1
    local baseline
    baseline=$(rss_kb "$pid")
    kill -STOP "$NGINX_PID"
    local peak=$baseline
    for _ in $(seq 40); do
        sleep 0.25
        local now
        now=$(rss_kb "$pid")
        [ "${now:-0}" -gt "$peak" ] && peak=$now
    done
    local alive=yes
    kill -0 "$pid" 2>/dev/null || alive=no
    kill -CONT "$NGINX_PID"
    # Time to reconnect (reconnect-delay 2 s) before the pipeline is stopped.
    sleep 4
    kill -INT "$pid" 2>/dev/null || true
    sleep 0.5
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local growth=$((peak - baseline)) bound=$((limit / 1024))
    local verdict="within bound"
    if [ "$side" = ours ] && [ "$growth" -gt $((bound + 4096)) ]; then
        verdict="OVER bound"
    fi
    [ "$side" = anchor ] && verdict="(no bound)"
    [ "$alive" = no ] && verdict="$verdict; pipeline ended before the check finished"
    printf '  %-6s max-queue-bytes %9s: baseline %7s KiB, peak %7s KiB, growth %7s KiB (bound %s KiB + 4 MiB slack) %s\n' \
        "$side" "$limit" "$baseline" "$peak" "$growth" "$bound" "$verdict"
    printf 'memory\t%s\t%s\t-\t-\t-\t-\t%s\t%s\t%s\n' "$side" "$limit" "$peak" "$baseline" "$growth" >>"$RAW"
    # What the pipeline said about the stall: our element messages, or the error that ended it.
    grep -o 'rtmp-disconnected[^;]*\|rtmp-reconnected[^;]*\|ERROR: from element .*' \
        "$OUT/memory-$side-$limit.log" | sed 's/^/           /' || true
}
if [[ " $PARTS " == *" c "* ]]; then
    echo "bench-e2e: (c) memory while nginx is stopped (SIGSTOP) for 10 s"
    for limit in 8388608 33554432; do
        memory_check ours "$limit"
    done
    memory_check anchor 0
fi

# --- (d) latency ----------------------------------------------------------------------------------
if [[ " $PARTS " == *" d "* ]]; then
    echo "bench-e2e: (d) latency, $RUNS runs of ${LATENCY_SECONDS} s each, alternating"
    "$LATENCY" measure "$BASE_URL" "$LATENCY_SECONDS" "$RUNS" | tee "$OUT/latency.tsv"
fi

# --- (e) many real-time publishes from one process -------------------------------------------------
if [[ " $PARTS " == *" e "* ]]; then
    MEDIA_E=$MEDIA_DIR/720p-4M-${PUBLISH_SECONDS}s.flv
    if [ ! -s "$MEDIA_E" ]; then
        echo "bench-e2e: encoding $MEDIA_E (once)"
        # As the (a)/(b) file, at 4 Mbit/s.
        ffmpeg -hide_banner -loglevel error -y \
            -f lavfi -i "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t" \
            -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$PUBLISH_SECONDS" \
            -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 60 -bf 2 \
            -b:v 4M -minrate 4M -maxrate 4M -bufsize 4M -x264-params nal-hrd=cbr \
            -c:a aac -b:a 128k -ac 2 -f flv "$MEDIA_E.tmp"
        mv "$MEDIA_E.tmp" "$MEDIA_E"
    fi
    many_publishes() { # side run
        local branches=() i
        for i in $(seq "$PUBLISHES"); do
            branches+=(filesrc location="$MEDIA_E" ! flvdemux name=d$i d$i.video ! queue ! h264parse !)
            if [ "$1" = ours ]; then
                branches+=(rtmpsink name=s$i location="$BASE_URL/e$2-$1-$i" d$i.audio ! queue ! aacparse ! s$i.)
            else
                branches+=(flvmux name=s$i streamable=true ! rtmp2sink location="$BASE_URL/e$2-$1-$i"
                    d$i.audio ! queue ! aacparse ! s$i.)
            fi
        done
        timed "$WORK/many.log" gst-launch-1.0 -q "${branches[@]}"
    }
    echo "bench-e2e: (e) $PUBLISHES real-time publishes of ${PUBLISH_SECONDS} s from one process, $RUNS runs each, alternating"
    for run in $(seq "$RUNS"); do
        for side in ours anchor; do
            many_publishes "$side" "$run"
            record many "$side" "$run" - -
        done
    done
fi

# --- summary --------------------------------------------------------------------------------------
python3 - "$RAW" "$OUT/summary.md" "$RUNS" "$OUT/latency.tsv" "$VIDEO_FRAMES" "$AUDIO_FRAMES" <<'PY'
import csv, os, statistics, sys
raw, out, runs, latency, vf, af = sys.argv[1:7]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
lines = []
for part in ("publish", "play", "many"):
    sel = [r for r in rows if r["part"] == part]
    if not sel:
        continue
    med = {}
    for side in ("ours", "anchor"):
        s = [r for r in sel if r["side"] == side]
        med[side] = {k: statistics.median(float(r[k]) for r in s) for k in ("cpu_s", "wall_s", "maxrss_kb")}
    lines.append(f"### {part} (median of {runs} runs each, alternating)\n")
    frames = part == "play"
    lines.append("| | CPU s (user+sys) | wall s | peak RSS MiB |" + (" frames (video/audio, every run) |" if frames else ""))
    lines.append("|---|---:|---:|---:|" + ("---|" if frames else ""))
    for side in ("ours", "anchor"):
        m = med[side]
        got = ""
        if frames:
            got = " " + ", ".join(f"{r['video_frames']}/{r['audio_frames']}" for r in sel if r["side"] == side)
            got += f" of {vf}/{af} |"
        lines.append(f"| {side} | {m['cpu_s']:.2f} | {m['wall_s']:.2f} | {m['maxrss_kb']/1024:.1f} |{got}")
    o, a = med["ours"], med["anchor"]
    lines.append(f"| ours/anchor | {o['cpu_s']/a['cpu_s']:.2f}x | {o['wall_s']/a['wall_s']:.2f}x | {o['maxrss_kb']/a['maxrss_kb']:.2f}x |" + (" |" if frames else ""))
    lines.append("")
dl = [r for r in rows if r["part"] == "delivered"]
if dl:
    lines.append("Frames nginx received in one untimed publish of each (video, audio): " + ", ".join(
        f"{r['side']} {r['video_frames']}/{r['audio_frames']}" for r in dl) + "\n")
mem = [r for r in rows if r["part"] == "memory"]
if mem:
    lines.append("### memory while the server reads nothing\n")
    lines.append("| side | max-queue-bytes | RSS before stop MiB | peak RSS MiB | growth MiB |")
    lines.append("|---|---:|---:|---:|---:|")
    for r in mem:
        limit = int(r["run"])
        lines.append(f"| {r['side']} | {limit/1048576:.0f} MiB | {int(r['video_frames'])/1024:.1f} | "
                     f"{int(r['maxrss_kb'])/1024:.1f} | {int(r['audio_frames'])/1024:.1f} |"
                     if r["side"] == "ours" else
                     f"| {r['side']} | - | {int(r['video_frames'])/1024:.1f} | {int(r['maxrss_kb'])/1024:.1f} | {int(r['audio_frames'])/1024:.1f} |")
    lines.append("")
if os.path.exists(latency):
    rows = [l.rstrip("\n").split("\t") for l in open(latency) if l[0] != "#"]
    lines.append("### latency, encoder output to player sink, video frames\n")
    lines.append("| side | run | frames published | played | matched | median ms | p95 ms | min ms | max ms |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lines.append(f"| {r[1]} | {r[2] if r[0] == 'run' else 'all runs'} | {r[3]} | {r[4]} | {r[5]} | {r[7]} | {r[8]} | {r[9]} | {r[10]} |")
    lines.append("")
text = "\n".join(lines)
open(out, "w").write(text + "\n")
print(text)
PY
echo "bench-e2e: raw numbers in $RAW, summary in $OUT/summary.md"
