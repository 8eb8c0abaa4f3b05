"""What a user pastes to name a Jira issue: a key, or a URL of a Jira page showing one.

Reference: jira-server.md §1.3 (a base URL is scheme, host, port and context path) and
issue 8 §4. Recognised, with or without a query and a fragment:

- a key: ``ABC-12`` (any case; Jira's project keys start with a letter);
- ``{base}/browse/ABC-12`` (the canonical issue URL);
- ``{base}/projects/ABC/issues/ABC-12`` (the project-centric issue view);
- any ``{base}/...?...selectedIssue=ABC-12`` (board and backlog links);

where ``{base}`` is the base URL of one of the workspace's Jira instances, context path
included (``https://example.com/jira``). A URL of any other host, or of a Jira Cloud site,
is refused: it is never fetched (ARCHITECTURE §8). Nothing here makes a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .urls import DEFAULT_PORTS, is_cloud_host

KEY = re.compile(r"\A[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]{0,17}\Z")
_ISSUE_PATHS = (
    re.compile(r"\A/browse/([^/]+)/?\Z"),
    re.compile(r"\A/projects/[^/]+/issues/([^/]+)/?\Z"),
)


class NotJiraOfWorkspace(ValueError):
    """A URL of a host that is not one of the workspace's Jira instances."""


class CloudURL(NotJiraOfWorkspace):
    """A Jira Cloud URL: this bridge connects Server and Data Center only."""


@dataclass(frozen=True)
class Ref:
    """What the text names: ``key`` (upper case) and, for a URL, the ``base_url`` of the
    instance it belongs to. ``key`` is ``None`` for a URL of an instance that shows no
    issue (a dashboard)."""

    key: str | None
    base_url: str | None = None


def is_url(text: str) -> bool:
    return bool(re.match(r"\A[a-z][a-z0-9+.-]*://", text.strip(), re.I))


def as_key(text: str) -> str | None:
    value = text.strip()
    return value.upper() if KEY.match(value) else None


def browse_url(base_url: str, key: str) -> str:
    """The canonical URL of an issue (the one the widget's Match URL pattern matches)."""
    return f"{base_url.rstrip('/')}/browse/{key.upper()}"


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower().rstrip("."), port or DEFAULT_PORTS.get(scheme, 0)


def parse_url(text: str, base_urls: list[str]) -> Ref:
    """The issue a pasted URL shows, on the instance whose base URL it starts with.

    Raises ``CloudURL`` for a Jira Cloud site and ``NotJiraOfWorkspace`` for any other
    URL outside ``base_urls``; returns ``Ref(None, base)`` for a page with no issue.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise NotJiraOfWorkspace("not a URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        raise NotJiraOfWorkspace("not an http(s) URL")
    if is_cloud_host(host):
        raise CloudURL(host)
    origin = _origin(scheme, host, port)
    path = unquote(parts.path) or "/"
    best: str | None = None
    rest = ""
    for base in base_urls:
        b = urlsplit(base)
        if _origin(b.scheme, b.hostname or "", b.port) != origin:
            continue
        context = b.path.rstrip("/")
        if path == context or path.startswith(context + "/"):
            if best is None or len(context) > len(urlsplit(best).path.rstrip("/")):
                best, rest = base, path[len(context):] or "/"
    if best is None:
        raise NotJiraOfWorkspace(host)
    for pattern in _ISSUE_PATHS:
        found = pattern.match(rest)
        if found and KEY.match(found.group(1)):
            return Ref(found.group(1).upper(), best)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "selectedIssue" and KEY.match(value.strip()):
            return Ref(value.strip().upper(), best)
    return Ref(None, best)
