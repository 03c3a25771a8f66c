#!/usr/bin/env python3
"""As-of benchmark: pipewise vs DuckDB on the same history, side by side.

Usage: bench/run-asof.sh  (builds, synthesizes the 1M-opportunity company once, runs this)
       python3 bench/asof.py --workspace DIR --pipewise target/release/pipewise

pipewise is timed as a whole process (start, load Parquet, reconstruct,
print). DuckDB is timed in-process (query + fetch; Python start-up and import
excluded), reading an OpportunityHistory-style Parquet file (one row per
opportunity and change time, with the stage and amount after the change)
derived from the same ledger. Results of both are compared before timing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import duckdb

AS_OF = "2026-03-31"
WEEKS = 52


def ledger_segment(ws):
    with open(os.path.join(ws, "ledger", "CURRENT")) as f:
        manifest = json.load(open(os.path.join(ws, "ledger", "manifests", f.read().strip())))
    segs = [s["id"] for s in manifest["segments"] if "stage" in s["fields"]]
    if len(segs) != 1:
        sys.exit("the benchmark expects a workspace written by one `pipewise synth` commit")
    return os.path.join(ws, "ledger", "segments", segs[0])


def prepare_history(ws, out):
    """OpportunityHistory-style rows: (opportunity_id, effective_at, stage, amount) after each change."""
    if os.path.exists(out):
        return
    seg = ledger_segment(ws)
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          WITH ev AS (
            SELECT opportunity_key, effective_at, seq, new_value::VARCHAR AS stage, NULL::DOUBLE AS amount
              FROM read_parquet('{seg}/stage.parquet')
            UNION ALL
            SELECT opportunity_key, effective_at, seq, NULL, new_value
              FROM read_parquet('{seg}/amount.parquet')
          ),
          filled AS (
            SELECT opportunity_key, effective_at, seq,
                   last_value(stage IGNORE NULLS) OVER w AS stage,
                   last_value(amount IGNORE NULLS) OVER w AS amount,
                   row_number() OVER (PARTITION BY opportunity_key, effective_at ORDER BY seq DESC) AS rn
            FROM ev
            WINDOW w AS (PARTITION BY opportunity_key ORDER BY effective_at, seq
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
          )
          SELECT k.opportunity_id, f.effective_at, f.stage, f.amount
          FROM filled f JOIN read_parquet('{seg}/keys.parquet') k USING (opportunity_key)
          WHERE rn = 1
          ORDER BY k.opportunity_id, f.effective_at
        ) TO '{out}' (FORMAT parquet)
    """)


def ts(day):
    return f"TIMESTAMPTZ '{day} 23:59:59.999999+00'"


def q_one(hist):
    return f"""
        SELECT stage, count(*) AS count, sum(amount) AS amount FROM (
          SELECT opportunity_id, arg_max(stage, effective_at) AS stage, arg_max(amount, effective_at) AS amount
          FROM read_parquet('{hist}') WHERE effective_at <= {ts(AS_OF)}
          GROUP BY opportunity_id)
        GROUP BY stage ORDER BY stage"""


def q_weekly(hist):
    return f"""
        WITH h AS (
          SELECT stage, amount, effective_at AS valid_from,
                 lead(effective_at, 1, TIMESTAMPTZ '9999-12-31 00:00:00+00')
                   OVER (PARTITION BY opportunity_id ORDER BY effective_at) AS valid_to
          FROM read_parquet('{hist}')),
        cal AS (SELECT unnest(range({ts(AS_OF)} - INTERVAL {(WEEKS - 1) * 7} DAY, {ts(AS_OF)} + INTERVAL 1 SECOND,
                                    INTERVAL 7 DAY)) AS t)
        SELECT t::VARCHAR AS t, stage, count(*) AS count, sum(amount) AS amount
        FROM cal JOIN h ON h.valid_from <= cal.t AND cal.t < h.valid_to
        GROUP BY ALL ORDER BY t, stage"""


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out), min(out)


def pipewise(exe, ws, extra):
    cmd = [exe, "--workspace", ws, "asof", AS_OF, "--by", "stage", "--format", "json"] + extra
    return lambda: subprocess.run(cmd, check=True, capture_output=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--pipewise", default="target/release/pipewise")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    hist = os.path.join(a.workspace, "bench-history.parquet")
    prepare_history(a.workspace, hist)
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*), count(DISTINCT opportunity_id) FROM read_parquet('{hist}')").fetchone()
    print(f"history: {rows[1]:,} opportunities, {rows[0]:,} OpportunityHistory-style rows; "
          f"DuckDB {duckdb.__version__}, {os.cpu_count()} cores")

    # Same answers first.
    pw_one = json.loads(pipewise(a.pipewise, a.workspace, [])())
    dk_one = con.execute(q_one(hist)).fetchall()
    assert {r["group"]: (r["count"], round(r["amount"], 2)) for r in pw_one} == \
        {s: (c, round(m or 0.0, 2)) for s, c, m in dk_one}, "pipewise and DuckDB disagree (one as-of)"
    pw_wk = json.loads(pipewise(a.pipewise, a.workspace, ["--weeks", str(WEEKS)])())
    dk_wk = con.execute(q_weekly(hist)).fetchall()
    assert len(pw_wk) == len(dk_wk), "pipewise and DuckDB disagree (weekly: row counts)"
    for p, (t, s, c, m) in zip(sorted(pw_wk, key=lambda r: (r["as_of"], r["group"])), dk_wk):
        assert (p["group"], p["count"], round(p["amount"], 2)) == (s, c, round(m or 0.0, 2)), (p, (t, s, c, m))

    results = []
    for name, pw_fn, dk_sql, target in [
        ("one as-of by stage", pipewise(a.pipewise, a.workspace, []), q_one(hist), 0.150),
        (f"{WEEKS} weekly snapshots by stage", pipewise(a.pipewise, a.workspace, ["--weeks", str(WEEKS)]),
         q_weekly(hist), 0.800),
    ]:
        pw_med, pw_min = timed(pw_fn, a.runs)
        dk_med, dk_min = timed(lambda: con.execute(dk_sql).fetchall(), a.runs)
        results.append((name, pw_med, pw_min, dk_med, dk_min, target))

    print(f"\n{'query':<32} {'pipewise (process)':>19} {'DuckDB (in-process)':>20} {'DuckDB/pipewise':>16} {'target':>8}")
    for name, pw_med, pw_min, dk_med, dk_min, target in results:
        ok = "ok" if pw_med <= target else "MISSED"
        print(f"{name:<32} {pw_med * 1000:>12.0f} ms    {dk_med * 1000:>13.0f} ms    {dk_med / pw_med:>14.1f}x  "
              f"{target * 1000:>5.0f} ms {ok}")
    print(f"(medians of {a.runs} runs; minimums: " +
          ", ".join(f"{r[0]}: pipewise {r[2] * 1000:.0f} ms, DuckDB {r[4] * 1000:.0f} ms" for r in results) + ")")


if __name__ == "__main__":
    main()
