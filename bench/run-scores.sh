#!/usr/bin/env bash
# The score benchmark of issue #12: pipewise against LightGBM and scikit-learn, side by side.
# Usage: bench/run-scores.sh [LARGE_WORKSPACE]   (default: $HOME/.cache/pipewise-bench/large;
# the 1M-opportunity company is synthesized there once if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE="${1:-$HOME/.cache/pipewise-bench/large}"
CACHE="$(dirname "$LARGE")"
WORK="$CACHE/scores"
cargo build --release --quiet -p pipewise
BIN="${CARGO_TARGET_DIR:-target}/release/pipewise"
if [ ! -e "$LARGE/ledger/CURRENT" ]; then
  mkdir -p "$CACHE"
  echo "synthesizing 1,000,000 opportunities into $LARGE (once)…" >&2
  "$BIN" --workspace "$LARGE" synth --size large --seed 42 >/dev/null
fi
COMPANY="$WORK/company"
if [ ! -e "$COMPANY/ledger/CURRENT" ]; then
  mkdir -p "$WORK"
  "$BIN" --workspace "$COMPANY" synth --size small --seed 42 >/dev/null
fi
python3 bench/scores.py --pipewise "$BIN" --work "$WORK" --company "$COMPANY" --large "$LARGE" "${@:2}"
