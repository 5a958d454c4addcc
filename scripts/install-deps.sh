#!/usr/bin/env bash
# Installs what building and testing the plugin needs on Debian 12: GStreamer (dev files, tools,
# plugins), nginx with the RTMP module and ffmpeg for the integration tests, and node-media-server
# (from the npm registry, into target/nms) as a second RTMP server. Idempotent; when everything is
# already there it does not touch apt or npm at all, so re-runs are fast.
# Run as root (or with sudo available). Source it or run it; it only checks that cargo is present.
set -euo pipefail

PACKAGES=(
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    nginx libnginx-mod-rtmp libnginx-mod-stream ffmpeg openssl pkg-config
    rtmpdump python3 curl
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    # policy-rc.d 101 keeps the package scripts from starting a system nginx on port 80 while
    # installing (invoke-rc.d honours it); our tests start their own instances.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        created_policy=1
    fi
    status=0
    "${SUDO[@]}" apt-get install -y -q "${missing[@]}" || status=$?
    if [ "$created_policy" -eq 1 ]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
    [ "$status" -eq 0 ] || exit "$status"

    # If the package started a system nginx anyway, stop it and keep it from starting at boot.
    # Only when this run installed nginx: an nginx the machine already had is left alone.
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        "${SUDO[@]}" service nginx stop >/dev/null 2>&1 || true
        if [ -d /run/systemd/system ]; then
            "${SUDO[@]}" systemctl disable nginx >/dev/null 2>&1 || true
        fi
    fi
fi

# node-media-server 2.x for tests/node_media_server.rs, in a project-local directory (git-ignored
# with the rest of target/). Node and npm come from Debian when the machine has neither.
NMS_VERSION=2.7.4
nms_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/nms"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q nodejs npm
fi
nms_installed="$(node -p "require('$nms_dir/node_modules/node-media-server/package.json').version" 2>/dev/null || true)"
if [ "$nms_installed" != "$NMS_VERSION" ]; then
    echo "install-deps: installing node-media-server@$NMS_VERSION into $nms_dir"
    mkdir -p "$nms_dir"
    npm install --prefix "$nms_dir" --no-audit --no-fund --loglevel=error "node-media-server@$NMS_VERSION"
fi

# node-media-server 4 (an Enhanced RTMP relay: hvc1/av01/vp09, Opus, FLAC, AC-3) for
# tests/ertmp_nms_play.rs and tests/ertmp_publish_relay.rs, beside the 2.x one.
NMS4_VERSION=4.4.3
nms4_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/nms4"
nms4_installed="$(node -p "require('$nms4_dir/node_modules/node-media-server/package.json').version" 2>/dev/null || true)"
if [ "$nms4_installed" != "$NMS4_VERSION" ]; then
    echo "install-deps: installing node-media-server@$NMS4_VERSION into $nms4_dir"
    mkdir -p "$nms4_dir"
    npm install --prefix "$nms4_dir" --no-audit --no-fund --loglevel=error "node-media-server@$NMS4_VERSION"
fi

# FFmpeg 9 (static, with Enhanced RTMP, multitrack and an RTMPT client) from the PyPI wheel
# imageio-ffmpeg, into target/ffmpeg9/ffmpeg. Tests that need it find it there (FFMPEG9 overrides).
FFMPEG9_WHEEL_VERSION=0.8.1
ff9_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/ffmpeg9"
if [ ! -x "$ff9_dir/ffmpeg" ]; then
    echo "install-deps: fetching FFmpeg 9 (imageio-ffmpeg $FFMPEG9_WHEEL_VERSION) into $ff9_dir"
    mkdir -p "$ff9_dir/wheel"
    pip_cmd=()
    for candidate in pip3 pip; do
        if command -v "$candidate" >/dev/null 2>&1; then
            pip_cmd=("$candidate")
            break
        fi
    done
    if [ "${#pip_cmd[@]}" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get update -q
        "${SUDO[@]}" apt-get install -y -q python3-pip
        pip_cmd=(python3 -m pip)
    fi
    "${pip_cmd[@]}" download --no-deps -q -d "$ff9_dir/wheel" "imageio-ffmpeg==$FFMPEG9_WHEEL_VERSION"
    python3 -m zipfile -e "$ff9_dir"/wheel/imageio_ffmpeg-*.whl "$ff9_dir/wheel/"
    cp "$(ls "$ff9_dir"/wheel/imageio_ffmpeg/binaries/ffmpeg-linux-* | head -n 1)" "$ff9_dir/ffmpeg.tmp"
    chmod 755 "$ff9_dir/ffmpeg.tmp"
    mv "$ff9_dir/ffmpeg.tmp" "$ff9_dir/ffmpeg"
    rm -rf "$ff9_dir/wheel"
fi

# cargo from rustup lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found (install Rust with rustup)" >&2
    exit 1
fi
echo "install-deps: ok ($(cargo --version))"
