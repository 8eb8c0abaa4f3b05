"""Every setting of the bridge, in one place.

Settings come from ``BRIDGE_*`` environment variables (or a ``mapping`` passed to
``create_app`` in tests), are parsed and validated once at start, and any error names the
variable so an admin knows what to fix. Nothing else in the package reads the environment.

``SETTINGS`` is the single declaration: the README's settings table is checked against it
by a test, so a setting cannot be added without being documented.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PREFIX = "BRIDGE_"


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable."""


@dataclass(frozen=True)
class Setting:
    name: str  # without the prefix
    doc: str
    default: Any = None
    parse: Callable[[str], Any] = str
    secret: bool = False

    @property
    def env(self) -> str:
        return PREFIX + self.name


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _http_url(raw: str) -> str:
    """An http(s) base URL with its scheme and host in lower case and no default port:
    ``HTTPS://Bridge.Example.com:443/`` would otherwise drop the cookie's ``Secure`` flag
    (decided on the scheme) and reach ``redirect_uri`` spelled differently from the URL
    registered with Asana (compared exactly, RFC 6749 §3.1.2)."""
    parts = urlsplit(raw.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL, got {raw!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ValueError(f"must be a base URL without ? or #, got {raw!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has a port that is not a number: {raw!r}") from None
    host = parts.hostname  # urlsplit lower-cases it and strips IPv6 brackets
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def _database_url(raw: str) -> str:
    url = raw.strip()
    scheme = urlsplit(url).scheme
    if scheme not in ("sqlite", "postgres", "postgresql"):
        raise ValueError(
            "must start with sqlite:/// or postgresql:// "
            f"(for example postgresql://user:pass@localhost/bridge), got scheme {scheme!r}"
        )
    if scheme != "sqlite" and not urlsplit(url).hostname and "host=" not in url:
        raise ValueError("a PostgreSQL URL needs a host, e.g. postgresql://user@localhost/bridge")
    return url


def _queue_url(raw: str) -> str:
    url = raw.strip()
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a Redis URL (redis://host:6379/0); leave it empty to keep "
                         f"the queue in the bridge's database, got {raw!r}")
    return url


def _emails(raw: str) -> tuple[str, ...]:
    emails = tuple(e.strip().lower() for e in raw.split(",") if e.strip())
    for email in emails:
        if "@" not in email:
            raise ValueError(f"must be comma-separated email addresses, got {email!r}")
    return emails


def _ca_bundle(raw: str) -> str:
    from .trust import check_bundle

    return check_bundle(raw)


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("INSTANCE_PATH", "Folder for local state: the SQLite file, the generated secret key.",
            default="instance"),
    Setting("DATABASE_URL", "Where the bridge keeps its data. Default: a SQLite file "
            "`bridge.sqlite3` in the instance folder. PostgreSQL: `postgresql://user:pass@host/db`.",
            parse=_database_url, secret=True),
    Setting("SECRET_KEY", "Key that seals tokens, private keys and client secrets at rest "
            "(at least 32 characters). Default: generated once into `secret_key` in the instance "
            "folder (mode 0600).", secret=True),
    Setting("SECRET_KEY_FILE", "File holding the secret key instead of `BRIDGE_SECRET_KEY` "
            "(must not be readable by group or others)."),
    Setting("PUBLIC_URL", "The bridge's URL as browsers and Asana reach it, e.g. "
            "`https://bridge.example.com`. Needed for OAuth callbacks and rule actions.",
            parse=_http_url),
    Setting("ASANA_CLIENT_ID", "Client id of the bridge's Asana app. Setting it enables App "
            "Components and Asana sign-in."),
    Setting("ASANA_CLIENT_SECRET", "Client secret of the Asana app; keys the App Components "
            "request signatures.", secret=True),
    Setting("ASANA_CLIENT_SECRET_FILE", "File holding the Asana client secret instead of "
            "`BRIDGE_ASANA_CLIENT_SECRET` (must not be readable by group or others)."),
    Setting("ASANA_BASE_URL", "Asana's base URL (the simulator's URL in tests and the demo).",
            default="https://app.asana.com", parse=_http_url),
    Setting("MAX_ISSUES_PER_TASK", "How many Jira issues one Asana task may link.",
            default=1, parse=_int(1, 50)),
    Setting("ADMINS", "Comma-separated emails of the Asana users who administer the bridge.",
            default=(), parse=_emails),
    Setting("LOG_LEVEL", "Logging level: debug, info, warning or error.", default="info",
            parse=_choice("debug", "info", "warning", "error")),
    Setting("LOG_FORMAT", "`text` for people, `json` for log collectors (one object a line).",
            default="text", parse=_choice("text", "json")),
    Setting("MAX_CONTENT_LENGTH", "Largest request body the bridge accepts, in bytes.",
            default=1_048_576, parse=_int(1024, 100 * 1024 * 1024)),
    Setting("HTTP_TIMEOUT", "Timeout in seconds for every outbound call to Jira or Asana.",
            default=8.0, parse=_float(0.5, 120)),
    Setting("CA_BUNDLE", "PEM file of the certificate authorities that sign Jira's TLS "
            "certificate (a company CA). Default: the system trust store. Certificates are "
            "always verified; no setting turns that off.", parse=_ca_bundle),
    Setting("ASANA_CA_BUNDLE", "PEM file of the certificate authorities for calls to Asana "
            "(e.g. behind a TLS-inspecting proxy). Default: the system trust store.",
            parse=_ca_bundle),
    Setting("QUEUE_URL", "Where background work (attachment copies) is queued. Default: the "
            "bridge's own database (huey's SQL storage). `redis://host:6379/0` for Redis "
            "(install the `redis` extra).", default="", parse=_queue_url, secret=True),
    Setting("WORKER_THREADS", "Threads of each queue worker (attachment copies in parallel).",
            default=2, parse=_int(1, 32)),
    Setting("TRUST_PROXY", "Trust `X-Forwarded-*` headers from one reverse proxy in front of "
            "the bridge.", default=False, parse=_bool),
    Setting("WIDGET_MAX_AGE", "Longest time in seconds a widget shows a cached Jira issue "
            "without asking Jira again. Jira webhooks make changes show within a second; this "
            "bounds the age when a webhook is missing or lost.",
            default=60.0, parse=_float(0, 86400)),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Parsed, validated settings. Attribute names are the setting names in lower case."""

    values: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        # Secret settings show as *** (as oauthlib's clients mask theirs): settings printed
        # in a traceback, a debugger or a test failure give no secret away.
        shown = {name: "***" if value and name in _BY_NAME and _BY_NAME[name].secret
                 else value for name, value in self.values.items()}
        return f"Config(values={shown!r}, sources={dict(self.sources)!r})"

    def replace(self, **changes: Any) -> Config:
        """These settings with some values changed (lower-case names, as attributes), for
        tests; the new values are not parsed nor validated again."""
        values = dict(self.values)
        for name, value in changes.items():
            if name.upper() not in values:
                raise AttributeError(name)
            values[name.upper()] = value
        return Config(values=values, sources=self.sources)

    @property
    def instance_path(self) -> Path:
        return Path(self.values["INSTANCE_PATH"]).resolve()

    @property
    def app_components_enabled(self) -> bool:
        return bool(self.values.get("ASANA_CLIENT_ID"))


def load(mapping: Mapping[str, str] | None = None) -> Config:
    """Read every setting from ``mapping`` (default: the environment) and validate it.

    Keys in ``mapping`` may carry the ``BRIDGE_`` prefix or not.
    """
    env = os.environ if mapping is None else {
        (k if k.startswith(PREFIX) else PREFIX + k): str(v) for k, v in mapping.items()
    }
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k[len(PREFIX):] not in _BY_NAME)
    if mapping is not None and unknown:
        raise ConfigError(f"{unknown[0]} is not a setting of the bridge")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is None or raw == "":
            values[setting.name] = setting.default
            sources[setting.name] = "default"
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env} {exc}") from None
        sources[setting.name] = "environment"

    _read_secret_file(values, sources, "ASANA_CLIENT_SECRET")
    _read_secret_file(values, sources, "SECRET_KEY")

    instance = Path(values["INSTANCE_PATH"]).resolve()
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'bridge.sqlite3'}"
    if values["SECRET_KEY"] is not None and len(values["SECRET_KEY"]) < 32:
        raise ConfigError(f"{PREFIX}SECRET_KEY must be at least 32 characters long")
    if values["ASANA_CLIENT_ID"] and not values["ASANA_CLIENT_SECRET"]:
        raise ConfigError(
            f"{PREFIX}ASANA_CLIENT_SECRET (or {PREFIX}ASANA_CLIENT_SECRET_FILE) is required "
            f"when {PREFIX}ASANA_CLIENT_ID is set: it verifies Asana's request signatures"
        )
    if values["ASANA_CLIENT_ID"] and not values["PUBLIC_URL"]:
        raise ConfigError(
            f"{PREFIX}PUBLIC_URL is required when {PREFIX}ASANA_CLIENT_ID is set: OAuth "
            "callbacks and application links are built from it (never from a request's Host)"
        )
    return Config(values=values, sources=sources)


def _read_secret_file(values: dict, sources: dict, name: str) -> None:
    """Fill ``name`` from ``<name>_FILE``, refusing files others can read (ARCHITECTURE §8)."""
    path = values.get(name + "_FILE")
    if not path:
        return
    if values.get(name):
        raise ConfigError(f"set either {PREFIX}{name} or {PREFIX}{name}_FILE, not both")
    var = f"{PREFIX}{name}_FILE"
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{var}: {path} is readable by others; run chmod 600 on it")
    if not text:
        raise ConfigError(f"{var}: {path} is empty")
    values[name] = text
    sources[name] = "file"

