#!/usr/bin/env python3
"""Benchmarks of issue creation and attachment copies (issue 9), as figures.

    .venv/bin/python scripts/bench_create.py [--copy-mb 1024] [--submits 200] [--latency 0.05]

1. Copy: a queue worker (``asana-jira-bridge worker``, its own process) copies one
   generated Asana file of ``--copy-mb`` MiB to the Jira simulator: throughput, and the
   worker's resident memory before, during (sampled) and at peak (``VmHWM``). Memory that
   stays flat while a 1 GB file goes through is the claim: the file is streamed.
2. Submit: ``POST /asana/form/submit`` through gunicorn, signed as Asana signs, with the
   Jira simulator answering after ``--latency`` seconds, each submit copying the task's five
   files: p50 / p99 (the budget is p99 ≤ 500 ms at 50 ms; Asana waits 10 s).

Both simulators run in this process on loopback; the bridge uses a throwaway SQLite file.
``scripts/bench.py`` runs the same functions (sections "create").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ASANA_CLIENT_ID = "1209999999999999"
ASANA_CLIENT_SECRET = "bench-asana-secret-0123456789abcdef"
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class World:
    """Both simulators, a bridge database with Alice connected to a Jira 10.3 by OAuth 2.0,
    and the environment a bridge process needs to use them."""

    def __init__(self, latency: float = 0.0):
        from bridge_sandbox.asana import create_asana_simulator
        from bridge_sandbox.asana.seed import ALICE, WORKSPACE
        from bridge_sandbox.jira import create_jira_simulator, get_state
        from bridge_sandbox.liveserver import LiveServer

        from bridge import create_app, migrations

        self.tmp = tempfile.mkdtemp(prefix="bridge-bench-create-")
        self.bridge_port = _free_port()
        self.bridge_url = f"http://127.0.0.1:{self.bridge_port}"
        self.asana = LiveServer()
        self.asana.app = create_asana_simulator(base_url=self.asana.url)
        self.asana.start()
        self.jira = LiveServer()
        self.jira.app = create_jira_simulator(version="10.3.0", base_url=self.jira.url)
        self.jira.start()
        self.jira_state = get_state(self.jira.app)
        self.jira_state.set_clock(time.time)
        self.jira_state.configure(upload_limit=2 * 1024 * MIB - 1, latency=latency)
        sim = self.asana.app.sim
        sim.register_app(client_id=ASANA_CLIENT_ID, client_secret=ASANA_CLIENT_SECRET,
                         redirect_uris=[self.bridge_url + "/oauth/asana/callback"],
                         name="Jira bridge")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
            "BRIDGE_INSTANCE_PATH": self.tmp, "BRIDGE_LOG_LEVEL": "warning",
            "BRIDGE_SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnop",
            "BRIDGE_PUBLIC_URL": self.bridge_url, "BRIDGE_ASANA_BASE_URL": self.asana.url,
            "BRIDGE_ASANA_CLIENT_ID": ASANA_CLIENT_ID,
            "BRIDGE_ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET,
        }
        self.app = create_app({k: v for k, v in self.env.items() if k.startswith("BRIDGE_")})
        with self.app.app_context():
            migrations.migrate(self.app.extensions["bridge.db"])
            self._connect_alice(sim, ALICE, WORKSPACE)
        self.app.extensions["bridge.db"].close()

    def _connect_alice(self, sim, alice: str, workspace: str) -> None:
        import secrets as _secrets

        from bridge_sandbox.jira.state import OAuth2Token

        from bridge.models import (
            AsanaUser,
            AsanaWorkspace,
            JiraCredential,
            JiraInstance,
            utcnow,
        )

        refresh = sim.issue_refresh_token(alice, ASANA_CLIENT_ID, "default")
        access = sim.issue_access_token(alice, ASANA_CLIENT_ID, refresh)
        client = self.jira_state.add_oauth2_client("bench", self.bridge_url +
                                                   "/oauth/jira2/callback")
        now = self.jira_state.clock()
        token = OAuth2Token(access_token=_secrets.token_urlsafe(32),
                            refresh_token=_secrets.token_urlsafe(32),
                            client_id=client.client_id, user="alice", scope="WRITE",
                            created=now, refresh_created=now)
        self.jira_state.oauth2_tokens[token.access_token] = token
        ws = AsanaWorkspace.create(gid=workspace, name="Example Org")
        self.instance = JiraInstance.create(workspace=ws, base_url=self.jira.url, name="Jira",
                                            auth_mode="oauth2", client_id=client.client_id,
                                            client_secret=client.client_secret,
                                            version="10.3.0")
        self.user = AsanaUser.create(gid=alice, email="alice@example.com", name="Alice",
                                     access_token=access, refresh_token=refresh,
                                     token_expires_at=utcnow() + dt.timedelta(hours=1))
        JiraCredential.create(asana_user=self.user, instance=self.instance, auth_mode="oauth2",
                              access_token=token.access_token,
                              refresh_token=token.refresh_token,
                              expires_at=utcnow() + dt.timedelta(hours=1),
                              jira_username="alice")

    def bridge_cmd(self, *args: str) -> list[str]:
        exe = Path(sys.executable).with_name("asana-jira-bridge")
        return [str(exe), *args]

    def close(self) -> None:
        self.asana.stop()
        self.jira.stop()


def bench_copy(size_mib: int, world: World | None = None) -> dict:
    """One generated file of ``size_mib`` MiB, Asana → worker → Jira."""
    from bridge_sandbox.asana.seed import TASK_EMPTY

    from bridge.models import AttachmentCopy, IssueLink
    from bridge.services import attachments

    own = world is None
    world = world or World()
    worker = subprocess.Popen(world.bridge_cmd("worker", "--threads", "2"), env=world.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)  # started, heartbeat written, idle
        idle_rss = _status_kib(worker.pid, "VmRSS")
        idle_peak = _status_kib(worker.pid, "VmHWM")
        att = world.asana.app.sim.add_generated(parent=TASK_EMPTY, name="big.bin",
                                                size=size_mib * MIB)
        issue = world.jira_state.create_issue(
            {"project": "EX", "issuetype": "3", "summary": "Bench copy", "description": None,
             "priority": None, "assignee": None, "labels": []}, reporter="alice")
        with world.app.app_context():
            link = IssueLink.create(task_gid=TASK_EMPTY, instance=world.instance,
                                    issue_id=issue["id"], issue_key=issue["key"],
                                    linked_by=world.user)
            started = time.monotonic()
            attachments.plan(link, [{**att, "host": "asana"}])
            samples = []
            while True:
                row = AttachmentCopy.get(AttachmentCopy.link == link)
                samples.append(_status_kib(worker.pid, "VmRSS"))
                if row.state not in ("pending", "copying"):
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError("the copy took more than 10 minutes")
                time.sleep(0.2)
            seconds = time.monotonic() - started
        world.app.extensions["bridge.db"].close()
        peak = _status_kib(worker.pid, "VmHWM")
        stored = [a for a in world.jira_state.attachments.values()
                  if a["issue"] == issue["key"]]
        ok = row.state == "done" and len(stored) == 1 and stored[0]["size"] == size_mib * MIB
        for a in stored:
            world.jira_state.attachments.pop(a["id"], None)  # give the memory back
        return {"mib": size_mib, "state": row.state, "ok": ok, "seconds": seconds,
                "attempts": row.attempts, "stored": [a["size"] for a in stored],
                "mib_per_s": size_mib / seconds if seconds else 0.0,
                "idle_rss_mib": idle_rss / 1024, "idle_peak_mib": idle_peak / 1024,
                "during_max_rss_mib": max(samples) / 1024, "peak_rss_mib": peak / 1024}
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        if own:
            world.close()


def bench_submit(submits: int, latency: float, workers: int = 2,
                 world: World | None = None) -> dict:
    """Form submits through gunicorn, each creating an issue and queueing five copies."""
    import requests
    from bridge_sandbox.asana.host import AppComponentsHost
    from bridge_sandbox.asana.seed import ALICE, ATTACHMENTS, TASK_RICH, WORKSPACE

    own = world is None
    world = world or World(latency=latency)
    world.jira_state.configure(latency=latency)
    server = subprocess.Popen(world.bridge_cmd("serve", "--workers", str(workers), "--no-worker",
                                               "--bind", f"127.0.0.1:{world.bridge_port}"),
                              env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(world.bridge_url + "/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        host = AppComponentsHost(world.bridge_url, ASANA_CLIENT_SECRET, validate=False)
        files = len([a for a in ATTACHMENTS if a["parent"] == TASK_RICH])
        latencies, statuses = [], {}
        for i in range(submits):
            values = {"project": "EX", "issuetype": "3", "summary": f"Bench {i}",
                      "description": "From the benchmark", "copy_attachments": ["copy"]}
            task = _task_with_files(world.asana.app.sim, TASK_RICH, f"Bench {i}")
            signed = host.prepare("form_submit", workspace=WORKSPACE, task=task, user=ALICE,
                                  values=values)
            t0 = time.perf_counter()
            result = host.send(signed)
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[result.status] = statuses.get(result.status, 0) + 1
        latencies.sort()
        return {"submits": submits, "latency_ms": latency * 1000, "files_per_task": files,
                "p50_ms": statistics.median(latencies),
                "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                "max_ms": latencies[-1], "statuses": statuses,
                "ok": set(statuses) == {200}}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if own:
            world.close()


def _task_with_files(sim, model: str, name: str) -> str:
    """A task of its own per submit (one issue per task is the default limit), with the
    same five files as ``model`` (generated on download: no memory)."""
    gid = sim.new_gid()
    with sim.lock:
        sim.tasks[gid] = {**sim.tasks[model], "gid": gid, "name": name}
    for att in [a for a in sim.attachments_of(model) if a["host"] == "asana"]:
        sim.add_generated(parent=gid, name=att["name"], size=att["size"])
    return gid


def report_copy(c: dict) -> str:
    return (f"copy {c['mib']} MiB Asana → worker → Jira: {c['state']}"
            f"{'' if c['ok'] else ' (NOT VERIFIED)'}, {c['seconds']:.1f} s, "
            f"{c['mib_per_s']:.0f} MiB/s; worker RSS idle {c['idle_rss_mib']:.0f} MiB, "
            f"max while copying {c['during_max_rss_mib']:.0f} MiB, peak (VmHWM) "
            f"{c['peak_rss_mib']:.0f} MiB")


def report_submit(s: dict) -> str:
    if not s.get("ok"):
        return f"form submit: NOT MEASURED, the bridge answered {s['statuses']}"
    return (f"form submit ({s['submits']} submits, Jira latency {s['latency_ms']:.0f} ms, "
            f"{s['files_per_task']} files queued each): p50 {s['p50_ms']:.0f} ms, "
            f"p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms, statuses {s['statuses']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy-mb", type=int, default=1024)
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--only", choices=("copy", "submit"), default=None)
    args = parser.parse_args()
    out = {}
    if args.only in (None, "copy"):
        out["copy"] = bench_copy(args.copy_mb)
        print(report_copy(out["copy"]))
    if args.only in (None, "submit"):
        out["submit"] = bench_submit(args.submits, args.latency)
        print(report_submit(out["submit"]))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the simulators' access logs
    threading.excepthook = lambda a: None  # simulator threads ending at exit are noise
    main()
