#!/usr/bin/env bash
# The ingest benchmark of issue #10: the 1M-opportunity synthetic company written as a
# Salesforce export (~1 GB of CSV), ingested into a fresh workspace; DuckDB beside it.
# Usage: bench/run-ingest.sh [SCRATCH]   (default: $HOME/.cache/pipewise-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:-$HOME/.cache/pipewise-bench}"
python3 -c "import duckdb" 2>/dev/null || pip install --quiet duckdb
cargo build --release --quiet -p pipewise
BIN="${CARGO_TARGET_DIR:-target}/release/pipewise"
EXPORT="$CACHE/sf-large"
END=2026-06-30
if [ ! -e "$EXPORT/OpportunityHistory.csv" ]; then
  mkdir -p "$CACHE"
  echo "writing the 1,000,000-opportunity company as a Salesforce export into $EXPORT (once)…" >&2
  "$BIN" synth --size large --seed 42 --end "$END" --salesforce-export "$EXPORT" >/dev/null
fi
mkdir -p "$CACHE/ingest-work"
python3 bench/ingest.py --pipewise "$BIN" --export "$EXPORT" --as-of "${END}T23:59:59Z" --work "$CACHE/ingest-work" "${@:2}"
