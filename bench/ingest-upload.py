#!/usr/bin/env python3
"""An ingest from the browser against the same ingest at the terminal: a Salesforce export (written by
`pipewise synth --salesforce-export`) ingested into a fresh workspace by `pipewise ingest salesforce DIR`, and into
another by uploading its files to a running server (POST /api/jobs/ingest, as the Data quality page does) and
polling the job to its end. Prints both wall times, their ratio, the upload's share, and the server's memory.

Usage: python3 bench/ingest-upload.py --pipewise target/release/pipewise --export DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from server import PASSWORD, rss_mib, run, start_server  # bench/server.py


def multipart(fields, files):
    """A multipart body streamed from the files (fields: name → value; files: paths)."""
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for p in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{os.path.basename(p)}"\r\n'
                f"Content-Type: text/csv\r\n\r\n").encode()
        parts.append(head)
        with open(p, "rb") as f:
            parts.append(f.read())
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipewise", default="target/release/pipewise")
    ap.add_argument("--export", required=True)
    ap.add_argument("--port", type=int, default=18766)
    a = ap.parse_args()
    exe = a.pipewise
    files = sorted(os.path.join(a.export, f) for f in os.listdir(a.export) if f.lower().endswith(".csv"))
    size = sum(os.path.getsize(f) for f in files)
    print(f"export: {len(files)} files, {size / 2**20:,.0f} MiB ({', '.join(os.path.basename(f) for f in files)})")
    tmp = tempfile.mkdtemp()
    try:
        # the terminal
        cli_ws = os.path.join(tmp, "cli")
        run([exe, "--workspace", cli_ws, "init", "--from", a.export])
        t = time.perf_counter()
        run([exe, "--workspace", cli_ws, "ingest", "salesforce", a.export, "--as-of", "2026-07-01"])
        cli = time.perf_counter() - t
        print(f"pipewise ingest salesforce: {cli:.1f} s")
        # the browser's way: a server on an empty workspace of the same process
        web_ws = os.path.join(tmp, "web")
        run([exe, "--workspace", web_ws, "init", "--from", a.export])
        state = f"sqlite:{tmp}/state.sqlite"
        subprocess.run([exe, "--workspace", web_ws, "users", "add", "admin", "--role", "admin", "--state", state,
                        "--password-stdin"], input=PASSWORD + "\n", check=True, capture_output=True, text=True)
        server, base = start_server(exe, web_ws, a.port, state)
        try:
            body = json.dumps({"login": "admin", "password": PASSWORD}).encode()
            with urllib.request.urlopen(urllib.request.Request(base + "/api/session", data=body,
                                                               headers={"content-type": "application/json"})) as r:
                cookies = "; ".join(c.split(";")[0] for c in r.headers.get_all("set-cookie"))
                csrf = json.loads(r.read())["csrf_token"]
            before = rss_mib(server.pid)
            ct, payload = multipart({"connector": "salesforce"}, files)
            t = time.perf_counter()
            req = urllib.request.Request(base + "/api/jobs/ingest", data=payload, method="POST",
                                         headers={"content-type": ct, "cookie": cookies, "x-csrf-token": csrf})
            with urllib.request.urlopen(req) as r:
                job = json.loads(r.read())
            uploaded = time.perf_counter() - t
            while job["state"] == "running":
                time.sleep(0.2)
                with urllib.request.urlopen(urllib.request.Request(f"{base}/api/jobs/{job['id']}",
                                                                   headers={"cookie": cookies})) as r:
                    job = json.loads(r.read())
            web = time.perf_counter() - t
            if job["state"] != "done":
                sys.exit(f"the ingest job {job['state']}: {job['message']}")
            print(f"upload + ingest job: {web:.1f} s (the upload {uploaded:.1f} s); {job['message']}")
            print(f"server memory: before {before}, after {rss_mib(server.pid)}")
            print(f"ratio server / terminal: {web / cli:.2f}")
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
