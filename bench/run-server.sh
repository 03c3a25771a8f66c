#!/usr/bin/env bash
# The team server's benchmark of issue #14: warm latency per route and role, 50 concurrent connections for 60 s
# (wrk, from Debian's packages), and the server's memory, on a workspace (default: the 1M-opportunity company).
# Usage: bench/run-server.sh [WORKSPACE]
set -euo pipefail
cd "$(dirname "$0")/.."
WS="${1:-$HOME/.cache/pipewise-bench/large}"
cargo build --release --quiet -p pipewise
BIN="${CARGO_TARGET_DIR:-target}/release/pipewise"
if [ ! -e "$WS/ledger/CURRENT" ]; then
  echo "synthesizing the 1M-opportunity company into $WS (once)…" >&2
  "$BIN" --workspace "$WS" synth --size large >/dev/null
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; }
python3 bench/server.py --pipewise "$BIN" --workspace "$WS"
