"""The simulator's in-memory world and its rules (tokens, codes, rate limits, download URLs).

Everything lives in one :class:`SimState` guarded by a lock; :meth:`SimState.reset` puts the
seeded world back, so tests share one running server and still start clean.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field

from bridge_sandbox.asana import seed
from bridge_sandbox.asana.clock import SimClock, iso_z
from bridge_sandbox.asana.host import DEFAULT_PATHS, AppComponentsHost

ACCESS_TOKEN_TTL = 3600  # reference §7.2: expires_in 3600
AUTH_CODE_TTL = 600  # not documented; ten minutes is the usual OAuth choice
DOWNLOAD_URL_TTL = 120  # reference §8: download_url "may only be valid for two minutes"
DEFAULT_RULE_ACTION_TYPE = "1700000000000001"
LINK_HOSTS = ("gdrive", "dropbox", "onedrive", "box", "vimeo")  # besides asana, external (§8)
DEFAULT_MATCH_URL_PATTERN = r"^https?://[^/]+(/[^?#]*)?/browse/[A-Z][A-Z0-9_]+-\d+$"


class SimError(Exception):
    """An Asana-shaped failure: status plus message for ``{"errors":[{"message"}]}``."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class OAuthApp:
    """A developer-console app: OAuth credentials plus its App Components configuration."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Jira bridge"
    bridge_url: str | None = None  # App Components server; None = no components configured
    paths: dict = field(default_factory=dict)
    match_url_pattern: str = DEFAULT_MATCH_URL_PATTERN
    installed_projects: set = field(default_factory=set)
    # The rule action configured in the console: its id is the `action_type` of every call
    # (reference §5.4). Whether Asana attaches `resources_created` to the target task is
    # UNCONFIRMED (§6.5); the simulator does, unless the task already has that URL.
    rule_action_type: str = DEFAULT_RULE_ACTION_TYPE
    rule_action_name: str = "Create a Jira issue"
    attach_resources_created: bool = True

    @property
    def widget_metadata_url(self) -> str | None:
        if not self.bridge_url:
            return None
        return self.bridge_url.rstrip("/") + {**DEFAULT_PATHS, **self.paths}["widget"]

    def public(self) -> dict:
        return {"client_id": self.client_id, "name": self.name, "redirect_uris": self.redirect_uris,
                "bridge_url": self.bridge_url, "paths": {**DEFAULT_PATHS, **self.paths},
                "match_url_pattern": self.match_url_pattern,
                "installed_projects": sorted(self.installed_projects),
                "rule_action_type": self.rule_action_type,
                "rule_action_name": self.rule_action_name,
                "attach_resources_created": self.attach_resources_created}


def _is_loopback(uri: str) -> bool:
    return bool(re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", uri))


class SimState:
    def __init__(self, *, clock: SimClock, rate_limit_per_minute: int = 1500,
                 access_token_ttl: int = ACCESS_TOKEN_TTL,
                 download_url_ttl: int = DOWNLOAD_URL_TTL, base_url: str | None = None):
        self.clock = clock
        self.rate_limit_per_minute = rate_limit_per_minute
        self.access_token_ttl = access_token_ttl
        self.download_url_ttl = download_url_ttl
        self.base_url = base_url.rstrip("/") if base_url else None
        self.lock = threading.RLock()
        self._secret = secrets.token_bytes(32)  # signs download URLs and offset tokens
        self._initial_rate_limit = rate_limit_per_minute
        self.reset()

    # --- world -----------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clock.reset()
            self.rate_limit_per_minute = self._initial_rate_limit
            self.users = {u["gid"]: copy.deepcopy(u) for u in seed.USERS}
            self.workspaces = {w["gid"]: copy.deepcopy(w) for w in seed.WORKSPACES}
            self.projects = {p["gid"]: copy.deepcopy(p) for p in seed.PROJECTS}
            self.tasks = {t["gid"]: copy.deepcopy(t) for t in seed.TASKS}
            self.attachments = {}
            self.sections = {s["gid"]: copy.deepcopy(s) for s in seed.SECTIONS}
            for a in seed.ATTACHMENTS:
                self.attachments[a["gid"]] = {**copy.deepcopy(a), "resource_subtype": "asana",
                                              "host": "asana", "url": None, "connected_app": None}
            for a in seed.LINKED_FILES:
                self.attachments[a["gid"]] = {**copy.deepcopy(a), "resource_subtype": a["host"],
                                              "size": None, "content_type": None,
                                              "connected_app": None}
            self.removed_attachments: dict[str, dict] = {}
            self.rule_actions: dict[str, dict] = {}
            self.rule_runs: list[dict] = []
            self.uploads: dict[str, bytes] = {}
            self.stories: dict[str, list[dict]] = {}
            self.apps: dict[str, OAuthApp] = {}
            self.codes: dict[str, dict] = {}
            self.access_tokens: dict[str, dict] = {}
            self.refresh_tokens: dict[str, dict] = {}
            self.pats = dict(seed.PATS)
            self.custom_fields: dict[str, dict] = {}  # gid -> field (enum options inside)
            self.field_settings: dict[str, list[dict]] = {}  # project gid -> settings
            self.field_values: dict[str, dict[str, str | None]] = {}  # task -> field -> option
            self.task_updates: list[dict] = []  # every accepted PUT /tasks/{gid}
            self.requests_log: dict[str, deque] = {}
            self._next_gid = 1600000000000001

    def new_gid(self) -> str:
        with self.lock:
            gid = str(self._next_gid)
            self._next_gid += 1
            return gid

    def now(self) -> float:
        return self.clock.now()

    # --- apps ------------------------------------------------------------------------

    def register_app(self, *, client_id: str, client_secret: str, redirect_uris: list[str],
                     name: str = "Jira bridge", bridge_url: str | None = None,
                     paths: dict | None = None, match_url_pattern: str | None = None,
                     install_on: list[str] | None = None) -> OAuthApp:
        """Register an OAuth app (and optionally its App Components server).

        Asana enforces https redirect URLs (reference §7.2); the simulator also allows
        ``http://`` on loopback so tests and the demo run without certificates.
        """
        for uri in redirect_uris:
            if not (uri.startswith("https://") or _is_loopback(uri)):
                raise ValueError(f"redirect URL must be https (or loopback http): {uri}")
        app = OAuthApp(client_id, client_secret, list(redirect_uris), name, bridge_url,
                       dict(paths or {}), match_url_pattern or DEFAULT_MATCH_URL_PATTERN,
                       set(install_on if install_on is not None else [seed.PROJECT]))
        with self.lock:
            self.apps[client_id] = app
        return app

    def configure_components(self, client_id: str | None = None, **changes) -> OAuthApp:
        app = self.app(client_id)
        for key, value in changes.items():
            if value is None:
                continue
            if key == "install_on":
                app.installed_projects = set(value)
            elif hasattr(app, key):
                setattr(app, key, value)
            else:
                raise ValueError(f"unknown app setting {key!r}")
        return app

    def app(self, client_id: str | None = None) -> OAuthApp:
        with self.lock:
            if client_id:
                if client_id not in self.apps:
                    raise SimError(404, f"no app {client_id}")
                return self.apps[client_id]
            if not self.apps:
                raise SimError(409, "no app registered; POST /_sim/apps first")
            return next(reversed(self.apps.values()))

    def host_for(self, client_id: str | None = None, *, bridge_url: str | None = None,
                 **kw) -> AppComponentsHost:
        """The App Components host for an app, signing with its client secret. ``bridge_url``
        sends to another address than the registered one (e.g. a second bridge node); other
        keywords go to :class:`AppComponentsHost` (``validate``, ``authenticate``, ...)."""
        app = self.app(client_id)
        url = bridge_url or app.bridge_url
        if not url:
            raise SimError(409, "the app has no App Components server (bridge_url) configured")
        return AppComponentsHost(url, app.client_secret, clock=self.clock, paths=app.paths, **kw)

    def add_task(self, *, name: str, workspace: str = seed.WORKSPACE,
                 projects: list[str] | None = None, notes: str = "",
                 html_notes: str | None = None, assignee: str | None = None,
                 due_on: str | None = None) -> str:
        """A new task (in the seeded project when it is in that workspace); returns its gid."""
        if not str(name or "").strip():
            raise ValueError("name: Missing input")
        if workspace not in self.workspaces:
            raise SimError(404, f"no workspace {workspace}")
        if projects is None:
            projects = [p for p, rec in self.projects.items() if rec["workspace"] == workspace][:1]
        for p in projects:
            if p not in self.projects or self.projects[p]["workspace"] != workspace:
                raise SimError(400, f"project {p} is not in workspace {workspace}")
        if assignee is not None and assignee not in self.users:
            raise SimError(404, f"no user {assignee}")
        if due_on is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(due_on)):
            raise ValueError("due_on must be YYYY-MM-DD")
        gid = self.new_gid()
        now = iso_z(self.now())
        section = next((s for s, rec in self.sections.items()
                        if projects and rec["project"] == projects[0]), None)
        task = {"gid": gid, "name": name, "notes": notes,
                "html_notes": html_notes if html_notes is not None
                else f"<body>{html.escape(notes)}</body>",
                "assignee": assignee, "workspace": workspace, "projects": list(projects),
                "due_on": due_on, "created_at": now, "modified_at": now, "completed": False,
                "section": section, "created_by": None}
        with self.lock:
            self.tasks[gid] = task
        return gid

    # --- users -------------------------------------------------------------------------

    def user_by_email(self, email: str) -> dict | None:
        for user in self.users.values():
            if user["email"].lower() == (email or "").strip().lower():
                return user
        return None

    def check_password(self, email: str, password: str) -> dict | None:
        user = self.user_by_email(email)
        if user and hmac.compare_digest(user["password"].encode(), (password or "").encode()):
            return user
        return None

    # --- OAuth tokens ------------------------------------------------------------------

    def issue_code(self, **grant) -> str:
        code = "1/" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {**grant, "expires": self.now() + AUTH_CODE_TTL}
        return code

    def take_code(self, code: str) -> dict | None:
        with self.lock:
            grant = self.codes.pop(code, None)
        if grant and grant["expires"] >= self.now():
            return grant
        return None

    def issue_access_token(self, user: str, client_id: str, refresh: str | None,
                           scope: str = "default") -> str:
        token = "2/" + user + "/" + secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens[token] = {"user": user, "client_id": client_id, "refresh": refresh,
                                         "expires": self.now() + self.access_token_ttl,
                                         "scope": scope}
        return token

    def issue_refresh_token(self, user: str, client_id: str, scope: str) -> str:
        token = "2/" + user + "/r/" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = {"user": user, "client_id": client_id, "scope": scope}
        return token

    def revoke_refresh(self, token: str) -> None:
        with self.lock:
            self.refresh_tokens.pop(token, None)
            for key in [k for k, v in self.access_tokens.items() if v["refresh"] == token]:
                del self.access_tokens[key]

    def authenticate(self, bearer: str | None) -> dict:
        """Who is calling: ``{"user", "client_id" (None for a PAT), "token"}``."""
        if not bearer:
            raise SimError(401, "Not Authorized")
        if bearer in self.pats:
            return {"user": self.pats[bearer], "client_id": None, "token": bearer,
                    "scope": "default"}
        record = self.access_tokens.get(bearer)
        if record is None or record["expires"] < self.now():
            raise SimError(401, "Not Authorized")
        return {"user": record["user"], "client_id": record["client_id"], "token": bearer,
                "scope": record["scope"]}

    # --- rate limit (reference §8: per token, 429 + Retry-After) -----------------------

    def count_request(self, token: str) -> None:
        now = self.now()
        with self.lock:
            window = self.requests_log.setdefault(token, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            over = len(window) >= self.rate_limit_per_minute
            window.append(now)  # "Rejected requests still count against the quota"
            if over:
                retry = max(1, math.ceil(window[0] + 60 - now))
                raise SimError(
                    429, "You have made too many requests recently. Please, be chill.",
                    {"Retry-After": str(retry)},
                )

    # --- signed, expiring things --------------------------------------------------------

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def download_query(self, gid: str) -> str:
        expires = int(self.now()) + self.download_url_ttl
        return f"expires={expires}&sig={self._mac(f'dl:{gid}:{expires}')}"

    def check_download(self, gid: str, expires: str, sig: str) -> bool:
        if not expires.isdigit() or not hmac.compare_digest(self._mac(f"dl:{gid}:{expires}"), sig):
            return False
        return self.now() <= int(expires)

    def offset_token(self, scope: str, index: int) -> str:
        body = base64.urlsafe_b64encode(json.dumps([scope, index]).encode()).decode().rstrip("=")
        return body + "." + self._mac("off:" + body)[:16]

    def read_offset(self, scope: str, token: str) -> int:
        try:
            body, mac = token.rsplit(".", 1)
            if not hmac.compare_digest(self._mac("off:" + body)[:16], mac):
                raise ValueError
            got_scope, index = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if got_scope != scope or not isinstance(index, int) or index < 0:
                raise ValueError
            return index
        except (ValueError, TypeError):
            raise SimError(400, "offset: Your pagination token is invalid.") from None

    # --- custom fields (REST OAS: custom fields, enum options, custom field settings) ----

    ENUM_COLORS = ("none", "red", "orange", "yellow-orange", "yellow", "yellow-green",
                   "green", "blue-green", "aqua", "blue", "indigo", "purple", "magenta",
                   "hot-pink", "pink", "cool-gray")
    MAX_ENUM_OPTIONS = 500  # "at least 1 enum option but no more than 500"

    def _enum_option(self, name, color=None) -> dict:
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "name: Missing input")
        if color is not None and color not in self.ENUM_COLORS:
            raise SimError(400, f"color: Invalid enum value: {color}")
        return {"gid": self.new_gid(), "resource_type": "enum_option", "name": name,
                "enabled": True, "color": color or "none"}

    def create_custom_field(self, *, workspace: str, creator: str, data: dict) -> dict:
        """``POST /custom_fields`` for ``enum`` and ``text`` fields (what the bridge makes)."""
        if workspace not in self.workspaces:
            raise SimError(400, "workspace: Missing input" if not workspace
                           else f"workspace: Not a recognized ID: {workspace}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "name: Missing input")
        subtype = data.get("resource_subtype") or data.get("type")
        if subtype not in ("enum", "text"):
            raise SimError(400, "resource_subtype: must be one of enum, text "
                                "(the simulator's subset)")
        with self.lock:
            if any(f["workspace"] == workspace and f["name"].lower() == name.lower()
                   for f in self.custom_fields.values()):
                # Asana refuses a second field of the same name in a workspace
                raise SimError(400, f"name: A custom field with the name {name!r} already "
                                    "exists in this workspace.")
            options = [self._enum_option(o.get("name"), o.get("color")) if isinstance(o, dict)
                       else self._enum_option(None) for o in data.get("enum_options") or []]
            if len(options) > self.MAX_ENUM_OPTIONS:
                raise SimError(400, "enum_options: at most 500 enum options")
            gid = self.new_gid()
            field = {"gid": gid, "name": name, "resource_subtype": subtype,
                     "workspace": workspace, "created_by": creator,
                     "description": data.get("description") or "",
                     "enum_options": options if subtype == "enum" else None}
            self.custom_fields[gid] = field
            return field

    def add_enum_option(self, field_gid: str, data: dict) -> dict:
        with self.lock:
            field = self.custom_fields.get(field_gid)
            if field is None:
                raise SimError(404, f"custom_field: Not a recognized ID: {field_gid}")
            if field["resource_subtype"] != "enum":
                raise SimError(400, "custom_field: enum options are only for enum fields")
            if len(field["enum_options"]) >= self.MAX_ENUM_OPTIONS:
                raise SimError(400, "enum_options: at most 500 enum options")
            option = self._enum_option(data.get("name"), data.get("color"))
            field["enum_options"].append(option)
            return option

    def add_field_setting(self, project: str, field_gid: str, important: bool) -> dict:
        with self.lock:
            field = self.custom_fields.get(field_gid)
            if field is None:
                raise SimError(404, f"custom_field: Not a recognized ID: {field_gid}")
            settings = self.field_settings.setdefault(project, [])
            if any(s["custom_field"] == field_gid for s in settings):
                raise SimError(400, "custom_field: This custom field is already on the "
                                    "project.")
            setting = {"gid": self.new_gid(), "custom_field": field_gid,
                       "is_important": bool(important), "project": project}
            settings.append(setting)
            return setting

    def set_task_fields(self, task_gid: str, values: dict) -> None:
        """Check every value first (a bad one changes nothing), then set them."""
        with self.lock:
            task = self.tasks[task_gid]
            allowed = {s["custom_field"] for p in task["projects"]
                       for s in self.field_settings.get(p, [])}
            checked = {}
            for field_gid, value in values.items():
                field = self.custom_fields.get(field_gid)
                if field is None or field_gid not in allowed:
                    raise SimError(400, f"custom_fields: Custom field with ID {field_gid} "
                                        "is not on given object")
                if field["resource_subtype"] == "enum":
                    if value is not None and not any(
                            o["gid"] == value and o["enabled"] for o in field["enum_options"]):
                        raise SimError(400, f"custom_fields: enum option {value} is not a "
                                            f"valid option of {field_gid}")
                elif value is not None and not isinstance(value, str):
                    raise SimError(400, f"custom_fields: {field_gid} takes text")
                checked[field_gid] = value
            self.field_values.setdefault(task_gid, {}).update(checked)

    def task_field_value(self, task_gid: str, field_gid: str):
        return self.field_values.get(task_gid, {}).get(field_gid)

    def project_members(self, project: str) -> dict:
        return dict(self.projects[project].get("members") or {})

    # --- attachments ------------------------------------------------------------------

    def add_external_attachment(self, *, parent: str, name: str, url: str,
                                connected_app: str | None = None) -> dict:
        gid = self.new_gid()
        record = {"gid": gid, "name": name, "parent": parent, "size": None,
                  "content_type": None, "created_at": iso_z(self.now()),
                  "resource_subtype": "external", "host": "external", "url": url,
                  "connected_app": connected_app}
        with self.lock:
            self.attachments[gid] = record
        return record

    def add_upload(self, *, parent: str, name: str, content: bytes, content_type: str) -> dict:
        gid = self.new_gid()
        record = {"gid": gid, "name": name, "parent": parent, "size": len(content),
                  "content_type": content_type, "created_at": iso_z(self.now()),
                  "resource_subtype": "asana", "host": "asana", "url": None,
                  "connected_app": None}
        with self.lock:
            self.attachments[gid] = record
            self.uploads[gid] = content
        return record

    def add_linked_file(self, *, parent: str, name: str, url: str, host: str) -> dict:
        """A file that lives on another service (Drive, Dropbox, ...), as Asana lists it."""
        if host not in LINK_HOSTS:
            raise ValueError(f"host must be one of {', '.join(LINK_HOSTS)}")
        if not re.match(r"^https?://[^\s/]+", url or ""):
            raise ValueError("url must be an absolute http(s) URL")
        gid = self.new_gid()
        record = {"gid": gid, "name": name, "parent": parent, "size": None,
                  "content_type": None, "created_at": iso_z(self.now()),
                  "resource_subtype": host, "host": host, "url": url, "connected_app": None}
        with self.lock:
            self.attachments[gid] = record
        return record

    def add_generated(self, *, parent: str, name: str, size: int,
                      content_type: str = "application/octet-stream") -> dict:
        """An Asana-hosted file of any ``size`` whose bytes are generated when downloaded
        (:func:`seed.iter_content`): nothing is stored, so 1 GB costs no memory."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("size must be a whole number of bytes, 0 or more")
        gid = self.new_gid()
        record = {"gid": gid, "name": name, "parent": parent, "size": size,
                  "content_type": content_type, "created_at": iso_z(self.now()),
                  "resource_subtype": "asana", "host": "asana", "url": None,
                  "connected_app": None}
        with self.lock:
            self.attachments[gid] = record
        return record

    def remove_attachment(self, gid: str) -> dict:
        """Remove an attachment from its task, as a user deleting it in Asana does: the REST
        API then answers 404 for it, lists no longer include it, its widget goes away and
        download URLs handed out before stop working."""
        with self.lock:
            record = self.attachments.pop(gid, None)
            if record is None:
                raise SimError(404, f"attachment: Not a recognized ID: {gid}")
            self.uploads.pop(gid, None)
            self.removed_attachments[gid] = record
        return record

    def attach_resource(self, task: str, resource: dict, client_id: str | None = None) -> dict:
        """What Asana does with an AttachedResourceResponse (lookup attach, form submit):
        attach ``resource_url`` to the task as an external link connected to the app, which
        then renders its widget (reference §5.2, §5.3)."""
        if task not in self.tasks:
            raise SimError(404, "task not found")
        app = self.app(client_id)
        return self.add_external_attachment(parent=task, name=resource["resource_name"],
                                            url=resource["resource_url"],
                                            connected_app=app.client_id)

    def attachment_digest(self, gid: str) -> str:
        """sha256 of an Asana-hosted attachment's bytes, as a download delivers them."""
        with self.lock:
            record = self.attachments.get(gid)
            content = self.uploads.get(gid)
        if record is None or record["host"] != "asana":
            raise SimError(404, f"no Asana-hosted attachment {gid}")
        if content is not None:
            return hashlib.sha256(content).hexdigest()
        return seed.content_digest(gid, record["size"])

    def attachments_of(self, parent: str) -> list[dict]:
        with self.lock:
            return [a for a in self.attachments.values() if a["parent"] == parent]

    def widget_attachments(self, task_gid: str, client_id: str | None = None) -> list[dict]:
        """External attachments of a task that the app renders as widgets (§2.1)."""
        try:
            app = self.app(client_id)
        except SimError:
            return []
        task = self.tasks.get(task_gid)
        if not task or not app.bridge_url or not set(task["projects"]) & app.installed_projects:
            return []
        pattern = re.compile(app.match_url_pattern)
        return [a for a in self.attachments_of(task_gid)
                if a["resource_subtype"] == "external" and a["url"]
                and (a["connected_app"] == app.client_id or pattern.search(a["url"]))]

    def view_task(self, task: str, user: str, client_id: str | None = None,
                  **host_kw) -> list:
        """A user opens a task: Asana asks the app for a widget for every attachment that
        matches the app's URL pattern (reference §2.1), each time. Answers the
        :class:`ComponentResponse` of each, in attachment order."""
        if task not in self.tasks:
            raise SimError(404, f"no task {task}")
        if "@" in str(user):
            found = self.user_by_email(user)
            user = found["gid"] if found else user
        host = self.host_for(client_id, **host_kw)
        return [host.widget(workspace=self.tasks[task]["workspace"], task=task, user=user,
                            attachment=a["gid"], resource_url=a["url"])
                for a in self.widget_attachments(task, client_id)]

    # --- rule actions (reference §2.1, §5.4) ---------------------------------------------

    def new_rule_action(self, *, project: str, client_id: str | None = None) -> dict:
        """What the rule builder knows when a user adds the app's action to a rule: a fresh
        action id (sent as `action` on change and submit; omitted from the metadata GET of
        a new action) and the app's `action_type`."""
        app = self.app(client_id)
        if project not in self.projects:
            raise SimError(404, f"no project {project}")
        return {"action": self.new_gid(), "action_type": app.rule_action_type,
                "project": project, "workspace": self.projects[project]["workspace"],
                "name": app.rule_action_name, "client_id": app.client_id}

    def save_rule(self, *, action: str, project: str, user: str, values: dict,
                  rule_name: str | None = None, client_id: str | None = None) -> dict:
        """Record a rule whose on_submit the app accepted (edits replace it)."""
        app = self.app(client_id)
        if project not in self.projects:
            raise SimError(404, f"no project {project}")
        if user not in self.users:
            raise SimError(404, f"no user {user}")
        rule = {"action": str(action), "action_type": app.rule_action_type, "project": project,
                "workspace": self.projects[project]["workspace"], "user": user,
                "values": dict(values or {}), "rule_name": rule_name or app.rule_action_name,
                "client_id": app.client_id}
        with self.lock:
            self.rule_actions[rule["action"]] = rule
        return rule

    def delete_rule(self, action: str) -> dict:
        with self.lock:
            rule = self.rule_actions.pop(action, None)
        if rule is None:
            raise SimError(404, f"no rule action {action}")
        return rule

    def run_rule(self, action: str, task: str, *, deliveries: int = 1,
                 idempotency_key: str | None = None, **host_kw) -> dict:
        """The rule fires on ``task``: Asana's servers POST run_action (retried with backoff,
        one idempotency key; ``deliveries`` > 1 sends that many at once), then attach the
        created resources to the task. ``user`` is the rule's creator (which user Asana
        sends is UNCONFIRMED, §5.4)."""
        rule = self.rule_actions.get(action)
        if rule is None:
            raise SimError(404, f"no rule action {action}")
        if task not in self.tasks:
            raise SimError(404, f"no task {task}")
        if not 1 <= int(deliveries) <= 10:
            raise ValueError("deliveries must be 1 to 10")
        app = self.app(rule["client_id"])
        host = self.host_for(rule["client_id"], **host_kw)
        key = idempotency_key or f"{action}:{task}:{secrets.token_hex(8)}"
        call = {"workspace": self.tasks[task]["workspace"], "project": rule["project"],
                "user": rule["user"], "action_type": rule["action_type"], "action": action,
                "target_object": task}
        if deliveries > 1:
            results = host.rule_run_deliveries(int(deliveries), idempotency_key=key, **call)
        else:
            results = [host.rule_run(idempotency_key=key, **call)]
        attached = []
        for result in results:
            body = result.body if isinstance(result.body, dict) else {}
            if not (result.ok and body.get("action_result") == "resources_created"
                    and app.attach_resources_created):
                continue
            for res in body.get("resources_created") or []:
                present = {a["url"] for a in self.attachments_of(task)}
                if res["resource_url"] not in present:
                    made = self.add_external_attachment(parent=task, name=res["resource_name"],
                                                        url=res["resource_url"],
                                                        connected_app=app.client_id)
                    attached.append(made["gid"])
        record = {"action": action, "task": task, "idempotency_key": key,
                  "deliveries": [{"status": r.status, "body": r.body, "outcome": r.outcome,
                                  "attempts": len(r.attempts)} for r in results],
                  "attached": attached}
        with self.lock:
            self.rule_runs.append(record)
        return record
