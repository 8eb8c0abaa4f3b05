#!/usr/bin/env python3
"""Figures for Jira's state in Asana fields (issue 17 §7), beside their goals; never a test.

    .venv/bin/python scripts/bench_sync.py [--changes 100] [--burst 1000]
                                           [--rate-limit 1500] [--threads 4] [--json]

The demo's set-up, all on loopback: the Asana and Jira (10.3, OAuth 2.0) simulators and the
bridge (Flask's threaded server) in this process, a queue worker in its own process
(``asana-jira-bridge worker``, as ``serve`` runs it), Jira's webhook registered as an admin
would, Alice (the project's admin in Asana) connected, the project's "Jira status" field
turned on. Every path is the real one: Jira's webhook → the bridge → the queue → the worker's
re-read of Jira → ``PUT /tasks/{gid}`` on Asana.

1. latency: ``--changes`` status changes of one linked issue, one at a time; seconds from
   the change in Jira to Asana receiving the write (goal: p99 ≤ 1 s); Asana writes per change
   (goal: exactly 1); then as many changes that leave the status alone (the summary): writes
   (goal: 0).
2. burst: ``--burst`` linked issues change status at once under Asana's per-token limit
   (``--rate-limit`` requests a minute; 1,500 is Asana's paid plan, 150 the free one): time
   until every field shows it, 429 answers and the largest number of requests the token made
   in any 60 s window (goal: 429s only answered, never ignored: every task written, exactly
   once each, nothing lost).

Asana's simulator counts every request per token in a sliding minute and answers 429 with
``Retry-After`` past the limit, rejected requests counting too (asana-app-components.md §8).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIENT_ID = "1209999999999999"
CLIENT_SECRET = "bench-asana-client-secret-0123456789"
SECRET_KEY = "bench-secret-key-" + "0123456789" * 4


class World:
    """The simulators, the bridge and its worker, set up as the flows leave them."""

    def __init__(self, args, tmp: str):
        from bridge_sandbox.asana import create_asana_simulator
        from bridge_sandbox.jira import create_jira_simulator, get_state
        from bridge_sandbox.liveserver import LiveServer

        self.args = args
        self.asana = LiveServer()
        self.asana.app = create_asana_simulator(base_url=self.asana.url)
        self.asana.start()
        self.jira = LiveServer()
        self.jira.app = create_jira_simulator(version="10.3.0", base_url=self.jira.url)
        self.jira.start()
        self.st = get_state(self.jira.app)
        self.sim = self.asana.app.sim
        self.bridge = LiveServer()
        self.config = {"INSTANCE_PATH": f"{tmp}/instance",
                       "DATABASE_URL": f"sqlite:///{tmp}/bridge.sqlite3",
                       "SECRET_KEY": SECRET_KEY, "PUBLIC_URL": self.bridge.url,
                       "ASANA_CLIENT_ID": CLIENT_ID, "ASANA_CLIENT_SECRET": CLIENT_SECRET,
                       "ASANA_BASE_URL": self.asana.url, "LOG_LEVEL": "warning",
                       "WORKER_THREADS": str(args.threads)}
        self.worker = None
        self.tasks: dict[str, str] = {}  # issue key -> task gid

    def setup(self) -> None:
        import jwt
        from bridge_sandbox.asana import seed
        from bridge_sandbox.demo import start_worker
        from bridge_sandbox.jira.state import OAuth2Token

        from bridge import create_app, migrations
        from bridge.jira import oauth2
        from bridge.models import AsanaUser, IssueLink, JiraInstance
        from bridge.services import credentials, instances, sync, webhooks

        self.app = create_app(dict(self.config))
        self.bridge.app = self.app
        self.bridge.start()
        db = self.app.extensions["bridge.db"]
        pat = next(iter(seed.PATS))  # Alice's personal access token: never expires
        self.token = pat
        with self.app.app_context():
            migrations.migrate(db)
            alice = AsanaUser.create(gid=seed.ALICE, email="alice@example.com",
                                     name="Alice Andrews", access_token=pat)
            found = instances.probe(self.jira.url)
            client = self.st.add_oauth2_client("Asana", self.bridge.url + "/oauth/jira2/callback")
            inst = instances.save_oauth2_instance(seed.WORKSPACE, found, client.client_id,
                                                  client.client_secret)
            now = self.st.clock()

            def mint():
                return jwt.encode({"id": str(uuid.uuid4())}, self.st.oauth2_jwt_secret,
                                  algorithm="HS256")
            token = OAuth2Token(access_token=mint(), refresh_token=mint(),
                                client_id=client.client_id, user="alice", scope="WRITE",
                                created=now, refresh_created=now)
            self.st.oauth2_tokens[token.access_token] = token
            credentials.save_oauth2(alice, inst, oauth2.TokenSet(
                token.access_token, token.refresh_token,
                dt.datetime.utcnow() + dt.timedelta(hours=4), "WRITE"), "alice")
            # One Jira issue and one Asana task per link, the task in the seeded project.
            wanted = 1 + self.args.burst
            template = self.sim.tasks[seed.TASK_EMPTY]
            for i in range(wanted):
                issue = self.st.create_issue({"project": "EX", "issuetype": "1",
                                              "summary": f"Bench issue {i}",
                                              "description": None, "priority": "3",
                                              "assignee": None, "labels": []},
                                             reporter="alice")
                gid = self.sim.new_gid()
                self.sim.tasks[gid] = {**template, "gid": gid, "name": f"Bench task {i}",
                                       "projects": [seed.PROJECT]}
                IssueLink.create(task_gid=gid, instance=inst, issue_id=issue["id"],
                                 issue_key=issue["key"], linked_by=alice)
                self.tasks[issue["key"]] = gid
            inst = JiraInstance.get_by_id(inst.id)
            webhooks.register(inst, self.bridge.url, "admin", "admin")
            self.instance = inst
            # Set-up writes are not measured: no limit while the fields get their values.
            self.sim.rate_limit_per_minute = 10**9
            row = sync.enable(alice, self.app.config["BRIDGE"], seed.PROJECT,
                              {"status": "new"})
            self.field = row.fields["status"]["gid"]
            from bridge.services import sync_refresh
            sync_refresh.reread(row)
        db.close()
        self.worker = start_worker(self.config)
        self._wait_worker()

    def _wait_worker(self) -> None:
        from bridge.models import WorkerBeat

        deadline = time.time() + 30
        with self.app.app_context():
            while not WorkerBeat.select().count():
                if time.time() > deadline:
                    raise SystemExit("the queue worker did not start")
                time.sleep(0.1)

    def shown(self, key: str) -> str | None:
        field = self.sim.custom_fields[self.field]
        value = self.sim.task_field_value(self.tasks[key], self.field)
        return next((o["name"] for o in field["enum_options"] if o["gid"] == value), None)

    def writes(self) -> int:
        return len(self.sim.task_updates)

    def stop(self) -> None:
        from bridge_sandbox.demo import stop_worker

        stop_worker(self.worker)
        for server in (self.bridge, self.asana, self.jira):
            server.stop()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def bench_latency(world: World, changes: int) -> dict:
    key = next(iter(world.tasks))
    task = world.tasks[key]
    seconds, extra, missed = [], 0, 0
    deliveries = len(world.st.webhook_deliveries)
    statuses = ["In Progress", "Done", "Open"]
    for i in range(changes):
        target = statuses[i % 3]
        before = world.writes()
        start = time.time()
        world.st.update_issue(key, {"status": target})
        while world.shown(key) != target:
            if time.time() - start > 10:
                break
            time.sleep(0.002)
        arrived = [u["at"] for u in world.sim.task_updates[before:] if u["task"] == task]
        missed += not arrived
        seconds.append((arrived[0] if arrived else time.time()) - start)
        time.sleep(0.05)  # late duplicates would show as extra writes
        extra += world.writes() - before - 1
    before = world.writes()
    for i in range(changes // 5 or 1):  # changes the fields do not show
        world.st.update_issue(key, {"summary": f"Only the summary, {i}"})
    time.sleep(2.0)
    failed = [d for d in world.st.webhook_deliveries[deliveries:]
              if d.get("status") not in (200, 204)]
    return {"changes": changes, "missed_10s": missed, "webhook_failures": len(failed),
            "webhook_failure_examples": [(d.get("status"), d.get("error")) for d in failed[:3]],
            "p50_s": statistics.median(seconds),
            "p99_s": _pct(seconds, 99), "max_s": max(seconds),
            "writes_per_change": 1 + extra / changes,
            "unchanged_changes": changes // 5 or 1,
            "writes_when_unchanged": world.writes() - before}


def bench_burst(world: World, count: int, limit: int) -> dict:
    keys = list(world.tasks)[1:1 + count]
    world.sim.rate_limit_per_minute = limit
    world.sim.requests_log.clear()
    rejected = []
    real = world.sim.count_request

    def counting(token):
        try:
            real(token)
        except Exception as exc:
            if getattr(exc, "status", None) == 429:
                rejected.append(time.time())
            raise
    world.sim.count_request = counting
    before = world.writes()
    stamps: list[float] = []
    original = world.sim.task_updates
    start = time.time()
    for key in keys:
        world.st.update_issue(key, {"status": "Done"})
    deadline = start + max(120.0, 60.0 * 2.5 * count / max(1, limit) + 60)
    while time.time() < deadline:
        if all(world.shown(key) == "Done" for key in keys):
            break
        time.sleep(0.2)
    elapsed = time.time() - start
    world.sim.count_request = real
    done = sum(world.shown(key) == "Done" for key in keys)
    updates = original[before:]
    stamps = sorted(u["at"] for u in updates)
    window_max = 0
    lo = 0
    for hi, at in enumerate(stamps):
        while stamps[lo] < at - 60:
            lo += 1
        window_max = max(window_max, hi - lo + 1)
    per_task = {}
    for u in updates:
        per_task[u["task"]] = per_task.get(u["task"], 0) + 1
    return {"issues": count, "rate_limit_per_min": limit, "all_written_s": elapsed,
            "written": done, "lost": count - done, "writes": len(updates),
            "tasks_written_twice": sum(1 for n in per_task.values() if n > 1),
            "answered_429": len(rejected), "max_writes_in_60s": window_max}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--rate-limit", type=int, default=1500,
                        help="Asana requests a minute per token (1500 paid, 150 free)")
    parser.add_argument("--threads", type=int, default=4, help="queue worker threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        world = World(args, tmp)
        try:
            world.setup()
            # The set-up's requests (every field's first value) are not the phases': a
            # fresh minute for the token, then Asana's limit.
            world.sim.requests_log.clear()
            world.sim.rate_limit_per_minute = args.rate_limit
            figures = {"load_before": load, "latency": bench_latency(world, args.changes),
                       "burst": bench_burst(world, args.burst, args.rate_limit),
                       "load_after": os.getloadavg()}
        finally:
            world.stop()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    lat, burst = figures["latency"], figures["burst"]
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(f"load average before {load[0]:.2f}, after {figures['load_after'][0]:.2f}")
    print(f"1. status change → Asana field, {lat['changes']} changes: p50 {lat['p50_s']:.3f} s, "
          f"p99 {lat['p99_s']:.3f} s, max {lat['max_s']:.3f} s (goal p99 ≤ 1 s: "
          f"{ok(lat['p99_s'] <= 1.0)}); not written within 10 s: {lat['missed_10s']}; "
          f"webhook deliveries Jira saw fail: {lat['webhook_failures']} "
          f"{lat['webhook_failure_examples'] or ''}")
    print(f"   Asana writes per change {lat['writes_per_change']:.2f} (goal 1: "
          f"{ok(abs(lat['writes_per_change'] - 1) < 1e-9)}); writes for "
          f"{lat['unchanged_changes']} changes the fields do not show: "
          f"{lat['writes_when_unchanged']} (goal 0: {ok(lat['writes_when_unchanged'] == 0)})")
    print(f"2. {burst['issues']} linked issues change at once, limit "
          f"{burst['rate_limit_per_min']}/min: all written in {burst['all_written_s']:.1f} s; "
          f"{burst['written']} written, {burst['lost']} lost (goal 0: {ok(burst['lost'] == 0)}); "
          f"{burst['writes']} writes, {burst['tasks_written_twice']} tasks written twice; "
          f"429 answered {burst['answered_429']} times, at most {burst['max_writes_in_60s']} "
          f"writes in any 60 s")


if __name__ == "__main__":
    main()
