#!/usr/bin/env python3
"""The team server's API on a workspace: per route and role, the first request's time (it computes; later ones
may be served from the answers kept per ledger version) and warm latency (p50, p95 of sequential requests),
then 50 concurrent connections for 60 s with wrk (errors, p99), and the server's memory.

Usage: bench/run-server.sh [WORKSPACE]   (builds, adds the bench users to a state file of its own, runs this)
       python3 bench/server.py --pipewise target/release/pipewise --workspace DIR [--duration 60]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSWORD = "bench password 123"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def first(exe, ws, sql):
    out = run([exe, "--workspace", ws, "sql", sql, "--format", "json"]).stdout
    return json.loads(out)[0]


class Client:
    def __init__(self, base, login):
        body = json.dumps({"login": login, "password": PASSWORD}).encode()
        req = urllib.request.Request(base + "/api/session", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req) as r:
            self.cookie = "; ".join(c.split(";")[0] for c in r.headers.get_all("set-cookie"))
        self.base = base

    def get(self, path):
        req = urllib.request.Request(self.base + path, headers={"cookie": self.cookie})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            body = r.read()
        return time.perf_counter() - t, len(body)


def start_server(exe, ws, port, state):
    """`pipewise serve` on `ws` with app state `state`, once it answers: (process, base URL)."""
    server = subprocess.Popen([exe, "--workspace", ws, "serve", "--addr", f"127.0.0.1:{port}", "--state", state],
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(base + "/api/health")
            return server, base
        except Exception:
            if server.poll() is not None:
                sys.exit("the server stopped")
            time.sleep(0.1)


def rss_mib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipewise", default="target/release/pipewise")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument("--settle", type=float, default=0,
                    help="seconds to wait after the server is up (its caches warm on a thread of their own)")
    a = ap.parse_args()
    exe, ws = a.pipewise, a.workspace
    tmp = tempfile.mkdtemp()
    state = f"sqlite:{tmp}/state.sqlite"
    rep = first(exe, ws, "select owner_id as id, count(*) n from opportunities group by 1 order by 2 desc limit 1")["id"]
    mgr = first(exe, ws, f"select manager_id as id from users where id = '{rep}'")["id"]
    for login, role, owner in [("rep", "rep", rep), ("manager", "manager", mgr), ("exec", "exec", None)]:
        cmd = [exe, "--workspace", ws, "users", "add", login, "--role", role, "--state", state, "--password-stdin"]
        if owner:
            cmd += ["--owner", owner]
        subprocess.run(cmd, input=PASSWORD + "\n", check=True, capture_output=True, text=True)
    t0 = time.perf_counter()
    server, base = start_server(exe, ws, a.port, state)
    print(f"server up in {time.perf_counter() - t0:.1f} s; memory {rss_mib(server.pid)}")
    if a.settle:
        time.sleep(a.settle)
        print(f"after {a.settle:.0f} s: memory {rss_mib(server.pid)}")
    try:
        # every page's API calls (what app.js asks for), with the demo's days
        day, period = "2026-03-31", "2026-Q1"
        kpis = "open_pipeline,pipeline_coverage,win_rate,average_won_deal_size,average_sales_cycle_days,booked_new_business,quota_attainment,pipeline_created"
        reps = "booked_new_business,quota_attainment,win_rate,average_won_deal_size,open_pipeline,average_sales_cycle_days,meetings_per_week"
        deal = first(exe, ws, f"select id from opportunities where owner_id = '{rep}' limit 1")["id"]
        pages = {
            "shell": ["/api/me", "/api/people", f"/api/period?as_of={day}", "/api/views"],
            "pipeline": [
                f"/api/scorecard?period={period}&as_of={day}&metrics={kpis}",
                f"/api/funnel?period={period}&as_of={day}",
                f"/api/flow?from=2026-03-03&to={day}&period={period}&deals=true",
                f"/api/scorecard?period={period}&as_of={day}&by=team&metrics=pipeline_coverage,open_pipeline,quota_attainment",
            ],
            "forecast": [
                f"/api/forecast?period={period}&as_of={day}",
                f"/api/metrics/open_pipeline?period={period}&as_of={day}&by=forecast_category",
                f"/api/submissions/debiased?period={period}&as_of={day}",
                "/api/submissions/bias",
                f"/api/submissions?period={period}",
            ],
            "reps": [f"/api/scorecard?period={period}&as_of={day}&by=owner&metrics={reps}"],
            "deals": [f"/api/deals?as_of={day}&open=true", f"/api/deals?as_of={day}&open=true&limit=100"],
            "deal": [f"/api/deals/{deal}/history?as_of={day}"],
            "explain": [f"/api/metrics/win_rate/explain?period={period}&as_of={day}", f"/api/metrics/win_rate?period={period}&as_of={day}"],
            "leads": [f"/api/leads?as_of={day}&limit=100", f"/api/leads?as_of={day}&limit=5000&decile=1"],
            "quality": [f"/api/quality?as_of={day}", "/api/quality/changes?limit=1000"],
            "calls": ["/api/submissions/scored"],
        }
        if os.path.exists(os.path.join(ws, "models", "deals", "model.json")):
            pages["deals"].append(f"/api/deals/scores?as_of={day}")
        routes = [(page, path) for page, paths in pages.items() for path in paths]
        print(f"\n| page | route | role | first ms | p50 ms | p95 ms | bytes |\n|---|---|---|---|---|---|---|")
        clients = {r: Client(base, r) for r in ["rep", "manager", "exec"]}
        worst = {}
        for page, path in routes:
            for role, c in clients.items():
                # the first ask computes (the cut, the engine, the answer); the rest are warm
                t_first, _ = c.get(path)
                times, size = [], 0
                for _ in range(a.runs):
                    t, size = c.get(path)
                    times.append(t)
                times.sort()
                p95 = times[int(0.95 * (len(times) - 1))]
                worst[page] = max(worst.get(page, 0), p95)
                print(f"| {page} | `{path}` | {role} | {t_first * 1000:.0f} | {statistics.median(times) * 1000:.1f} "
                      f"| {p95 * 1000:.1f} | {size:,} |")
        print("\n| page | slowest call's p95 ms (any role) | target ≤ 100 |\n|---|---|---|")
        for page, p95 in worst.items():
            print(f"| {page} | {p95 * 1000:.1f} | {'ok' if p95 <= 0.1 else 'MISS'} |")
        print(f"\nmemory after the routes: {rss_mib(server.pid)}")
        if shutil.which("wrk"):
            # 50 connections, each walking every page's calls in turn (bench/pages.lua)
            env = dict(os.environ, PIPEWISE_PATHS="\n".join(p for _, p in routes if "open=true" not in p or "limit" in p))
            out = subprocess.run(["wrk", "-t2", "-c50", f"-d{a.duration}s", "--latency", "-s", "bench/pages.lua",
                                  "-H", f"cookie: {clients['manager'].cookie}", base],
                                 capture_output=True, text=True, env=env).stdout
            print(f"\nwrk -t2 -c50 -d{a.duration}s, every page's calls in turn (manager):\n{out}")
            print(f"memory after the load: {rss_mib(server.pid)}")
        else:
            print("wrk is not installed (apt-get install wrk): no load run")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
