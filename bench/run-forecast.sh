#!/usr/bin/env bash
# The forecast benchmark of issue #13: the backtest's accuracy on the synthetic companies, and its speed on the
# 1M-opportunity company over four years (12 quarters × 13 weeks × every method), and one forecast with every method.
# Usage: bench/run-forecast.sh [CACHE]   (default: $HOME/.cache/pipewise-bench; companies are synthesized once)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:-$HOME/.cache/pipewise-bench}"
cargo build --release --quiet -p pipewise
BIN="${CARGO_TARGET_DIR:-target}/release/pipewise"
synth() { # dir size years seed
  if [ ! -e "$1/ledger/CURRENT" ]; then
    mkdir -p "$(dirname "$1")"
    echo "synthesizing $2 opportunities over $3 years into $1 (once)…" >&2
    "$BIN" --workspace "$1" synth --size "$2" --years "$3" --seed "$4" >/dev/null
  fi
}
synth "$CACHE/forecast-small" small 2 42
synth "$CACHE/forecast-medium" medium 3 7
synth "$CACHE/large4" large 4 42
secs() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1; python3 -c "print(round($EPOCHREALTIME - $t0, 2))"; }
echo "| company | command | seconds |"
echo "|---|---|---|"
for c in forecast-small forecast-medium large4; do
  periods=4; [ "$c" != forecast-small ] && periods=12
  s=$(secs "$BIN" --workspace "$CACHE/$c" backtest --periods "$periods")
  echo "| $c | backtest --periods $periods (13 weeks, every method) | $s |"
done
s=$(secs "$BIN" --workspace "$CACHE/large4" forecast --period 2026-Q2 --as-of 2026-05-01 --known --format csv)
echo "| large4 | forecast --period 2026-Q2 --as-of 2026-05-01 --known (every method, saved backtest) | $s |"
for c in forecast-small forecast-medium large4; do
  echo; echo "### $c"; echo
  sed -n '/## Leaderboard/,/## Deal level/p' "$CACHE/$c/reports/backtest.md" | sed '$d'
  sed -n '/## Deal level/,$p' "$CACHE/$c/reports/backtest.md" | grep -E "^\| (model|---|probabilistic \| (all|1) |stage_probability \| (all|1) )"
done
echo; echo "### side by side with DuckDB SQL (large4)"; echo
python3 bench/forecast.py --workspace "$CACHE/large4" --pipewise "$BIN" --periods 12 --runs 2
