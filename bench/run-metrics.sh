#!/usr/bin/env bash
# The metric-library benchmark of issue #3: 1M synthetic opportunities, pipewise vs DuckDB.
# Usage: bench/run-metrics.sh [WORKSPACE]   (default: $HOME/.cache/pipewise-bench/large)
set -euo pipefail
cd "$(dirname "$0")/.."
WS="${1:-$HOME/.cache/pipewise-bench/large}"
CACHE="$(dirname "$WS")"
python3 -c "import duckdb" 2>/dev/null || pip install --quiet duckdb
cargo build --release --quiet -p pipewise
BIN="${CARGO_TARGET_DIR:-target}/release/pipewise"
if [ ! -e "$WS/ledger/CURRENT" ]; then
  mkdir -p "$CACHE"
  echo "synthesizing 1,000,000 opportunities into $WS (once)…" >&2
  "$BIN" --workspace "$WS" synth --size large --seed 42 >/dev/null
fi
python3 bench/metrics.py --workspace "$WS" --pipewise "$BIN" --cache "$CACHE" "${@:2}"
