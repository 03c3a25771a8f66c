#!/usr/bin/env bash
# How week-1 accuracy and P10–P90 coverage vary with the company: the small (2 years) and medium (3 years)
# synthetic companies of seeds 1–6, each backtested over its latest 12 complete quarters (those with two quarters
# before them). One line per company: quarters, the probabilistic method's coverage over every week, week-1 WAPE
# of probabilistic, blend and stage_weighted, and the backtest's winner at week 1.
# Usage: bench/forecast-seeds.sh (after `cargo build --release -p pipewise`)
set -euo pipefail
B="${CARGO_TARGET_DIR:-target}/release/pipewise"
for size in small medium; do for seed in 1 2 3 4 5 6; do
  W="${TMPDIR:-/tmp}/pipewise-cov-$size-$seed"; years=3; [ "$size" = small ] && years=2
  [ -e "$W/ledger/CURRENT" ] || "$B" --workspace "$W" synth --size "$size" --years "$years" --seed "$seed" >/dev/null 2>&1
  "$B" --workspace "$W" backtest --periods 12 --format json 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)
def pts(m): return [p for p in b["points"] if p["method"] == m]
def wape(m, w=1):
    x = [p for p in pts(m) if p["week"] == w]
    return sum(abs(p["forecast"] - p["actual"]) for p in x) / sum(p["actual"] for p in x)
x = pts("probabilistic")
cov = sum(1 for p in x if p["p10"] <= p["actual"] <= p["p90"]) / len(x)
cells = [sys.argv[1], sys.argv[2], str(len(b["quarters"])), "%.1f%%" % (100 * cov)]
cells += ["%.1f%%" % (100 * wape(m)) for m in ("probabilistic", "blend", "stage_weighted")]
cells.append(b["winners"]["1"])
print("| " + " | ".join(cells) + " |")
' "$size" "$seed"
done; done
