#!/usr/bin/env python3
"""Backtest side by side: pipewise vs DuckDB SQL on the same ledger.

Usage: bench/run-forecast.sh  (synthesizes the companies once, then runs this on the 1M one)
       python3 bench/forecast.py --workspace DIR --pipewise target/release/pipewise [--periods 12]

An independent reference of the backtest's core, written from docs/forecasting.md as an analyst would in SQL: at
every week of every past quarter, rebuild the pipeline from the ledger's events as recorded by the cut, and compute

  stage_weighted_crm = won so far in the quarter + Σ amount × configured stage probability
  stage_weighted     = won so far + Σ amount × (won ÷ closed among the deals closed in the 365 days before the cut
                       that had been in the stage)

over the open deals whose close date is in the quarter and not passed, and the actual (won in the quarter, as
recorded today). The two engines' numbers are compared point by point before anything is timed.

pipewise is timed as a whole process (`backtest --methods …`, which also writes its reports); DuckDB in-process
(the 12 × 13 cuts' queries, Python start-up excluded). pipewise is also timed with every method (11, Monte Carlo
included), which the SQL does not attempt.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
from datetime import date, datetime, timedelta, timezone

import duckdb


def segment(ws):
    segs = sorted(glob.glob(os.path.join(ws, "ledger", "segments", "*")))
    if len(segs) != 1:
        sys.exit("the benchmark expects a workspace written by one `pipewise synth` commit")
    return segs[0]


def quarters_before(today, n):
    """The n complete calendar quarters before the one holding `today`, oldest first."""
    y, q = today.year, (today.month - 1) // 3
    out = []
    for _ in range(n):
        q -= 1
        if q < 0:
            y, q = y - 1, 3
        first = date(y, 3 * q + 1, 1)
        last = (date(y + (q == 3), (3 * q + 3) % 12 + 1, 1)) - timedelta(days=1)
        out.append((f"{y}-Q{q + 1}", first, last))
    return out[::-1]


def stage_table(ws):
    cfg = tomllib.load(open(os.path.join(ws, "pipewise.toml"), "rb"))
    rows = []
    for i, s in enumerate(cfg["stages"]):
        for name in [s["name"]] + s.get("aliases", []):
            rows.append((name, i, s.get("outcome", "open"), (s.get("probability") or 0) / 100.0))
    return rows


def setup(con, ws):
    seg = segment(ws)
    con.execute("CREATE TABLE stages (name VARCHAR, code INTEGER, outcome VARCHAR, crm_p DOUBLE)")
    con.executemany("INSERT INTO stages VALUES (?, ?, ?, ?)", stage_table(ws))
    # every event of the three fields a stage-weighted number reads, in memory once (both engines start from Parquet;
    # loading is timed with DuckDB's queries)
    con.execute(f"""
        CREATE TABLE stage_ev AS
          SELECT e.opportunity_key AS k, e.effective_at AS eff, e.recorded_at AS rec, e.seq, s.code, s.outcome
          FROM read_parquet('{seg}/stage.parquet') e JOIN stages s ON s.name = e.new_value;
        CREATE TABLE amount_ev AS
          SELECT opportunity_key AS k, effective_at AS eff, recorded_at AS rec, seq, new_value AS amount
          FROM read_parquet('{seg}/amount.parquet');
        CREATE TABLE close_ev AS
          SELECT opportunity_key AS k, effective_at AS eff, recorded_at AS rec, seq, new_value AS close
          FROM read_parquet('{seg}/close_date.parquet');
        CREATE TABLE keys AS SELECT opportunity_key AS k, created_at FROM read_parquet('{seg}/keys.parquet');
    """)
    if os.path.exists(os.path.join(seg, "deleted.parquet")):
        sys.exit("the benchmark's SQL does not read deletions; use a synthesized workspace")


def point_sql(cut, q_start, q_end_excl, today, q_first, q_last, actual=False):
    """One cut's numbers. `cut` is the instant the ledger is read at (effective and recorded by it)."""
    seen = "TRUE" if actual else f"rec <= {cut}"
    return f"""
    WITH
    st AS (SELECT k, arg_max(code, (eff, seq)) AS code, arg_max(outcome, (eff, seq)) AS outcome,
                  max(eff) AS entered
           FROM stage_ev WHERE eff <= {cut} AND {seen} GROUP BY k),
    am AS (SELECT k, arg_max(amount, (eff, seq)) AS amount FROM amount_ev
           WHERE eff <= {cut} AND {seen} GROUP BY k),
    cl AS (SELECT k, arg_max(close, (eff, seq)) AS close FROM close_ev
           WHERE eff <= {cut} AND {seen} GROUP BY k),
    deal AS (SELECT st.*, coalesce(am.amount, 0) AS amount, cl.close
             FROM st JOIN keys USING (k) LEFT JOIN am USING (k) LEFT JOIN cl USING (k)
             WHERE keys.created_at <= {cut}),
    won AS (SELECT coalesce(sum(amount), 0) AS v FROM deal
            WHERE outcome = 'won' AND entered >= {q_start} AND entered < {q_end_excl})
    """ + ("SELECT v FROM won" if actual else f""",
    visited AS (SELECT DISTINCT e.k, e.code FROM stage_ev e JOIN deal d USING (k)
                WHERE e.eff <= {cut} AND e.rec <= {cut} AND d.outcome <> 'open'
                  AND d.entered >= {cut} - INTERVAL 365 DAY),
    conv AS (SELECT v.code, count(*) FILTER (WHERE d.outcome = 'won')::DOUBLE / count(*) AS p
             FROM visited v JOIN deal d USING (k) GROUP BY v.code),
    crm AS (SELECT code, any_value(crm_p) AS crm_p FROM stages GROUP BY code),
    open AS (SELECT d.code, d.amount FROM deal d
             WHERE d.outcome = 'open' AND d.close >= DATE '{today}' AND d.close BETWEEN DATE '{q_first}' AND DATE '{q_last}')
    SELECT (SELECT v FROM won) + coalesce(sum(o.amount * coalesce(c.p, 0)), 0) AS stage_weighted,
           (SELECT v FROM won) + coalesce(sum(o.amount * crm.crm_p), 0) AS stage_weighted_crm
    FROM open o LEFT JOIN conv c USING (code) JOIN crm USING (code)
    """)


