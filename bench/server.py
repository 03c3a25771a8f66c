#!/usr/bin/env python3
"""The team server's API on a workspace: per route and role, warm latency (p50, p95 of sequential requests),
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
    server = subprocess.Popen([exe, "--workspace", ws, "serve", "--addr", f"127.0.0.1:{a.port}", "--state", state],
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{a.port}"
    while True:
        try:
            urllib.request.urlopen(base + "/api/health")
            break
        except Exception:
            if server.poll() is not None:
                sys.exit("the server stopped")
            time.sleep(0.1)
    print(f"server up in {time.perf_counter() - t0:.1f} s; memory {rss_mib(server.pid)}")
    try:
        routes = [
            "/api/me",
            "/api/deals?as_of=2026-03-31&open=true&limit=100",
            "/api/deals?as_of=2026-03-31&open=true",
            "/api/metrics/win_rate?period=2026-Q1",
            "/api/metrics/win_rate?period=2026-Q1&by=owner",
            "/api/forecast?period=2026-Q2&as_of=2026-05-01&method=stage_weighted,probabilistic",
            "/api/submissions?period=2026-Q2",
        ]
        print(f"\n| route | role | p50 ms | p95 ms | bytes |\n|---|---|---|---|---|")
        clients = {r: Client(base, r) for r in ["rep", "manager", "exec"]}
        for path in routes:
            for role, c in clients.items():
                c.get(path)  # warm: the cut, the engine
                times, size = [], 0
                for _ in range(a.runs):
                    t, size = c.get(path)
                    times.append(t)
                times.sort()
                p95 = times[int(0.95 * (len(times) - 1))]
                print(f"| `{path}` | {role} | {statistics.median(times) * 1000:.1f} | {p95 * 1000:.1f} | {size:,} |")
        print(f"\nmemory after the routes: {rss_mib(server.pid)}")
        if shutil.which("wrk"):
            path = "/api/deals?as_of=2026-03-31&open=true&limit=100"
            out = subprocess.run(["wrk", "-t2", "-c50", f"-d{a.duration}s", "--latency", "-H",
                                  f"cookie: {clients['manager'].cookie}", base + path],
                                 capture_output=True, text=True).stdout
            print(f"\nwrk -t2 -c50 -d{a.duration}s {path} (manager):\n{out}")
            print(f"memory after the load: {rss_mib(server.pid)}")
        else:
            print("wrk is not installed (apt-get install wrk): no load run")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
