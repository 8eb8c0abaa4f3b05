"""Logging set-up: text or JSON lines, with secrets redacted before anything is written.

Redaction runs as a ``logging.Filter`` on the bridge's handlers, so it covers every logger
(ours, Flask's, werkzeug's, gunicorn's, requests') and the formatted traceback too. It
removes, wherever they appear in a message: ``Authorization`` header values and bearer /
basic / OAuth credentials, OAuth parameters and form or JSON fields that carry tokens and
secrets, PEM private keys, and the exact values of secrets the bridge was configured with.

Known values are also redacted URL-encoded (``oauth_token%3D...`` in a logged URL), and a
short value (a password like ``admin``) only where it stands as a whole token, so it does
not eat parts of other words (``jira_admin``). peewee's SQL logger keeps its statements
but loses their parameters (every sealed value and email would be in them).
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import re
import sys
import time
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"

SECRET_KEYS = (
    "oauth_token", "oauth_token_secret", "oauth_signature", "oauth_verifier",
    "oauth_session_handle", "access_token", "refresh_token", "id_token", "client_secret",
    "code_verifier", "code", "token", "password", "os_password", "secret", "private_key",
    "api_key", "session", "state",
)
_KEY_ALT = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
# "=" as written, URL-encoded once ("%3D") or twice ("%253D"), as it shows in a logged URL
# that carries another URL in a parameter; a value then ends at "&" in the same forms.
_EQ = r"(?:=|%3D|%253D)"
_VALUE = r"(?:(?!%26|%2526)[^&\s,;\"'])+"
_PATTERNS = (
    # PEM blocks (private keys).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                re.S), REDACTED),
    # key=value in query strings, form bodies and OAuth headers (key="value"). Runs before
    # the header rule so an OAuth header's quoted parameters are caught one by one.
    (re.compile(rf"(?i)(?:\b|(?<=%[0-9a-f]{{2}}))({_KEY_ALT})({_EQ})(\"[^\"]*\"|{_VALUE})"),
     r"\1\2" + REDACTED),
    # "key": "value" in JSON and Python reprs (escaped quotes inside the value included).
    (re.compile(rf"(?i)(['\"](?:{_KEY_ALT})['\"]\s*:\s*)(['\"])((?:\\.|(?!\2).)*)\2"),
     r"\1\2" + REDACTED + r"\2"),
    # key: value, unquoted, for the unambiguous credential names.
    (re.compile(r"(?i)\b(password|passwd|client_secret|access_token|refresh_token|"
                r"private_key)(\s*:\s*)(?!['\"])\S+"), r"\1\2" + REDACTED),
    # The secret in the path of a Jira webhook URL (services.webhooks).
    (re.compile(r"(/jira/webhook/)[^/?#\s\"']+"), r"\1" + REDACTED),
    # Scheme credentials anywhere: Bearer xyz, Basic xyz.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # Authorization / Cookie header values, as "Authorization: X" or in a dict repr.
    (re.compile(r"(?i)((?:proxy-)?authorization|cookie|set-cookie)(['\"]?\s*[:=]\s*['\"]?)"
                r"[^'\"\n]+"), r"\1\2" + REDACTED),
)

_known_secrets: set[str] = set()
# Secrets of the work in progress (the request's credentials, the tokens a Jira call was
# made with): redacted from whatever this context logs, even where no key names them.
_context_secrets: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "bridge_context_secrets", default=frozenset())


def register_secret(value: str | None) -> None:
    """Redact this exact value from every log line (configured secrets, not user data)."""
    if value and len(value) >= 8:
        _known_secrets.add(value)


def hide(*values: str | None) -> None:
    """Redact these exact values from what the current request or job logs."""
    keep = {v for v in values if v and len(v) >= 4}
    if keep:
        _context_secrets.set(_context_secrets.get() | keep)


def reset_hidden() -> None:
    _context_secrets.set(frozenset())


def hidden() -> frozenset[str]:
    """What ``hide`` was given in this context since the last reset (to hand on with work
    that another layer finishes)."""
    return _context_secrets.get()


# A known value shorter than this is only redacted as a whole token: "admin" must not turn
# "jira_admin" into "jira_[redacted]". Longer values are random enough to match anywhere.
SHORT_SECRET = 16
# Characters that continue a token: a short secret next to one of these is part of a word.
_WORD = r"A-Za-z0-9_\-"


def _forms(secret: str) -> set[str]:
    """The value as written and URL-encoded (query string and form encodings)."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""),
            quote(quote(secret, safe=""), safe="")}


def _redact_value(text: str, secret: str) -> str:
    for form in _forms(secret):
        if form not in text:
            continue
        if len(secret) >= SHORT_SECRET:
            text = text.replace(form, REDACTED)
        else:
            # Whole token only; "%3D" or "%26" right before it counts as a separator.
            pattern = (rf"(?:(?<![{_WORD}])|(?<=%[0-9A-Fa-f]{{2}})){re.escape(form)}"
                       rf"(?![{_WORD}])")
            text = re.sub(pattern, REDACTED, text)
    return text


MASK = "***"
SECRET = {"secret": True}  # dataclass field metadata: masked by ``masked_repr``


def masked_repr(obj) -> str:
    """``repr`` of a dataclass whose ``SECRET`` fields show as ``***`` (as oauthlib's
    clients mask their secrets): a token set or key pair printed in a traceback, a debugger
    or a test failure gives nothing away, with or without the log filter."""
    parts = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        shown = MASK if f.metadata.get("secret") and value else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def redact(text: str) -> str:
    for secret in sorted((*_known_secrets, *_context_secrets.get()), key=len, reverse=True):
        text = _redact_value(text, secret)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Replace the record's message (and traceback) by their redacted rendering."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


class SQLParametersFilter(logging.Filter):
    """peewee logs ``(sql, params)`` for every statement at DEBUG: the parameters are
    sealed values of every token and key, emails, OAuth 1.0a request tokens in clear.
    Keep the statement (useful when debugging), drop the parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[0], str):
            count = len(msg[1]) if isinstance(msg[1], list | tuple) else 0
            record.msg = f"{msg[0]} -- {count} parameters not logged"
            record.args = ()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line, for log collectors."""

    _STANDARD = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_text:
            out["exc"] = record.exc_text
        return redact(json.dumps(out, default=str))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def make_handler(fmt: str, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.set_name("bridge")
    return handler


def configure(level: str = "info", fmt: str = "text") -> None:
    """Install the bridge's handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "bridge":
            root.removeHandler(existing)
    root.addHandler(make_handler(fmt))
    root.setLevel(level.upper())
    # These log request URLs and headers at DEBUG; keep them quiet even in debug mode.
    for noisy in ("oauthlib", "requests_oauthlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sql = logging.getLogger("peewee")
    if not any(isinstance(f, SQLParametersFilter) for f in sql.filters):
        sql.addFilter(SQLParametersFilter())
