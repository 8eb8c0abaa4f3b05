"""All simulator state, in memory, behind one lock.

Tests drive the simulator through this object (``get_state(app)``) or through the
``/_sim/...`` HTTP control endpoints, which call the same methods.  ``reset()`` reloads
the fixture and forgets every token, link, webhook and fault.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge_sandbox.jira.versions import VersionProfile

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures"

# reference jira-server.md §1.4
REQUEST_TOKEN_TTL = 600
ACCESS_TOKEN_TTL = 157_680_000
SESSION_TTL = ACCESS_TOKEN_TTL + 30 * 86_400
# reference §2.5
OAUTH2_ACCESS_TTL = 3600
OAUTH2_REFRESH_TTL = 7_776_000
OAUTH2_CODE_TTL = 60  # max.client.delay.seconds as in plugin 3.1.5 (docs say 10)
# reference §3.9
DEFAULT_UPLOAD_LIMIT = 10_485_760


def jira_time(epoch: float) -> str:
    """Jira's timestamp format, e.g. ``2019-11-08T11:54:11.127+0000``."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_jira_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@dataclass
class Consumer:
    """An incoming OAuth 1.0a consumer registered on an application link (reference §1.1)."""

    key: str
    name: str
    public_key_pem: str
    callback: str | None = None
    description: str | None = None
    applink_id: str | None = None
    three_lo_allowed: bool = True
    two_lo_allowed: bool = False


@dataclass
class RequestToken:
    token: str
    secret: str
    consumer_key: str
    callback: str | None  # None → OAuth 1.0 mode (no verifier check), reference §1.2
    created: float
    user: str | None = None
    authorization: str = "none"  # none | authorized | denied
    verifier: str | None = None


@dataclass
class AccessToken:
    token: str
    secret: str
    consumer_key: str
    user: str
    created: float
    session_handle: str
    session_created: float


@dataclass
class OAuth2Client:
    """An external incoming OAuth 2.0 link (reference §2.1)."""

    id: str
    client_id: str
    client_secret: str
    name: str
    redirects: list[str]
    scope: str
    applink_id: str | None = None


@dataclass
class AuthCode:
    code: str
    client_id: str
    user: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    created: float
    used: bool = False
    issued: list[str] = field(default_factory=list)  # access-token ids minted from it


@dataclass
class OAuth2Token:
    access_token: str
    refresh_token: str
    client_id: str
    user: str
    scope: str
    created: float
    refresh_created: float


HOLD_MAX = 30.0  # seconds a held upload waits for ``release`` when no delay is given


@dataclass
class Fault:
    """One queued fault (reference brief: next N requests → 5xx / slow / dropped).

    ``hold`` is Jira still writing a file it has received whole: the upload's body is
    read, then it is neither stored nor answered until ``release()`` (or ``delay``
    seconds, ``HOLD_MAX`` without one). ``received`` is set once the body is in. Only the
    attachments route holds; a client that gives up meanwhile does not stop the store.
    """

    kind: str  # "error" | "slow" | "drop" | "hold"
    count: int = 1
    status: int = 503
    delay: float = 0.0
    path_prefix: str = ""

    def __post_init__(self):
        # plain attributes, not fields: the control API lists faults with ``asdict``
        self.received = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()

    def hold(self) -> None:
        self.received.set()
        self.released.wait(self.delay or HOLD_MAX)


