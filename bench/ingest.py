#!/usr/bin/env python3
"""Ingest benchmark: a large Salesforce export into a fresh workspace, then the weekly case.

Usage: bench/run-ingest.sh  (builds, writes the 1M-opportunity company as a Salesforce export once, runs this)

pipewise: `pipewise ingest salesforce EXPORT --as-of END` into a fresh workspace, timed as a
whole process with /usr/bin/time (wall time and peak resident memory): reading every file,
the first pass, the connector, the commit (Parquet segments written, fsynced by rename).
Then the weekly case: a copy of the export in which 1% of the opportunities moved on (a new
stage, amount and LastModifiedDate, one new OpportunityHistory row each) is ingested into
the same workspace; only the changes land.

DuckDB: reading the same Opportunity.csv and OpportunityHistory.csv and writing each as
Parquet (`COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)`), in-process. It does
no validation, no history replay and no de-duplication: a floor, not a like-for-like rival.
"""
import argparse
import csv
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import duckdb


def timed(cmd):
    """(wall seconds, peak RSS in MB) of one process, from GNU time."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return wall, rss / 1024.0, p.stderr


def weekly_copy(src, dst, as_of):
    """The export a week later: 1% of opportunities (every 100th) moved on a stage."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for name in os.listdir(src):
        if name not in ("Opportunity.csv", "OpportunityHistory.csv"):
            os.link(os.path.join(src, name), os.path.join(dst, name))
    moved = {}
    with open(os.path.join(src, "Opportunity.csv"), newline="") as fi, open(
        os.path.join(dst, "Opportunity.csv"), "w", newline=""
    ) as fo:
        r = csv.reader(fi)
        w = csv.writer(fo, lineterminator="\n")
        h = next(r)
        w.writerow(h)
        ix = {c: i for i, c in enumerate(h)}
        for n, row in enumerate(r):
            if n % 100 == 7 and row[ix["IsClosed"]].lower() == "false":
                row[ix["StageName"]] = "Closed Won"
                row[ix["IsClosed"]] = "true"
                row[ix["IsWon"]] = "true"
                row[ix["ForecastCategoryName"]] = "Closed"
                row[ix["Probability"]] = "100"
                row[ix["LastModifiedDate"]] = as_of
                moved[row[ix["Id"]]] = (row[ix["Amount"]], row[ix["CloseDate"]])
            w.writerow(row)
    with open(os.path.join(src, "OpportunityHistory.csv"), newline="") as fi, open(
        os.path.join(dst, "OpportunityHistory.csv"), "w", newline=""
    ) as fo:
        shutil.copyfileobj(fi, fo)
        w = csv.writer(fo, lineterminator="\n")
        for k, (oid, (amount, close)) in enumerate(sorted(moved.items())):
            w.writerow([f"008W{k:014d}", oid, as_of, "Closed Won", amount, close, "100", "Closed", "false"])
    return len(moved)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipewise", required=True)
    ap.add_argument("--export", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--work", required=True, help="scratch folder (workspaces, DuckDB output)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    size = sum(os.path.getsize(os.path.join(a.export, f)) for f in os.listdir(a.export))
    with open(os.path.join(a.export, "OpportunityHistory.csv"), "rb") as f:
        hist_rows = sum(1 for _ in f) - 1
    with open(os.path.join(a.export, "Opportunity.csv"), "rb") as f:
        opp_rows = sum(1 for _ in f) - 1
    print(f"export: {size / 1e6:,.0f} MB, {opp_rows:,} opportunities, {hist_rows:,} history rows")

    runs = []
    for k in range(a.runs):
        ws = os.path.join(a.work, f"ws{k}")
        shutil.rmtree(ws, ignore_errors=True)
        # The workspace and its sales process (from the export), timed apart.
        init_wall, init_rss, _ = timed([a.pipewise, "--workspace", ws, "init", "--from", a.export])
        wall, rss, err = timed(
            [a.pipewise, "--workspace", ws, "ingest", "salesforce", a.export, "--as-of", a.as_of]
        )
        print(f"  pipewise init --from run {k + 1}: {init_wall:.1f} s, peak {init_rss:,.0f} MB")
        runs.append((wall, rss))
        print(f"  pipewise ingest run {k + 1}: {wall:.1f} s, peak {rss:,.0f} MB")
        if k < a.runs - 1:
            shutil.rmtree(ws, ignore_errors=True)
    ws = os.path.join(a.work, f"ws{a.runs - 1}")
    m = re.search(r"(\d+) opportunities added, (\d+) events added", err)

    duck = []
    for k in range(a.runs):
        out = os.path.join(a.work, "duck")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        con = duckdb.connect()
        t0 = time.perf_counter()
        for name in ("Opportunity", "OpportunityHistory"):
            src = os.path.join(a.export, f"{name}.csv")
            con.execute(
                f"COPY (SELECT * FROM read_csv('{src}', header = true)) TO '{out}/{name}.parquet' (FORMAT parquet)"
            )
        duck.append(time.perf_counter() - t0)
        con.close()
        print(f"  DuckDB CSV → Parquet run {k + 1}: {duck[-1]:.1f} s")

    # The weekly case: the same workspace, an export a week later.
    t = datetime.datetime.fromisoformat(a.as_of.replace("Z", "+00:00")) + datetime.timedelta(days=7)
    later = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    week = os.path.join(a.work, "weekly-export")
    moved = weekly_copy(a.export, week, later)
    wall_w, rss_w, err_w = timed(
        [a.pipewise, "--workspace", ws, "ingest", "salesforce", week, "--as-of", later]
    )
    mw = re.search(r"(\d+) opportunities added, (\d+) events added, (\d+) duplicate", err_w)

    med = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    dmed = statistics.median(duck)
    print()
    print(f"pipewise ingest (fresh workspace): median {med:.1f} s, peak {peak:,.0f} MB"
          + (f"; {int(m.group(1)):,} opportunities, {int(m.group(2)):,} events" if m else ""))
    print(f"DuckDB CSV → Parquet of the two files: median {dmed:.1f} s  (pipewise / DuckDB = {med / dmed:.1f}x)")
    print(f"weekly re-ingest ({moved:,} opportunities moved): {wall_w:.1f} s, peak {rss_w:,.0f} MB"
          + (f"; {int(mw.group(2)):,} events added, {int(mw.group(3)):,} already in the ledger" if mw else ""))


if __name__ == "__main__":
    main()
