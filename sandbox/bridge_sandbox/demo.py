"""``asana-jira-bridge demo``: the bridge wired to the simulators, on one machine.

Starts the Asana simulator, a Jira simulator and the bridge, each on a loopback port;
registers the bridge as an Asana app (OAuth redirect, App Components, installed on the
seeded project, a Match URL pattern for the simulator's ``/browse/KEY`` links); connects
the Jira simulator to the seeded workspace the way an admin does (before 8.22 an
application link created through Jira's applinks REST API with the Jira administrator's
password used once, then proven by a signed request; from 8.22 an incoming OAuth 2.0
link); seeds a few more issues with statuses, priorities and assignees; and returns the
URL to open. State lives in its own instance folder, apart from a real bridge's.

Every step is announced through ``say`` so a newcomer sees what is happening while it
starts. Before the demo says "Ready", :func:`check_ready` proves that each part serves
(the Jira simulator, the Asana simulator and its task page, the bridge answering a signed
App Components call that the Asana host accepts, the queue worker beating in the
database); a part that does not stops the demo with :class:`NotReady`, a sentence naming
the part and what to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .liveserver import LiveServer

ASANA_CLIENT_ID = "1209000000000001"
ADMIN_EMAIL = "alice@example.com"

# (project, issue type id, summary, priority, assignee, status): a board with something in
# every column, so the widget shows each status colour and a visitor has issues to search.
DEMO_ISSUES = [
    ("EX", "1", "Safari 17 drops the session cookie after login", "Highest", "alice",
     "In Progress"),
    ("EX", "3", "Speed up CSV export for large projects", "High", "bob", "Open"),
    ("EX", "3", "Translate the onboarding checklist", "Low", None, "Open"),
    ("EX", "1", "Report charts unreadable in dark mode", "Medium", "alice", "Done"),
    ("SEC", "3", "Review third-party licences before 2.0", "High", "alice", "In Progress"),
]


class NotReady(RuntimeError):
    """A part of the demo does not serve. ``str()`` is the sentence for the terminal."""

    def __init__(self, part: str, problem: str, todo: str):
        self.part = part
        super().__init__(f"The demo is not ready: {part} {problem}. {todo}")


REINSTALL = ("Run scripts/bootstrap (it reinstalls the bridge and ./sandbox into .venv), "
             "then start the demo again; the messages above say more.")


@dataclass
class Demo:
    bridge: LiveServer
    asana: LiveServer
    jira: LiveServer
    task_url: str
    instance_path: Path
    worker: subprocess.Popen | None = None

    @property
    def servers(self) -> tuple[LiveServer, LiveServer, LiveServer]:
        return (self.bridge, self.asana, self.jira)

    def stop(self) -> None:
        """Stop all three servers and the queue worker; their listening ports are free
        when this returns."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()  # it stops while the servers do
        stopping = [threading.Thread(target=server.stop) for server in self.servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        stop_worker(self.worker)


def start_worker(config: dict[str, str]) -> subprocess.Popen:
    """The queue worker (attachment copies), as ``serve`` runs it: its own process, on
    the demo's database, gone when the demo is. In a session of its own, so Ctrl-C in
    the terminal reaches the demo only, which then stops the worker at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update({"BRIDGE_" + k: v for k, v in config.items()})
    env["BRIDGE_LOG_LEVEL"] = "warning"
    return subprocess.Popen([sys.executable, "-c", "from bridge.cli import main; main()",
                             "worker", "--parent-pid", str(os.getpid())], env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop_worker(proc: subprocess.Popen | None) -> None:
    """SIGTERM stops a worker at once; one still starting up (it then finishes starting
    before it stops) gets SIGKILL after 1.5 s, which the queue is built to survive (an
    interrupted copy resumes next time, never uploaded twice)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=1.5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _quiet(_: str) -> None:
    pass


def match_url_pattern(jira_base_url: str) -> str:
    """The Match URL pattern an admin enters in Asana's developer console for one Jira
    base URL (context path included): its canonical ``/browse/KEY`` links
    (asana-app-components.md §3, the widget's Match URL pattern)."""
    return "^" + re.escape(jira_base_url.rstrip("/")) + r"/browse/[A-Z][A-Z0-9_]+-[0-9]+$"


def admin_consent_token(jira_url: str, client_id: str, client_secret: str,
                        redirect_uri: str) -> str:
    """What the admin's browser does on the webhook page's *Authorize in Jira* button,
    scripted against the simulator: sign in as admin, allow scope ADMIN (code + PKCE),
    and redeem the code. Returns the access token (the bridge revokes it after use)."""
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlsplit

    import requests

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    browser = requests.Session()
    browser.trust_env = False
    browser.post(f"{jira_url}/login.jsp", data={"os_username": "admin", "os_password": "admin"},
                 allow_redirects=False, timeout=10)
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": "ADMIN", "state": "demo", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    allowed = browser.post(f"{jira_url}/plugins/servlet/oauth2/consent",
                           data={**params, "approve": "Allow"}, allow_redirects=False,
                           timeout=10)
    code = parse_qs(urlsplit(allowed.headers.get("Location", "")).query).get("code", [""])[0]
    answer = browser.post(f"{jira_url}/rest/oauth2/latest/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": client_id, "client_secret": client_secret, "code_verifier": verifier})
    answer.raise_for_status()
    return answer.json()["access_token"]


