#!/usr/bin/env bash
# Fuzzes voice-proto's packet path for a while: ./run.sh [SECONDS] (default 20).
# Exits non-zero if the target crashes or an assertion in it fails; the input that did it
# is left in artifacts/packet/ (reproduce with `cargo +nightly fuzz run packet <file>`).
# Needs the nightly toolchain (sanitizer instrumentation); installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "run.sh: the nightly Rust toolchain is required (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The corpus persists between runs (ignored by git), so each run starts where the last
# one stopped.
mkdir -p corpus/packet
exec cargo +nightly fuzz run --fuzz-dir . packet corpus/packet -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1
