#!/usr/bin/env python3
"""Benchmarks of what exists so far, as figures (never as a pass/fail test).

    .venv/bin/python scripts/bench.py [--seconds 10] [--clients 8] [--workers 2]

1. ``GET /healthz`` (one database round trip) through gunicorn with ``--workers`` gthread
   workers on a throwaway SQLite file: requests/s, p50/p99 latency, peak RSS per worker.
2. RSA-SHA1 signing of a Jira REST call (oauthlib base string + pycryptodome): calls/s.
3. Sealing and opening a token (AES-256-GCM): operations/s.

The load generator runs on the same 2-core machine as the server, with keep-alive
connections on loopback, so the HTTP figures are a floor, not a ceiling. Every loop is
bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bench_healthz(seconds: float, clients: int, workers: int) -> dict:
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="bridge-bench-")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
           "BRIDGE_INSTANCE_PATH": tmp, "BRIDGE_LOG_LEVEL": "warning"}
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    server = subprocess.Popen([str(exe), "serve", "--workers", str(workers), "--bind",
                               f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors = [0] * clients
        stop_at = time.monotonic() + seconds

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    conn.request("GET", "/healthz")
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        errors[i] += 1
                except OSError:
                    errors[i] += 1
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                latencies[i].append(time.perf_counter() - start)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 10)
        elapsed = time.monotonic() - began
        flat = sorted(x for per in latencies for x in per)
        rss = [_peak_rss_kib(pid) for pid in _children(server.pid)]
        return {
            "requests": len(flat), "errors": sum(errors), "rps": len(flat) / elapsed,
            "p50_ms": statistics.median(flat) * 1000,
            "p99_ms": flat[int(len(flat) * 0.99) - 1] * 1000,
            "worker_peak_rss_mib": [round(r / 1024, 1) for r in rss],
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def bench_signing(seconds: float) -> float:
    import requests

    from bridge.jira.client import oauth1_auth
    from bridge.jira.keys import generate_key_pair

    pair = generate_key_pair()
    auth = oauth1_auth("asana-bridge", pair.private_pem, token="access-token")
    count, stop_at = 0, time.monotonic() + seconds
    while time.monotonic() < stop_at:
        requests.Request("GET", "https://jira.example.com/rest/api/2/issue/EX-1",
                         params={"fields": "summary,status"}, auth=auth).prepare()
        count += 1
    return count / seconds


def bench_sealing(seconds: float) -> float:
    from bridge.sealing import Sealer

    sealer = Sealer("bench-key-" + "x" * 40)
    count, stop_at = 0, time.monotonic() + seconds
    while time.monotonic() < stop_at:
        sealer.open(sealer.seal("an-access-token-value", "t.c"), "t.c")
        count += 1
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120.0)  # bounded: this never runs unattended for long
    h = bench_healthz(args.seconds, args.clients, args.workers)
    print(f"healthz (gunicorn {args.workers} workers, {args.clients} clients, "
          f"{args.seconds:.0f} s): {h['rps']:.0f} req/s, p50 {h['p50_ms']:.2f} ms, "
          f"p99 {h['p99_ms']:.2f} ms, {h['requests']} requests, {h['errors']} errors, "
          f"worker peak RSS {h['worker_peak_rss_mib']} MiB")
    print(f"RSA-SHA1 signed request preparation: {bench_signing(3):.0f} /s")
    print(f"seal + open a token (AES-256-GCM): {bench_sealing(2):.0f} /s")


if __name__ == "__main__":
    main()