def start(instance_path: Path, *, jira_version: str = "8.20.0", bridge_port: int = 0,
          asana_port: int = 0, jira_port: int = 0,
          say: Callable[[str], None] = _quiet) -> Demo:
    from bridge import create_app, migrations
    from bridge.models import JiraInstance
    from bridge.services import instances, webhooks

    from .asana import create_asana_simulator, seed
    from .asana import get_state as get_asana_state
    from .jira import create_jira_simulator, get_state

    asana = LiveServer(port=asana_port)
    jira = LiveServer(port=jira_port)
    bridge = LiveServer(port=bridge_port)
    try:
        client_secret = secrets.token_urlsafe(24)

        say(f"Starting the Asana simulator on {asana.url} (sign in as alice@example.com / "
            "alice-password)")
        asana.app = create_asana_simulator(base_url=asana.url)
        get_asana_state(asana.app).register_app(
            client_id=ASANA_CLIENT_ID, client_secret=client_secret, name="Jira (demo bridge)",
            redirect_uris=[bridge.url + "/oauth/asana/callback"], bridge_url=bridge.url,
            match_url_pattern=match_url_pattern(jira.url), install_on=[seed.PROJECT])
        asana.start()

        say(f"Starting the Jira simulator (Jira {jira_version}) on {jira.url} (users alice / "
            "alice, bob / bob, admin / admin)")
        jira.app = create_jira_simulator(version=jira_version, base_url=jira.url)
        jira.start()
        keys = seed_jira(get_state(jira.app))
        say(f"Seeded Jira: projects EX and SEC, {len(keys)} more issues ({', '.join(keys)}) "
            "in every status")

        # The simulators start empty, so the demo's database starts empty too.
        instance_path.mkdir(parents=True, exist_ok=True)
        for leftover in instance_path.glob("bridge.sqlite3*"):
            leftover.unlink()
        config = {
            "INSTANCE_PATH": str(instance_path),
            "PUBLIC_URL": bridge.url,
            "ASANA_BASE_URL": asana.url,
            "ASANA_CLIENT_ID": ASANA_CLIENT_ID,
            "ASANA_CLIENT_SECRET": client_secret,
            "ADMINS": ADMIN_EMAIL,
        }
        app = create_app(config)
        with app.app_context():
            db = app.extensions["bridge.db"]
            migrations.migrate(db)
            found = instances.probe(jira.url)
            if found.supports_oauth2:
                say("Connecting Jira with an incoming OAuth 2.0 link (Jira 8.22 and later)")
                # Permission Admin: the admin's one-time consent registers the webhook
                # below without a password (users still ask for WRITE only).
                client = get_state(jira.app).add_oauth2_client(
                    "Asana bridge (demo)", bridge.url + "/oauth/jira2/callback", scope="ADMIN")
                instances.save_oauth2_instance(seed.WORKSPACE, found, client.client_id,
                                               client.client_secret,
                                               workspace_name="Example Org", actor=ADMIN_EMAIL)
            else:
                say("Connecting Jira with an application link (OAuth 1.0a): created through "
                    "Jira's applinks REST API as its administrator, then proven by a signed "
                    "request")
                instance = instances.create_oauth1_instance(
                    seed.WORKSPACE, found, workspace_name="Example Org", actor=ADMIN_EMAIL)
                instances.register_applink(instance, bridge.url, "admin", "admin",
                                           actor=ADMIN_EMAIL)
                instances.prove_oauth1_link(instance, bridge.url)
            say("Registering the bridge's webhook in Jira (a status change shows on the "
                "widget within a second)")
            for instance in JiraInstance.select():
                if instance.auth_mode == "oauth2":
                    # No password (Jira 11 refuses them): Jira admin's one-time consent
                    # with scope ADMIN, used for this request and revoked.
                    token = admin_consent_token(jira.url, instance.client_id,
                                                instance.client_secret,
                                                bridge.url + "/oauth/jira2/callback")
                    webhooks.register_with_consent(instance, bridge.url, token, "admin",
                                                   actor=ADMIN_EMAIL)
                else:
                    webhooks.register(instance, bridge.url, "admin", "admin",
                                      actor=ADMIN_EMAIL)
            db.close()
        bridge.app = app
        say(f"Starting the bridge on {bridge.url} (admin: {ADMIN_EMAIL})")
        bridge.start()
        say("Starting the queue worker (copies attachments to Jira)")
        worker = start_worker(config)
    except BaseException:
        for server in (bridge, asana, jira):
            server.stop()
        raise
    running = Demo(bridge=bridge, asana=asana, jira=jira, instance_path=instance_path,
                   task_url=f"{asana.url}/demo/task/{seed.TASK_RICH}", worker=worker)
    try:
        say("Checking that every part serves")
        check_ready(running)
    except BaseException:
        running.stop()
        raise
    return running


