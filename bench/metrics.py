#!/usr/bin/env python3
"""Metric-library and flow benchmark: pipewise vs DuckDB on the same data, side by side.

Usage: bench/run-metrics.sh  (builds, synthesizes the 1M-opportunity company once, runs this)

pipewise: `pipewise scorecard --period Q --by owner --by team --by segment --by region`,
timed as a whole process (start, read the ledger, rebuild deal facts at the two cuts
the library needs, every metric overall and per dimension, print CSV).

DuckDB: the same tables, loaded once from `pipewise export --dialect postgres` into a
DuckDB database file, with the export's deal_facts() as a table macro. It runs the SQL
`pipewise metric NAME --emit-sql --dialect postgres` prints for every metric and
breakdown. Like pipewise, it rebuilds deal facts once per cut (a temporary table per
distinct deal_facts(...) call), then runs the metric queries; both phases are timed,
in-process (Python start-up, loading and SQL generation excluded). The numerators and
denominators of both are compared before any timing is reported.
"""
import argparse
import csv
import io
import os
import re
import statistics
import subprocess
import sys
import time

import duckdb

DIMS = ["owner", "team", "segment", "region"]


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def duckdb_database(pipewise, ws, cache):
    """A DuckDB file with the exported tables and the deal_facts macro (built once)."""
    db = os.path.join(cache, "large.duckdb")
    if os.path.exists(db):
        return db
    export = os.path.join(cache, "large-export")
    if not os.path.exists(os.path.join(export, "load.sql")):
        print(f"exporting the workspace for DuckDB into {export} (once)…", file=sys.stderr)
        sh([pipewise, "--workspace", ws, "export", "--dialect", "postgres", export])
    schema = open(os.path.join(export, "schema.sql")).read()
    if os.path.exists(db + ".tmp"):
        os.remove(db + ".tmp")
    con = duckdb.connect(db + ".tmp")
    body = schema.split("$fn$")
    # (one sales process: deal_facts calls no other function of the schema)
    fn = next(i for i, b in enumerate(body) if "FUNCTION deal_facts(" in b) + 1
    tables_part = "\n".join(l for l in body[0].splitlines() if not l.strip().startswith("--"))
    for stmt in tables_part.split(";"):
        s = stmt.strip()
        if not s or s.startswith("SET ") or s.startswith("CREATE INDEX") or s.startswith("CREATE OR REPLACE FUNCTION"):
            continue
        con.execute(s.replace(" CASCADE", ""))
    # deal_facts(as_of, known) as a DuckDB table macro with the same body.
    con.execute(
        "CREATE MACRO deal_facts(as_of, known := false) AS TABLE " + body[fn].strip()
    )
    for line in open(os.path.join(export, "load.sql")):
        m = re.match(r"\\copy (\w+) FROM '([^']+)'", line)
        if m:
            print(f"  loading {m.group(1)}…", file=sys.stderr)
            con.execute(
                f"COPY {m.group(1)} FROM '{m.group(2)}' "
                "(HEADER true, DELIMITER ',', QUOTE '\"', AUTO_DETECT false)"
            )
    con.close()
    os.rename(db + ".tmp", db)
    return db


def metric_sql(pipewise, ws, names, period):
    """(metric, dimension or None, SQL) for every metric and breakdown."""
    out = []
    for name in names:
        for dim in [None] + DIMS:
            args = [pipewise, "--workspace", ws, "metric", name, "--period", period,
                    "--emit-sql", "--dialect", "postgres"]
            if dim:
                args += ["--by", dim]
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode == 0:
                out.append((name, dim, r.stdout.strip()))
    return out


ARG_MAX_KEY = "epoch_us(effective_at)::HUGEINT * 100000000 + seq"


