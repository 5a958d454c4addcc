#!/bin/sh
# Dynamic streaming on a shaped link, longer than the CI test: three renditions published to a
# private nginx-rtmp (SERVER=nms: node-media-server 2.7 with its GOP cache), rtmpsrc playing
# with renditions=hd:3500,sd:1000,ld:300 while the player's link follows SCHEDULE
# (second:kbit/s,...). Prints a per-second table (time, link, rendition, estimate, delay of
# the buffers leaving rtmpsrc against their timestamps, frames decoded) and the switches.
# Needs root (unshare -n, tc), like tests/renditions.rs whose scenario it runs.
set -eu
cd "$(dirname "$0")/.."
SCHEDULE=${SCHEDULE:-0:10000,10:1500,40:10000,60:3000,80:10000}
DURATION=${DURATION:-100}
SERVER=${SERVER:-nginx}
cargo test --release --test renditions --no-run
exe=$(ls -t target/release/deps/renditions-* | grep -v '\.d$' | head -1)
RENDITIONS_SCENARIO=1 RENDITIONS_SERVER=$SERVER RENDITIONS_SCHEDULE=$SCHEDULE RENDITIONS_DURATION=$DURATION \
    unshare -n -- "$exe" --exact scenario --include-ignored --nocapture