class SimState:
    """Mutable simulator state.  Every public method takes the lock."""

    def __init__(self, version: str, base_url: str | None = None,
                 fixture: str | Path | dict | None = None, clock=None):
        self._initial_version = version
        self.profile = VersionProfile.parse(version)
        self.base_url = base_url
        self._fixture_source = fixture
        self._initial_clock = clock or time.time
        self._real_clock = self._initial_clock
        self.lock = threading.RLock()
        #: callables ``(event, issue, user, changelog_items)`` told about issue changes
        #: (the webhook dispatcher registers itself here).
        self.listeners: list = []
        self.reset()

    # -- base URL ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Jira's configured Base URL (OAuth realm, base string, ``self`` links).

        ``None`` at construction means "whatever host the request came to", i.e. a
        correctly configured Jira; outside a request that falls back to loopback.
        """
        if self._base_url is not None:
            return self._base_url
        from flask import has_request_context, request

        if has_request_context():
            return request.host_url.rstrip("/") + request.script_root
        return "http://127.0.0.1"

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = value.rstrip("/") if value else None

    # -- clock ----------------------------------------------------------------
    def clock(self) -> float:
        """Current simulated time (epoch seconds): injectable clock plus offset."""
        return self._real_clock() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (negative values move it back)."""
        with self.lock:
            self.clock_offset += seconds

    def set_clock(self, clock) -> None:
        """Replace the time source (until the next :meth:`reset`)."""
        with self.lock:
            self._real_clock = clock
            self.clock_offset = 0.0

    # -- lifecycle --------------------------------------------------------------
    def _load_fixture(self) -> dict:
        src = self._fixture_source
        if isinstance(src, dict):
            return copy.deepcopy(src)
        path = Path(src) if src else FIXTURE_DIR / "default.json"
        if not path.is_absolute() and not path.exists():
            path = FIXTURE_DIR / path
        return json.loads(path.read_text(encoding="utf-8"))

    def upgrade(self, version: str) -> None:
        """Play another version from now on, as an admin's in-place upgrade leaves Jira:
        the data stays, every gate follows the new numbers. ``reset`` goes back to the
        version the simulator started with."""
        profile = VersionProfile.parse(version)  # ValueError: not a version, nothing changed
        with self.lock:
            self.profile = profile

    def reset(self) -> None:
        """Back to the fixture: forget tokens, links, webhooks, faults, settings."""
        with self.lock:
            data = self._load_fixture()
            self.profile = VersionProfile.parse(self._initial_version)
            self._real_clock = self._initial_clock
            self.server_title = data.get("serverTitle", "Jira")
            self.users = {u["name"]: u for u in data["users"]}
            self.status_categories = {c["id"]: c for c in data["statusCategories"]}
            self.statuses = {s["id"]: s for s in data["statuses"]}
            self.priorities = {p["id"]: p for p in data["priorities"]}
            self.issue_types = {t["id"]: t for t in data["issueTypes"]}
            self.permissions = {p["key"]: p for p in data["permissions"]}
            self.global_grants = data.get("globalPermissions", {})
            self.resolutions = {r["id"]: r for r in data.get("resolutions", [])}
            self.link_types = {t["id"]: t for t in data.get("issueLinkTypes", [])}
            self.custom_fields = {f["id"]: f for f in data.get("customFields", [])}
            self.projects = {p["key"]: p for p in data["projects"]}
            self.issues = {i["key"]: i for i in data["issues"]}
            self.next_issue_id = 1 + max((int(i["id"]) for i in self.issues.values()),
                                         default=10000)
            self.clock_offset = 0.0
            self.sessions: dict[str, str] = {}
            self.applinks: dict[str, dict] = {}
            self.consumers: dict[str, Consumer] = {}
            self.request_tokens: dict[str, RequestToken] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.nonces: dict[tuple[str, str, str], float] = {}
            self.oauth2_clients: dict[str, OAuth2Client] = {}
            self.auth_codes: dict[str, AuthCode] = {}
            self.oauth2_tokens: dict[str, OAuth2Token] = {}  # by access token
            self.oauth2_jwt_secret = secrets.token_hex(32)
            for att in getattr(self, "attachments", {}).values():
                if att.get("path") and os.path.exists(att["path"]):
                    os.unlink(att["path"])
            self.attachments: dict[str, dict] = {}
            self.next_attachment_id = 10000
            self.webhooks: dict[int, dict] = {}
            self.next_webhook_id = 1
            self.webhook_updates: list[int] = []  # ids, one per PUT that replaced a webhook
            # remote issue links by id; each carries its issue's key (``_issue``)
            self.remote_links: dict[int, dict] = {}
            self.next_remote_link_id = 10000
            self.webhook_deliveries: list[dict] = []
            self.webhook_held: list[tuple[dict, dict]] = []  # webhook_hold (faults)
            self.faults: list[Fault] = []
            self.settings: dict[str, Any] = {
                "attachments_enabled": True,
                # Administration > Issue linking (remote links answer 403 when off)
                "issue_linking_enabled": True,
                "upload_limit": DEFAULT_UPLOAD_LIMIT,
                "latency": 0.0,
                "rate_limit": None,  # {"limit", "interval_seconds", "fill_rate"}
                # reference §2.4: model the stricter provider that wants redirect_uri
                # on the refresh grant too (jira.js); set False for plugin 3.1.5.
                "oauth2_refresh_requires_redirect_uri": True,
                "oauth2_code_ttl": OAUTH2_CODE_TTL,
                # Jira refuses http redirect URLs unless the "skip ... https requirement"
                # system properties are set (reference §2.2, §2.5); the simulator runs as
                # if they were set unless this is switched on.
                "oauth2_enforce_https": False,
                # jira.maximum.authentication.attempts.allowed (default 3)
                "max_authentication_attempts": 3,
                # hold webhook deliveries until Dispatcher.release() (late/out of order)
                "webhook_hold": False,
                # Basic authentication on REST (off by default from Jira 11, §6 item 17)
                "basic_auth": not self.profile.basic_auth_off_by_default,
            }
            self.buckets: dict[str, tuple[float, float]] = {}
            self.history: dict[str, list[str]] = {}  # viewed issues per user (picker "hs")
            self.last_viewed: dict[tuple[str, str], str] = {}  # (user, key) -> lastViewed
            self.captcha: set[str] = set()  # users who must sign in through the browser
            self.failed_logins: dict[str, int] = {}
            self.request_log: list[dict] = []

    def attachment_dir(self) -> str:
        """Where uploaded attachments are kept (a temporary folder per simulator)."""
        with self.lock:
            if getattr(self, "_attachment_dir", None) is None:
                self._attachment_dir = tempfile.mkdtemp(prefix="jira-sim-attachments-")
            return self._attachment_dir

    # -- users & permissions ----------------------------------------------------
    def check_password(self, name: str, password: str) -> dict | None:
        user = self.users.get(name)
        if user and user.get("active", True) and secrets.compare_digest(
                str(user["password"]), str(password)):
            return user
        return None

    def login_failed(self, name: str) -> None:
        """Count a failed password login; at the limit the user must pass a CAPTCHA."""
        if name not in self.users:
            return
        with self.lock:
            self.failed_logins[name] = self.failed_logins.get(name, 0) + 1
            if self.failed_logins[name] >= int(self.settings["max_authentication_attempts"]):
                self.captcha.add(name)

    def login_succeeded(self, name: str, browser: bool = False) -> None:
        with self.lock:
            self.failed_logins.pop(name, None)
            if browser:
                self.captcha.discard(name)

    def clear_captcha(self, name: str | None = None) -> None:
        """What an admin's "reset failed login count" does (``None``: every user)."""
        with self.lock:
            if name is None:
                self.captcha.clear()
                self.failed_logins.clear()
            else:
                self.captcha.discard(name)
                self.failed_logins.pop(name, None)

    def is_admin(self, name: str | None) -> bool:
        return bool(name) and "jira-administrators" in self.users[name]["groups"]

    def _granted(self, name: str, grants: list[str]) -> bool:
        user = self.users[name]
        for grant in grants:
            kind, _, value = grant.partition(":")
            if kind == "group" and value in user["groups"]:
                return True
            if kind == "user" and value == name:
                return True
            if kind == "anyone":
                return True
        return False

    def has_permission(self, name: str | None, project_key: str, permission: str) -> bool:
        """Project permission from the project's scheme; ``"*"`` grants what it doesn't list."""
        if not name:
            return False
        scheme = self.projects[project_key]["permissionScheme"]
        grants = scheme.get(permission, scheme.get("*", []))
        return self._granted(name, grants)

    def has_global_permission(self, name: str | None, permission: str) -> bool:
        if not name:
            return False
        return self._granted(name, self.global_grants.get(permission, []))

    def can_browse(self, name: str | None, issue_or_project_key: str) -> bool:
        project_key = issue_or_project_key.split("-")[0]
        return project_key in self.projects and self.has_permission(
            name, project_key, "BROWSE_PROJECTS")

    def visible_projects(self, name: str | None) -> list[dict]:
        return [p for p in self.projects.values() if self.can_browse(name, p["key"])]

    def find_project(self, ref: str, by_name: bool = False) -> dict | None:
        """By id or key (case-insensitive); JQL also matches names (``by_name``)."""
        text = str(ref)
        for p in self.projects.values():
            if text in (p["key"], p["id"]) or text.upper() == p["key"]:
                return p
        if by_name:
            for p in self.projects.values():
                if text.lower() == p["name"].lower():
                    return p
        return None

    def find_issue(self, id_or_key: str) -> dict | None:
        issue = self.issues.get(str(id_or_key).upper())
        if issue:
            return issue
        for i in self.issues.values():
            if i["id"] == str(id_or_key):
                return i
        return None

    # -- issues -------------------------------------------------------------------
    def create_issue(self, fields: dict, reporter: str) -> dict:
        with self.lock:
            project = self.projects[fields["project"]]
            number = 1 + max((int(k.split("-")[1]) for k in self.issues
                              if k.startswith(project["key"] + "-")), default=0)
            now = jira_time(self.clock())
            issue = {
                "id": str(self.next_issue_id), "key": f"{project['key']}-{number}",
                "project": project["key"], "issuetype": fields["issuetype"],
                "summary": fields["summary"], "description": fields.get("description") or "",
                "status": "1", "priority": fields.get("priority") or "3",
                "assignee": fields.get("assignee"), "reporter": reporter, "creator": reporter,
                "labels": fields.get("labels") or [], "created": now, "updated": now,
                "resolution": None, "resolutiondate": None,
                "duedate": fields.get("duedate"), "environment": fields.get("environment"),
                "components": list(fields.get("components") or []),
                "fixVersions": list(fields.get("fixVersions") or []),
                "versions": list(fields.get("versions") or []),
                "watchers": [reporter], "voters": [], "comments": [], "links": [],
                "history": [], "custom": dict(fields.get("custom") or {}),
            }
            self.next_issue_id += 1
            self.issues[issue["key"]] = issue
        self._emit("jira:issue_created", issue, reporter, [])
        return issue

    def update_issue(self, key: str, changes: dict, user: str = "admin"
                     ) -> tuple[dict, list[dict]]:
        """Change status/assignee/summary/priority like an admin would; returns changelog items.

        ``status`` and ``priority`` take an id or a name; ``assignee`` a user name or None.
        """
        with self.lock:
            issue = self.find_issue(key)
            if issue is None:
                raise KeyError(key)
            if user not in self.users:
                raise ValueError(f"unknown user {user!r}")
            resolved = []  # check everything first: a bad value changes nothing
            for fld, value in changes.items():
                if fld == "status":
                    value = self._lookup(self.statuses, value, "status")
                    label = self.statuses
                elif fld == "priority":
                    value = self._lookup(self.priorities, value, "priority")
                    label = self.priorities
                elif fld == "assignee":
                    if value is not None and value not in self.users:
                        raise ValueError(f"unknown user {value!r}")
                    label = None
                elif fld in ("summary", "description"):
                    if not isinstance(value, str) or (fld == "summary" and not value.strip()):
                        raise ValueError(f"{fld} must be text")
                    label = None
                else:
                    raise ValueError(f"field {fld!r} cannot be changed here")
                resolved.append((fld, value, label))
            items = []
            for fld, value, label in resolved:
                old = issue.get(fld)
                if old == value:
                    continue
                issue[fld] = value

                def show(v, table=label, f=fld):
                    if v is None:
                        return None
                    if table is not None:
                        return table[v]["name"]
                    if f == "assignee":
                        return self.users[v]["displayName"]
                    return v

                items.append({"field": fld, "fieldtype": "jira", "from": old,
                              "fromString": show(old), "to": value, "toString": show(value)})
            if items:
                now = jira_time(self.clock())
                if "status" in changes:
                    items.extend(self._resolve_on_status(issue, now))
                issue["updated"] = now
                issue.setdefault("history", []).append({
                    "id": str(10100 + sum(len(i.get("history", []))
                                          for i in self.issues.values())),
                    "author": user, "created": now, "items": items})
        if items:
            self._emit("jira:issue_updated", issue, user, items)
        return issue, items

    def _resolve_on_status(self, issue: dict, now: str) -> list[dict]:
        """A move into a done status sets resolution Done, a move out clears it (what the
        default workflow's post functions do)."""
        done = self.status_categories[self.statuses[issue["status"]]["category"]]["key"] == "done"
        old = issue.get("resolution")
        new = (old or next(iter(self.resolutions), None)) if done else None
        if new == old:
            return []
        issue["resolution"] = new
        issue["resolutiondate"] = now if new else None
        return [{"field": "resolution", "fieldtype": "jira", "from": old,
                 "fromString": self.resolutions[old]["name"] if old else None, "to": new,
                 "toString": self.resolutions[new]["name"] if new else None}]

    # -- remote issue links (WADL 7.6.1 ``issue/{issueIdOrKey}/remotelink``) --------------
    def remote_links_of(self, key: str) -> list[dict]:
        with self.lock:
            return [dict(link) for link in self.remote_links.values() if link["_issue"] == key]

    def save_remote_link(self, key: str, body: dict) -> tuple[dict, bool]:
        """Create the link, or update the one with the same ``globalId`` (all its fields
        replaced, as Jira does); returns ``(link, created)``."""
        with self.lock:
            global_id = body.get("globalId")
            found = next((link for link in self.remote_links.values()
                          if global_id and link["_issue"] == key
                          and link.get("globalId") == global_id), None)
            if found is None:
                link_id = self.next_remote_link_id
                self.next_remote_link_id += 1
            else:
                link_id = found["id"]
            link = {"id": link_id, "_issue": key, "globalId": global_id,
                    "application": body.get("application"),
                    "relationship": body.get("relationship"), "object": body.get("object")}
            self.remote_links[link_id] = link
            return dict(link), found is None

    def delete_remote_link(self, key: str, *, global_id: str | None = None,
                           link_id: int | None = None) -> bool:
        with self.lock:
            for found in list(self.remote_links.values()):
                if found["_issue"] == key and (found["id"] == link_id if link_id is not None
                                               else found.get("globalId") == global_id):
                    del self.remote_links[found["id"]]
                    return True
            return False

    def _emit(self, event: str, issue: dict, user: str | None, items: list[dict]) -> None:
        for listener in list(self.listeners):
            listener(event, dict(issue), user, items)

    @staticmethod
    def _lookup(table: dict, value: str, what: str) -> str:
        if str(value) in table:
            return str(value)
        for k, v in table.items():
            if v["name"].lower() == str(value).lower():
                return k
        raise ValueError(f"unknown {what} {value!r}")

    # -- application links / credentials --------------------------------------------
    def create_applink(self, name: str, rpc_url: str, display_url: str | None = None,
                       type_id: str = "generic") -> dict:
        with self.lock:
            link = {"id": str(uuid.uuid4()), "name": name, "rpcUrl": rpc_url,
                    "displayUrl": display_url or rpc_url, "typeId": type_id,
                    "isPrimary": not any(li["typeId"] == type_id
                                         for li in self.applinks.values()),
                    "isSystem": False}
            self.applinks[link["id"]] = link
            return link

    def delete_applink(self, link_id: str) -> bool:
        with self.lock:
            if self.applinks.pop(link_id, None) is None:
                return False
            for key in [k for k, c in self.consumers.items() if c.applink_id == link_id]:
                del self.consumers[key]
            for cid in [k for k, c in self.oauth2_clients.items() if c.applink_id == link_id]:
                self._delete_oauth2_client(cid)
            return True

    def add_consumer(self, key: str, name: str, public_key: str, callback: str | None = None,
                     description: str | None = None, applink_id: str | None = None,
                     allow_certificate: bool = True) -> Consumer:
        """Register an OAuth 1.0a consumer; ``public_key`` is validated like Jira (§1.1).

        Without ``applink_id`` a Generic Application link is created for it.
        """
        from bridge_sandbox.jira.keys import parse_public_key

        pem = parse_public_key(public_key, allow_certificate=allow_certificate)
        with self.lock:
            if applink_id is None:
                applink_id = self.create_applink(name, callback or f"https://{key}.invalid")["id"]
            consumer = Consumer(key=key, name=name, public_key_pem=pem, callback=callback or None,
                                description=description, applink_id=applink_id)
            self.consumers[key] = consumer
            return consumer

    def add_oauth2_client(self, name: str, redirect_uri: str | list[str], scope: str = "WRITE",
                          applink_id: str | None = None) -> OAuth2Client:
        """Create an external incoming OAuth 2.0 link (§2.1); client id is 32 hex chars."""
        redirects = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
        if scope.upper() not in ("READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"):
            raise ValueError(f"unknown scope {scope!r}")
        if self.settings["oauth2_enforce_https"] and any(
                not r.startswith("https://") for r in redirects):
            raise ValueError("Redirect URL must use HTTPS")
        with self.lock:
            if applink_id is None:
                applink_id = self.create_applink(name, redirects[0],
                                                 type_id="oauth2-incoming")["id"]
            client = OAuth2Client(id=str(len(self.oauth2_clients) + 1),
                                  client_id=secrets.token_hex(16),
                                  client_secret=secrets.token_hex(32), name=name,
                                  redirects=redirects, scope=scope.upper(), applink_id=applink_id)
            self.oauth2_clients[client.client_id] = client
            return client

    def _delete_oauth2_client(self, client_id: str) -> None:
        self.oauth2_clients.pop(client_id, None)
        for tok in [t for t, v in self.oauth2_tokens.items() if v.client_id == client_id]:
            del self.oauth2_tokens[tok]

    # -- faults -------------------------------------------------------------------
    def add_fault(self, kind: str, count: int = 1, status: int = 503, delay: float = 0.0,
                  path_prefix: str = "") -> Fault:
        if kind not in ("error", "slow", "drop", "hold"):
            raise ValueError("fault kind must be error, slow, drop or hold")
        with self.lock:
            fault = Fault(kind=kind, count=int(count), status=int(status), delay=float(delay),
                          path_prefix=path_prefix)
            self.faults.append(fault)
            return fault

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def configure(self, **settings) -> None:
        """Change runtime settings (``upload_limit``, ``latency``, ``rate_limit``, ...)."""
        with self.lock:
            unknown = set(settings) - set(self.settings)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            self.settings.update(settings)
            if "rate_limit" in settings:
                self.buckets.clear()