def arg_max_macro(db):
    """deal_facts(as_of, known) the way a DuckDB user writes it: each field's value in
    force is one `arg_max(new_value, (effective_at, seq))` per field in a single
    GROUP BY over the events (no sort per opportunity and field, as the exported
    function's DISTINCT ON is), the rest of the function as exported."""
    con = duckdb.connect(db, read_only=True)
    body = con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'deal_facts' LIMIT 1"
    ).fetchone()
    con.close()
    if body is None:
        sys.exit("the DuckDB file has no deal_facts macro; delete it to rebuild")
    sql = body[0]
    start, end = sql.index("cur AS ("), sql.index("q AS (")
    fields = re.findall(r"max\(new_value\) FILTER \(WHERE \(?field = '(\w+)'\)?\) AS \"?(\w+)\"?", sql[start:end])
    if not fields:
        sys.exit("could not read the fields of the exported deal_facts")
    cols = ",\n".join(
        f"arg_max(new_value, {ARG_MAX_KEY}) FILTER (WHERE field = '{f}') AS \"{c}\"" for f, c in fields
    )
    p = (f"p AS (SELECT opportunity_id, {cols},\n"
         "max(effective_at) FILTER (WHERE field = 'stage') AS stage_at FROM ev GROUP BY opportunity_id), ")
    return sql[:start] + p + sql[end:]


