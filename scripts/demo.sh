#!/usr/bin/env bash
# Demo: publishes a 10 s live test stream (H.264 640x360 + AAC) with our rtmpsink to a private
# nginx-rtmp on a free loopback port while a player plays it back, then prints a one-line summary.
#
# Environment (optional):
#   RTMP_DEMO_PROFILE=debug      use a debug build instead of building in release
#   RTMP_DEMO_PUBLISHER=rtmp2sink  publish with GStreamer's flvmux ! rtmp2sink instead of our rtmpsink
#                                (to compare, or to check the nginx/player half on its own)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install-deps.sh
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

PROFILE=${RTMP_DEMO_PROFILE:-release}
PUBLISHER=${RTMP_DEMO_PUBLISHER:-rtmpsink}
# The plugin, and the example player built on rtmpsrc.
if [ "$PROFILE" = release ]; then
    cargo build --release --lib --example play
else
    cargo build --lib --example play
fi
PLUGIN_DIR=$ROOT/target/$PROFILE

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gst-plugin-rtmp-demo.XXXXXX")
NGINX_PID=
cleanup() {
    if [ -n "$NGINX_PID" ]; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# GStreamer environment: our build first, and a private registry. Debian's librtmp plugin is also
# called "rtmp" in a file also named libgstrtmp.so; with our directory first in GST_PLUGIN_PATH ours
# shadows it, and the private registry keeps that out of the user's registry cache.
export GST_PLUGIN_PATH=$PLUGIN_DIR
export GST_REGISTRY=$WORK/registry.bin

if [ "$PUBLISHER" = rtmpsink ]; then
    if ! inspect=$(gst-inspect-1.0 rtmpsink 2>&1) || ! grep -q "$PLUGIN_DIR/libgstrtmp.so" <<<"$inspect"; then
        echo "demo: element rtmpsink from $PLUGIN_DIR/libgstrtmp.so is not available:" >&2
        echo "$inspect" | head -5 >&2
        exit 1
    fi
fi

mkdir -p "$WORK/rec"
# shellcheck source=scripts/nginx-rtmp.sh
. "$ROOT/scripts/nginx-rtmp.sh"
demo_server_block() {
    cat <<CONF
        application live {
            live on;
            record all;
            record_path $WORK/rec;
            record_unique off;
            # Tells players when the publisher stops, so the players below end with the stream.
            play_restart on;
        }
CONF
}
started=0
start_private_nginx "$WORK" info demo_server_block && started=1
if [ "$started" -ne 1 ]; then
    echo "demo: nginx-rtmp did not start:" >&2
    cat "$WORK/error.log" >&2
    exit 1
fi
URL=rtmp://127.0.0.1:$PORT/live/demo
echo "demo: nginx-rtmp listening on 127.0.0.1:$PORT, publishing to $URL with $PUBLISHER"

# Two players start before the publisher so that they receive the stream from its first frame:
# our rtmpsrc (examples/play.rs: rtmpsrc into decoders, counting decoded frames) and, as an
# independent check, ffprobe.
timeout 60 "$ROOT/target/$PROFILE/examples/play" "$URL" >"$WORK/rtmpsrc.out" 2>"$WORK/rtmpsrc.err" &
RTMPSRC_PID=$!
timeout 60 ffprobe -v error -count_frames \
    -show_entries stream=codec_type,codec_name,width,height,sample_rate,channels,nb_read_frames \
    -of default=noprint_wrappers=1 "$URL" >"$WORK/player.out" 2>"$WORK/player.err" &
PLAYER_PID=$!
for _ in $(seq 100); do
    [ "$(grep -c "play: name='demo'" "$WORK/error.log")" -ge 2 ] && break
    sleep 0.1
done

VIDEO="videotestsrc is-live=true num-buffers=250 ! video/x-raw,width=640,height=360,framerate=25/1 ! x264enc tune=zerolatency key-int-max=50 ! h264parse"
AUDIO="audiotestsrc is-live=true num-buffers=430 ! voaacenc ! aacparse"
pub_status=0
if [ "$PUBLISHER" = rtmpsink ]; then
    # shellcheck disable=SC2086 # the pipeline is split into words on purpose, as gst-launch wants
    timeout 60 gst-launch-1.0 -e $VIDEO ! rtmpsink name=s location="$URL" $AUDIO ! s. \
        >"$WORK/publisher.log" 2>&1 || pub_status=$?
else
    # shellcheck disable=SC2086
    timeout 60 gst-launch-1.0 -e $VIDEO ! flvmux streamable=true name=m ! rtmp2sink location="$URL" $AUDIO ! m. \
        >"$WORK/publisher.log" 2>&1 || pub_status=$?
fi

player_status=0
wait "$PLAYER_PID" || player_status=$?
rtmpsrc_status=0
wait "$RTMPSRC_PID" || rtmpsrc_status=$?
kill "$NGINX_PID" 2>/dev/null || true
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=

if [ "$pub_status" -ne 0 ]; then
    echo "demo: publisher failed (exit $pub_status):" >&2
    tail -20 "$WORK/publisher.log" >&2
fi
if [ "$player_status" -ne 0 ] || [ -s "$WORK/player.err" ]; then
    echo "demo: ffprobe reported (exit $player_status):" >&2
    head -20 "$WORK/player.err" >&2
fi
if [ "$rtmpsrc_status" -ne 0 ]; then
    echo "demo: rtmpsrc player failed (exit $rtmpsrc_status):" >&2
    tail -20 "$WORK/rtmpsrc.err" >&2
fi
# "total: N video frames, M audio frames" from examples/play.rs.
rtmpsrc_total=$(grep '^total:' "$WORK/rtmpsrc.out" | sed 's/^total: //' || true)
rtmpsrc_video=$(sed -n 's/^total: \([0-9]*\) video frames.*/\1/p' "$WORK/rtmpsrc.out")

# One line: what the player decoded per stream.
summary=$(awk -F= '
    $1 == "codec_name" { name = $2 }
    $1 == "codec_type" { type = $2 }
    $1 == "width" && $2 != "N/A" { w = $2 }
    $1 == "height" && $2 != "N/A" { h = $2 }
    $1 == "sample_rate" && $2 != "N/A" { rate = $2 }
    $1 == "channels" && $2 != "N/A" { ch = $2 }
    $1 == "nb_read_frames" {
        if (type == "video") v = sprintf("video %s %sx%s %s frames", name, w, h, $2)
        if (type == "audio") a = sprintf("audio %s %s Hz %sch %s frames", name, rate, ch, $2)
        w = h = rate = ch = ""
    }
    END { printf "%s; %s", (v ? v : "no video"), (a ? a : "no audio") }
' "$WORK/player.out")
if [ "$pub_status" -eq 0 ] && [ "$player_status" -eq 0 ] && [ "$rtmpsrc_status" -eq 0 ] \
    && grep -q "^codec_type=video" "$WORK/player.out" && [ "${rtmpsrc_video:-0}" -gt 0 ]; then
    echo "demo: OK: published 250 video + 430 audio buffers with $PUBLISHER; rtmpsrc decoded ${rtmpsrc_total}; ffprobe decoded $summary"
else
    echo "demo: FAILED: publisher exit $pub_status, rtmpsrc exit $rtmpsrc_status (${rtmpsrc_total:-nothing}), ffprobe exit $player_status ($summary)"
    exit 1
fi
