#!/usr/bin/env bash
# Installs the dependencies, builds the plugin and runs every test (unit and integration).
# The exit code is cargo's. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# install-deps.sh ran in a child shell: put rustup's cargo on this shell's PATH too.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

# `cargo build` puts libgstrtmp.so in target/debug/, where the gst-launch-1.0 tests load it from.
cargo build
# Every failing test binary is reported, not only the first.
cargo test --no-fail-fast "$@"
