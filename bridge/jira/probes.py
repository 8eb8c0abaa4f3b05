"""Raw looks at a Jira for ``doctor``: what it answers, before any interpretation.

``JiraClient`` turns every failure into the error hierarchy, which is right for users but
hides what an admin diagnosing a set-up needs: whether TLS failed or the host is
unreachable, where a redirect points, the ``Date`` header (clock skew, jira-server.md
§1.3), and non-JSON answers. These probes are anonymous GETs that follow no redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from .client import JiraClient, error_for, session_for
from .errors import JiraUnavailable
from .oauth2 import AUTHORIZE_PATH as OAUTH2_AUTHORIZE_PATH


class JiraUnreachable(JiraUnavailable):
    """No HTTP answer at all. ``tls`` tells a certificate problem from a dead host;
    ``cause`` names the transport error (never its text, which may carry a URL)."""

    def __init__(self, public_message=None, *, tls: bool = False, cause: str = "", **kwargs):
        super().__init__(public_message, **kwargs)
        self.tls = tls
        self.cause = cause


@dataclass(frozen=True)
class Answer:
    status: int
    json: object  # the parsed body, or None when it is not JSON
    date: str | None  # the Date header
    location: str | None  # where a redirect points

    @property
    def redirected(self) -> bool:
        return self.status in (301, 302, 303, 307, 308)


def _get(base_url: str, path: str, timeout: float) -> Answer:
    try:
        response = session_for(base_url).get(base_url + path, timeout=timeout,
                                             allow_redirects=False)
    except requests.exceptions.SSLError as exc:
        raise JiraUnreachable(tls=True, cause=type(exc).__name__) from None
    except requests.RequestException as exc:  # unreachable, too slow, too large: say which
        raise JiraUnreachable(error_for(exc).public_message, cause=type(exc).__name__) \
            from None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    return Answer(status=response.status_code, json=body,
                  date=response.headers.get("Date"), location=response.headers.get("Location"))


def server_info(base_url: str, *, timeout: float = 8.0) -> Answer:
    """Anonymous ``GET serverInfo`` (jira-server.md §3.1), as it comes."""
    return _get(base_url, JiraClient.SERVER_INFO, timeout)


def oauth2_authorize_status(base_url: str, *, timeout: float = 8.0) -> int:
    """HTTP status of the OAuth 2.0 authorize page: 404 means no provider (before 8.22)."""
    return _get(base_url, OAUTH2_AUTHORIZE_PATH, timeout).status