def ts(d):
    return f"TIMESTAMPTZ '{d.isoformat()} 00:00:00+00'"


def duckdb_backtest(con, quarters, weeks):
    out = {}
    for name, first, last in quarters:
        nxt = last + timedelta(days=1)
        actual = con.execute(point_sql(ts(nxt) + " - INTERVAL 1 MICROSECOND", ts(first), ts(nxt), None,
                                       None, None, actual=True)).fetchone()[0]
        for w in weeks:
            day = first + timedelta(days=7 * (w - 1))
            sw, crm = con.execute(point_sql(ts(day), ts(first), ts(nxt), day, first, last)).fetchone()
            out[(name, w, "stage_weighted")] = (sw, actual)
            out[(name, w, "stage_weighted_crm")] = (crm, actual)
    return out


def pipewise_backtest(exe, ws, periods, methods):
    cmd = [exe, "--workspace", ws, "backtest", "--periods", str(periods), "--format", "json"]
    if methods:
        cmd += ["--methods", ",".join(methods)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    took = time.perf_counter() - t
    report = json.load(open(os.path.join(ws, "reports", "backtest.json")))
    return took, report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--pipewise", default="target/release/pipewise")
    ap.add_argument("--periods", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    methods = ["stage_weighted", "stage_weighted_crm"]

    _, report = pipewise_backtest(a.pipewise, a.workspace, a.periods, methods)
    names = report["quarters"]
    quarters = [q for q in quarters_before(date.today(), 40) if q[0] in names]
    if [q[0] for q in quarters] != names:
        sys.exit(f"the report's quarters {names} are not calendar quarters this script can rebuild")
    con = duckdb.connect()
    t = time.perf_counter()
    setup(con, a.workspace)
    load = time.perf_counter() - t
    dk = duckdb_backtest(con, quarters, report["weeks"])

    # Same answers first: every point of both methods, to a cent.
    worst = 0.0
    n = 0
    for p in report["points"]:
        key = (p["quarter"], p["week"], p["method"])
        if key not in dk:
            continue
        f, actual = dk[key]
        assert abs(p["actual"] - actual) < 0.005, f"actuals disagree at {key}: pipewise {p['actual']}, DuckDB {actual}"
        assert p["forecast"] is not None and abs(p["forecast"] - f) <= 0.01 + 1e-9 * abs(f), \
            f"forecasts disagree at {key}: pipewise {p['forecast']}, DuckDB {f}"
        worst = max(worst, abs(p["forecast"] - f))
        n += 1
    assert n == len(dk), f"pipewise reported {n} of DuckDB's {len(dk)} points"
    print(f"{n} points ({len(quarters)} quarters × weeks × 2 methods) agree; largest difference ${worst:.6f}")

    pw2, pwall, dkt = [], [], []
    for _ in range(a.runs):
        pw2.append(pipewise_backtest(a.pipewise, a.workspace, a.periods, methods)[0])
        pwall.append(pipewise_backtest(a.pipewise, a.workspace, a.periods, [])[0])
        c = duckdb.connect()
        t = time.perf_counter()
        setup(c, a.workspace)
        duckdb_backtest(c, quarters, report["weeks"])
        dkt.append(time.perf_counter() - t)
        c.close()
    med = statistics.median
    print(f"DuckDB {duckdb.__version__}, {os.cpu_count()} cores; medians of {a.runs} runs "
          f"(DuckDB's load of the events into memory: {load:.1f} s of its time)")
    print(f"| engine | methods | seconds | DuckDB ÷ engine |")
    print(f"|---|---|---|---|")
    print(f"| DuckDB SQL (in-process) | stage_weighted, stage_weighted_crm | {med(dkt):.1f} | 1.0× |")
    print(f"| pipewise backtest (process) | stage_weighted, stage_weighted_crm | {med(pw2):.1f} | "
          f"{med(dkt) / med(pw2):.1f}× |")
    print(f"| pipewise backtest (process) | all 11 (Monte Carlo included) | {med(pwall):.1f} | "
          f"{med(dkt) / med(pwall):.1f}× |")


if __name__ == "__main__":
    main()