def run_duckdb(db, queries, best=None):
    """Deal facts once per cut (through the exported function, or `best`: the arg_max
    formulation), then every metric query; the two phases' times and the results."""
    con = duckdb.connect(db, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    if best:
        con.execute(f"CREATE TEMP MACRO deal_facts_best(as_of, known := false) AS TABLE {best}")
    calls = sorted({c for _, _, q in queries for c in re.findall(r"deal_facts\('[^']*'(?:, true)?\)", q)})
    t0 = time.perf_counter()
    names = {}
    for i, c in enumerate(calls):
        names[c] = f"df_{i}"
        source = c.replace("deal_facts(", "deal_facts_best(") if best else c
        con.execute(f"CREATE TEMP TABLE df_{i} AS SELECT * FROM {source}")
    t1 = time.perf_counter()
    results = {}
    for name, dim, q in queries:
        for c, t in names.items():
            q = q.replace(c, t)
        rows = con.execute(q).fetchall()
        n = 1 if dim else 0
        results[(name, dim)] = {
            (str(r[0]) if dim and r[0] is not None else ""): (float(r[n] or 0), float(r[n + 1] or 0))
            for r in rows
        }
    t2 = time.perf_counter()
    con.close()
    return t1 - t0, t2 - t1, results


def run_pipewise(pipewise, ws, period, parse=True):
    """One scorecard process: its wall time and, when `parse`, its rows. (Timed runs
    do not parse: the seconds spent parsing 394k rows between runs let this VM hand
    the freed memory back to its host, and the next run pays to fault it in again.)"""
    args = [pipewise, "--workspace", ws, "scorecard", "--period", period, "--format", "csv"]
    for d in DIMS:
        args += ["--by", d]
    t0 = time.perf_counter()
    out = sh(args)
    elapsed = time.perf_counter() - t0
    if not parse:
        return elapsed, None
    results = {}
    for r in csv.DictReader(io.StringIO(out)):
        key = (r["metric"], r["dimension"] or None)
        results.setdefault(key, {})[r["group"]] = (float(r["numerator"] or 0), float(r["denominator"] or 0))
    return elapsed, results


FLOW_FROM, FLOW_TO, FLOW_PERIOD = "2026-03-31T23:59:59.999999Z", "2026-06-30T23:59:59.999999Z", ("2026-04-01", "2026-06-30")


def flow_duckdb(db):
    """The pipeline of a period at two times and the change between them, in DuckDB SQL:
    each deal's stage, amount, close date and deletion at both cuts (arg_max over the
    event table), its membership in the period's open pipeline at each, and a waterfall
    by comparing the two states (the way a SQL user writes it: a snapshot diff)."""
    a, b = FLOW_PERIOD
    key = "epoch_us(effective_at)::HUGEINT * 100000000 + seq"
    cut = lambda t: f"""
        SELECT e.opportunity_id AS id,
          arg_max(new_value, {key}) FILTER (WHERE field = 'stage') AS stage,
          CAST(arg_max(new_value, {key}) FILTER (WHERE field = 'amount') AS DOUBLE) AS amount,
          CAST(arg_max(new_value, {key}) FILTER (WHERE field = 'close_date') AS DATE) AS close_date,
          coalesce(arg_max(new_value, {key}) FILTER (WHERE field = 'is_deleted'), 'false') AS deleted
        FROM opportunity_events e
        WHERE field IN ('stage', 'amount', 'close_date', 'is_deleted') AND effective_at <= TIMESTAMPTZ '{t}'
        GROUP BY e.opportunity_id"""
    member = lambda x: (f"({x}.id IS NOT NULL AND {x}.deleted <> 'true' AND {x}o.outcome = 'open' "
                        f"AND {x}.close_date BETWEEN DATE '{a}' AND DATE '{b}')")
    sql = f"""
      WITH s AS ({cut(FLOW_FROM)}), e AS ({cut(FLOW_TO)}),
      d AS (
        SELECT coalesce(e.id, s.id) AS id, s.amount AS s_amount, e.amount AS e_amount,
               {member('s')} AS in_s, {member('e')} AS in_e,
               eo.outcome AS e_outcome, e.close_date AS e_close, e.deleted AS e_deleted, s.id IS NULL AS is_new
        FROM e FULL OUTER JOIN s ON s.id = e.id
        LEFT JOIN stages sok ON sok.key = lower(trim(s.stage))
        LEFT JOIN stage_codes so ON so.code = sok.code
        LEFT JOIN stages eok ON eok.key = lower(trim(e.stage))
        LEFT JOIN stage_codes eo ON eo.code = eok.code
      )
      SELECT CASE
          WHEN in_s AND in_e THEN CASE WHEN e_amount > s_amount THEN 'amount_up'
                                       WHEN e_amount < s_amount THEN 'amount_down' ELSE 'unchanged' END
          WHEN in_s THEN CASE WHEN e_deleted = 'true' THEN 'deleted' WHEN e_outcome = 'won' THEN 'won'
                              WHEN e_outcome = 'lost' THEN 'lost' WHEN e_close > DATE '{b}' THEN 'pushed_out'
                              ELSE 'pulled_out' END
          ELSE CASE WHEN is_new THEN 'new' ELSE 'moved_in' END
        END AS bucket,
        count(*) AS deals,
        sum(CASE WHEN in_s THEN 1 ELSE 0 END) AS start_count, sum(CASE WHEN in_s THEN s_amount ELSE 0 END) AS start_amount,
        sum(CASE WHEN in_e THEN 1 ELSE 0 END) AS end_count, sum(CASE WHEN in_e THEN e_amount ELSE 0 END) AS end_amount
      FROM d WHERE in_s OR in_e GROUP BY 1 ORDER BY 1"""
    con = duckdb.connect(db, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - t0
    con.close()
    start = (sum(r[2] for r in rows), sum(r[3] for r in rows))
    end = (sum(r[4] for r in rows), sum(r[5] for r in rows))
    return elapsed, start, end


def flow_pipewise(pipewise, ws):
    args = [pipewise, "--workspace", ws, "flow", FLOW_FROM, FLOW_TO, "--period", "2026-Q2", "--format", "csv"]
    t0 = time.perf_counter()
    out = sh(args)
    elapsed = time.perf_counter() - t0
    rows = {r["bucket"]: r for r in csv.DictReader(io.StringIO(out))}
    start = (int(rows["start"]["count"]), float(rows["start"]["amount"]))
    end = (int(rows["end"]["count"]), float(rows["end"]["amount"]))
    return elapsed, start, end


def close(a, b):
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workspace", required=True)
    p.add_argument("--pipewise", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--period", default="2026-Q2")
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()

    db = duckdb_database(a.pipewise, a.workspace, a.cache)
    names = [r["name"] for r in csv.DictReader(io.StringIO(sh(
        [a.pipewise, "--workspace", a.workspace, "metrics", "--format", "csv"])))]
    queries = metric_sql(a.pipewise, a.workspace, names, a.period)

    # Same numbers first, with either formulation of deal facts.
    best = arg_max_macro(db)
    _, ours = run_pipewise(a.pipewise, a.workspace, a.period)
    for label, b in [("exported deal_facts", None), ("arg_max deal facts", best)]:
        _, _, theirs = run_duckdb(db, queries, b)
        checked = 0
        for key, groups in theirs.items():
            mine = ours.get(key, {})
            for g, (n, d) in groups.items():
                if (n, d) == (0.0, 0.0) and g not in mine:
                    continue
                if g not in mine or not (close(n, mine[g][0]) and close(d, mine[g][1])):
                    sys.exit(f"mismatch ({label}) {key} {g!r}: DuckDB {n}/{d} vs pipewise {mine.get(g)}")
                checked += 1
        print(f"{len(queries)} metric × breakdown queries, {checked} groups: same numerators and "
              f"denominators in both engines (DuckDB with the {label})")

    # One untimed run first: the first process after DuckDB's gigabytes faults its memory
    # in from the host (on this VM up to 2.5 s of kernel time), which says more about the
    # VM than about either engine; it is printed, not counted.
    cold = run_pipewise(a.pipewise, a.workspace, a.period, parse=False)[0]
    pw = [run_pipewise(a.pipewise, a.workspace, a.period, parse=False)[0] for _ in range(a.runs)]
    dk = [run_duckdb(db, queries)[:2] for _ in range(a.runs)]
    facts = [f for f, _ in dk]
    metrics = [m for _, m in dk]
    total = [f + m for f, m in dk]
    dk_best = [run_duckdb(db, queries, best)[:2] for _ in range(a.runs)]
    facts_best = [f for f, _ in dk_best]
    total_best = [f + m for f, m in dk_best]
    med = statistics.median
    print(f"\nmetric library ({len(names)} metrics), {a.period}, overall + by {', '.join(DIMS)}; "
          f"medians of {a.runs} runs")
    print(f"  pipewise scorecard (whole process)      {med(pw) * 1000:8.0f} ms   "
          f"(runs: {', '.join(f'{x * 1000:.0f}' for x in pw)}; first, untimed: {cold * 1000:.0f})")
    print(f"  DuckDB deal facts (once per cut)        {med(facts) * 1000:8.0f} ms")
    print(f"  DuckDB metric queries                   {med(metrics) * 1000:8.0f} ms")
    print(f"  DuckDB total (in-process)               {med(total) * 1000:8.0f} ms")
    print(f"  DuckDB / pipewise                       {med(total) / med(pw):8.1f}x")
    print(f"  DuckDB arg_max deal facts (per cut)     {med(facts_best) * 1000:8.0f} ms")
    print(f"  DuckDB total with arg_max facts         {med(total_best) * 1000:8.0f} ms")
    print(f"  DuckDB at its best / pipewise           {min(med(total), med(total_best)) / med(pw):8.1f}x")

    # Flow: the same start and end pipeline first, then time.
    _, ps, pe = flow_pipewise(a.pipewise, a.workspace)
    _, ds, de = flow_duckdb(db)
    if ps[0] != ds[0] or pe[0] != de[0] or not close(ps[1], ds[1]) or not close(pe[1], de[1]):
        sys.exit(f"flow mismatch: pipewise start {ps} end {pe}; DuckDB start {ds} end {de}")
    cold_flow = flow_pipewise(a.pipewise, a.workspace)[0]  # after DuckDB's run: untimed, as above
    fp = [flow_pipewise(a.pipewise, a.workspace)[0] for _ in range(a.runs)]
    fd = [flow_duckdb(db)[0] for _ in range(a.runs)]
    print(f"\nflow {FLOW_FROM[:10]} → {FLOW_TO[:10]}, period 2026-Q2: start {ps[0]:,} deals / {ps[1]:,.0f}, "
          f"end {pe[0]:,} / {pe[1]:,.0f} in both; medians of {a.runs} runs")
    print(f"  pipewise flow (whole process, path-walked buckets)   {med(fp) * 1000:8.0f} ms   "
          f"(runs: {', '.join(f'{x * 1000:.0f}' for x in fp)}; first, untimed: {cold_flow * 1000:.0f})")
    print(f"  DuckDB snapshot-diff waterfall (in-process)          {med(fd) * 1000:8.0f} ms")
    print(f"  DuckDB / pipewise                                    {med(fd) / med(fp):8.1f}x")


if __name__ == "__main__":
    main()