WORKER_WAIT = 20.0  # seconds for the worker's first beat (it imports the bridge first)


def check_ready(running: Demo, worker_wait: float = WORKER_WAIT) -> None:
    """Raise :class:`NotReady` naming the first part of ``running`` that does not serve."""
    import requests

    from .asana import get_state, seed

    def get(part: str, url: str) -> requests.Response:
        try:
            resp = requests.get(url, timeout=10)
        except requests.RequestException as exc:
            raise NotReady(part, f"does not answer at {url} ({type(exc).__name__})",
                           REINSTALL) from None
        if resp.status_code != 200:
            raise NotReady(part, f"answers {resp.status_code} at {url}", REINSTALL)
        return resp

    info = get("the Jira simulator", f"{running.jira.url}/rest/api/2/serverInfo")
    if "version" not in info.json():
        raise NotReady("the Jira simulator", "answers serverInfo without a version",
                       REINSTALL)
    get("the bridge", f"{running.bridge.url}/readyz")
    page = get("the Asana simulator's demo task page", running.task_url)
    for script in ("task.js",):
        if script not in page.text:
            raise NotReady("the Asana simulator's demo task page", f"does not load {script}",
                           REINSTALL)
        get("the Asana simulator's demo task page", f"{running.asana.url}/_static/{script}")
    # One signed App Components call, as the task page makes them: the Asana host signs
    # it, the bridge verifies and answers (401: nobody is connected to Jira yet), and the
    # host checks the answer against Asana's schemas.
    try:
        host = get_state(running.asana.app).host_for()
        with _own_probe_unlogged():
            answer = host.widget(workspace=seed.WORKSPACE, task=seed.TASK_RICH,
                                 user=seed.ALICE, attachment="1",
                                 resource_url=f"{running.jira.url}/browse/EX-1")
    except Exception as exc:
        raise NotReady("the Asana simulator's App Components host",
                       f"cannot call the bridge ({type(exc).__name__}: {exc})",
                       REINSTALL) from None
    if answer.outcome not in ("ok", "auth_required"):
        raise NotReady("the bridge", f"answered the signed widget call with {answer.status} "
                       f"{answer.body!r}", REINSTALL)
    _check_worker(running, worker_wait)


class _OwnProbe(logging.Filter):
    """Drops the bridge's line about the demo's own signed widget call: the call expects
    the 401 it gets (nobody is connected to Jira yet), which the bridge logs as
    ``request.failed``; in the demo's output, before "Ready", that reads as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (text.startswith("request.failed ") and "path=/asana/widget" in text
                    and "status=401" in text)


@contextlib.contextmanager
def _own_probe_unlogged():
    # The bridge logs before it answers, so the line is dropped by the time the call
    # returns; no one else calls the bridge yet (its URL is not printed).
    logger, own = logging.getLogger("bridge.web"), _OwnProbe()
    logger.addFilter(own)
    try:
        yield
    finally:
        logger.removeFilter(own)


def _check_worker(running: Demo, wait: float) -> None:
    from bridge.models import WorkerBeat

    part = "the queue worker (it copies attachments to Jira)"
    proc = running.worker
    deadline = time.monotonic() + wait
    db = running.bridge.app.extensions["bridge.db"]
    while True:
        code = proc.poll() if proc is not None else None
        if proc is None or code is not None:
            raise NotReady(part, f"exited with code {code}" if proc else "was not started",
                           REINSTALL)
        with running.bridge.app.app_context():
            try:
                beating = WorkerBeat.select().where(WorkerBeat.pid == proc.pid).exists()
            finally:
                db.close()
        if beating:
            return
        if time.monotonic() > deadline:
            raise NotReady(part, f"has not reached the database in {wait:.0f} s", REINSTALL)
        time.sleep(0.1)


def seed_jira(state) -> list[str]:
    """Add :data:`DEMO_ISSUES` to the Jira simulator; returns their keys."""
    keys = []
    for project, type_id, summary, priority, assignee, status in DEMO_ISSUES:
        priority_id = next(pid for pid, p in state.priorities.items() if p["name"] == priority)
        issue = state.create_issue({"project": project, "issuetype": type_id,
                                    "summary": summary, "priority": priority_id,
                                    "assignee": assignee}, reporter="admin")
        if status != "Open":
            state.update_issue(issue["key"], {"status": status})
        keys.append(issue["key"])
    return keys
