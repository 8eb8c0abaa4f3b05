"""REST v2 calls to one Jira Server / Data Center, as one user (jira-server.md §3).

Every path the bridge calls is a constant here, and every version difference is a method
here, so services never compare versions. Calls go through the instance's guarded session
(``outbound``), are never retried nor redirected (a signed request is valid once, for one
URL), and fail as ``jira.errors`` classes, mapped in one place. The pitfalls behind these
rules (jira-server.md §6): docs/outbound-http.md.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import http.cookiejar
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests
from requests_oauthlib import OAuth1

from .. import logs, outbound
from . import versions
from .errors import (
    JiraAnswerTooLarge,
    JiraBadAnswer,
    JiraError,
    JiraInvalidInput,
    JiraMisconfigured,
    JiraNeedsReconnect,
    JiraNotFound,
    JiraTimedOut,
    JiraUnavailable,
    error_from_response,
)
from .signing import BearerAuth

_sessions: dict[str, outbound.GuardedSession] = {}
_sessions_lock = threading.Lock()


def session_for(base_url: str) -> outbound.GuardedSession:
    """The pooled session of one Jira instance (created on first use, per process).

    A ``GuardedSession``: every call through it has a total deadline, a cap on the
    answer's size and its address checked at connect time (DNS rebinding), never reads
    proxy settings or ``.netrc``, and never retries. Code that talks to Jira uses this
    (or ``fresh_session``) and ``transport_errors``, and gets all of that for free."""
    with _sessions_lock:
        session = _sessions.get(base_url)
        if session is None:
            session = _sessions[base_url] = outbound.GuardedSession(purpose="jira")
            # Every user's calls share it: a cookie Jira sets while answering one user
            # (JSESSIONID, atlassian.xsrf.token) must never ride along with another's token.
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return session


def fresh_session() -> outbound.GuardedSession:
    """A guarded session of its own, for calls with an admin's password whose cookies
    must not mix with the instance's pooled session (application links, webhooks)."""
    return outbound.GuardedSession(pool_maxsize=2, purpose="jira")


def error_for(exc: requests.RequestException, unreachable: str | None = None) -> JiraError:
    """The Jira error, with its sentence, for a transport failure (one place): an
    address, redirect or proxy an admin must fix (``JiraMisconfigured``), an answer that
    broke on the way (``JiraBadAnswer``), or Jira unreachable or too slow
    (``JiraUnavailable``, ``JiraTimedOut``: the only ones ``jira_outages`` counts)."""
    if isinstance(exc, outbound.ForbiddenAddress):
        return JiraMisconfigured(
            "Jira's host name now points to an address the bridge never calls "
            f"({exc.reason.rstrip('.')}). Check the DNS name of this Jira.",
            problem="forbidden_address")
    if isinstance(exc, requests.exceptions.SSLError):
        return JiraMisconfigured(
            "The bridge does not trust Jira's TLS certificate. If Jira uses a company "
            "certificate authority, set BRIDGE_CA_BUNDLE to a PEM file of it; "
            "asana-jira-bridge doctor names the certificate.", problem="tls_untrusted")
    if isinstance(exc, outbound.ResponseTooLarge):
        return JiraAnswerTooLarge(f"Jira's answer was larger than the bridge accepts "
                                  f"({exc.limit // (1024 * 1024)} MB).")
    if isinstance(exc, (requests.exceptions.ProxyError, requests.exceptions.InvalidProxyURL)):
        return JiraMisconfigured(
            "A proxy between the bridge and Jira refused or broke the call. The bridge "
            "calls Jira directly and reads no proxy settings: check the network path to "
            "Jira (a transparent proxy or firewall).", problem="proxy", advice="")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return JiraMisconfigured(
            "The Jira base URL registered in the bridge is not an http(s) address the "
            "bridge can call. Register the instance again with Jira's own Base URL "
            "(asana-jira-bridge jira list shows it).", problem="bad_url", advice="")
    if isinstance(exc, requests.TooManyRedirects):
        return JiraMisconfigured(
            "Jira redirected the bridge again and again; its base URL is probably "
            "registered wrongly (http instead of https, or a missing context path).",
            problem="redirect", advice="")
    if isinstance(exc, (requests.exceptions.ContentDecodingError,
                        requests.exceptions.ChunkedEncodingError)):
        return JiraBadAnswer(
            "Jira's answer broke off or could not be decoded (a proxy in front of Jira "
            "may be cutting or re-encoding it).")
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
        return JiraTimedOut()  # connected, then too slow (a connect timeout: unreachable)
    # Refused, reset or unresolvable connections and connect timeouts: Jira is unreachable.
    return JiraUnavailable(unreachable)


@contextlib.contextmanager
def transport_errors(unreachable: str | None = None):
    """Turn transport failures of a call to Jira into Jira errors with a sentence."""
    try:
        yield
    except requests.RequestException as exc:
        raise error_for(exc, unreachable) from None


def json_of(response: requests.Response) -> Any:
    """The parsed JSON body, or ``JiraBadAnswer`` (not JSON, or nested past Python's
    recursion limit: a hostile Jira's ``[[[[...]]]]``)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise JiraBadAnswer() from None


class JiraClient:
    """Jira REST v2 for one user of one instance. Paths are the constants below."""

    SERVER_INFO = "/rest/api/2/serverInfo"
    MYSELF = "/rest/api/2/myself"
    ISSUE = "/rest/api/2/issue/{issue}"
    CREATE_ISSUE = "/rest/api/2/issue"
    SEARCH = "/rest/api/2/search"
    PICKER = "/rest/api/2/issue/picker"
    PROJECTS = "/rest/api/2/project"
    CREATEMETA_ALL = "/rest/api/2/issue/createmeta"
    CREATEMETA_ISSUETYPES = "/rest/api/2/issue/createmeta/{project}/issuetypes"
    CREATEMETA_FIELDS = "/rest/api/2/issue/createmeta/{project}/issuetypes/{issuetype}"
    ATTACHMENTS = "/rest/api/2/issue/{issue}/attachments"
    ATTACHMENT_META = "/rest/api/2/attachment/meta"
    REMOTE_LINKS = "/rest/api/2/issue/{issue}/remotelink"
    ATTACHMENT_CONTENT = "/secure/attachment/{id}/{filename}"
    UPLOAD_MIN_RATE = 256 * 1024  # bytes/s an attachment upload may not fall below

    def __init__(self, base_url: str, auth: requests.auth.AuthBase | None = None, *,
                 timeout: float = 8.0, version: tuple[int, ...] | None = None,
                 session: requests.Session | None = None,
                 on_reconnect: Callable[[JiraNeedsReconnect], None] | None = None):
        """``on_reconnect`` is told when Jira says the user's token is gone, before the
        ``JiraNeedsReconnect`` propagates (``services.jira_as_user`` marks the credential
        there, so no caller can forget to)."""
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.version = version
        self.session = session or session_for(self.base_url)
        self.on_reconnect = on_reconnect
        # Requests made with a user's token (not the consumer-only OAuth 1.0a token calls).
        self._as_user = False
        if isinstance(auth, BearerAuth):
            logs.hide(auth.token)
            self._as_user = True
        elif isinstance(auth, OAuth1) and auth.client.resource_owner_key:
            logs.hide(auth.client.resource_owner_key)
            self._as_user = True

    # -- transport ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, params=None, json=None, data=None,
                files=None, headers=None, stream: bool = False, deadline: float | None = None,
                max_bytes: int | None = None) -> requests.Response:
        """One call to Jira. It ends within ``deadline`` seconds (default: the client's
        timeout, for the whole call) and refuses answers over ``max_bytes``."""
        try:
            return self._send(method, path, params=params, json=json, data=data,
                              files=files, headers=headers, stream=stream, deadline=deadline,
                              max_bytes=max_bytes)
        except JiraNeedsReconnect as exc:
            if self.on_reconnect is not None:
                self.on_reconnect(exc)
            raise

    def _send(self, method: str, path: str, *, params, json, data, files, headers,
              stream: bool, deadline: float | None,
              max_bytes: int | None) -> requests.Response:
        url = self.base_url + path
        with transport_errors():
            response = self.session.request(
                method, url, params=params, json=json, data=data, files=files,
                headers=headers, auth=self.auth, allow_redirects=False, stream=stream,
                timeout=(min(3.0, self.timeout), self.timeout), deadline=deadline,
                max_bytes=max_bytes)
        if 300 <= response.status_code < 400:
            raise JiraMisconfigured(
                "Jira redirected the bridge elsewhere; its base URL is probably registered "
                "wrongly (http instead of https, or a missing context path).",
                problem="redirect", http_status=response.status_code,
                advice=f"Jira answered {response.status_code} for {path}. Register the "
                       "instance with Jira's own Base URL setting.")
        if response.status_code >= 400:
            raise error_from_response(response)
        if (self._as_user and path.startswith("/rest/")
                and response.headers.get("X-AUSERNAME") == "anonymous"):
            raise JiraNeedsReconnect(problem="anonymous")
        return response

    def get_json(self, path: str, **params) -> Any:
        return json_of(self.request("GET", path, params=params or None))

    # -- endpoints (§3) ------------------------------------------------------------------

    def server_info(self) -> dict:
        return self.get_json(self.SERVER_INFO)

    def myself(self) -> dict:
        """The authorized user; 401 here is how a dead OAuth 2.0 token shows (§2.6)."""
        return self.get_json(self.MYSELF)

    def issue(self, issue: str, fields: Iterable[str] | None = None) -> dict:
        params = {"fields": ",".join(fields)} if fields else {}
        return self.get_json(self.ISSUE.format(issue=_path_part(issue)), **params)

    def search(self, jql: str, *, fields: Iterable[str] = ("summary",), max_results: int = 20,
               start_at: int = 0) -> dict:
        return self.get_json(self.SEARCH, jql=jql, fields=",".join(fields),
                             maxResults=max_results, startAt=start_at)

    def issue_picker(self, query: str) -> list[str]:
        """Keys of the issues Jira's own picker suggests for ``query`` (§3.5), history
        first, without duplicates. ``query`` is plain text, not JQL: it is sent as a query
        parameter, so it cannot change any query's meaning."""
        body = self.get_json(self.PICKER, query=query, showSubTasks="true")
        keys: list[str] = []
        for section in (body.get("sections") or []) if isinstance(body, dict) else []:
            for item in section.get("issues") or []:
                key = item.get("key") if isinstance(item, dict) else None
                if isinstance(key, str) and key not in keys:
                    keys.append(key)
        return keys

    def projects(self) -> list:
        return self.get_json(self.PROJECTS)

    def create_issue(self, fields: dict) -> dict:
        return json_of(self.request("POST", self.CREATE_ISSUE, json={"fields": fields}))

    # -- remote issue links (WADL 7.6.1 ``issue/{issueIdOrKey}/remotelink``) -------------------

    def remote_links(self, issue: str) -> list[dict]:
        """Every remote link of the issue (``id``, ``globalId``, ``object``...)."""
        found = self.get_json(self.REMOTE_LINKS.format(issue=_path_part(issue)))
        return found if isinstance(found, list) else []

    def save_remote_link(self, issue: str, link: dict) -> dict:
        """Create the remote link, or update the one with the same ``globalId`` (Jira
        answers 201 for a new link, 200 for an update; ``{"id", "self"}`` either way)."""
        return json_of(self.request("POST", self.REMOTE_LINKS.format(issue=_path_part(issue)),
                                    json=link))

    def delete_remote_link(self, issue: str, global_id: str) -> None:
        """Remove the issue's remote link with ``global_id`` (204; 404 if there is none)."""
        self.request("DELETE", self.REMOTE_LINKS.format(issue=_path_part(issue)),
                     params={"globalId": global_id})

    # -- users and attachments (§3.9) ------------------------------------------------------

    USER_PICKER = "/rest/api/2/user/picker"

    def user_picker(self, query: str, max_results: int = 20) -> list[dict]:
        """Users matching ``query`` (name, display name, email) for a typeahead:
        ``{"users": [{"name","key","displayName","html"}], ...}`` on Server/DC."""
        body = self.get_json(self.USER_PICKER, query=query, maxResults=max_results,
                             showAvatar="false")
        return list(body.get("users") or []) if isinstance(body, dict) else []

    def attachment_meta(self) -> dict:
        """``{"enabled": bool, "uploadLimit": bytes}`` (default limit 10 MB)."""
        return self.get_json(self.ATTACHMENT_META)

    def issue_attachments(self, issue: str) -> list[dict]:
        """The attachments on an issue (``id``, ``filename``, ``size``...)."""
        fields = self.issue(issue, fields=("attachment",)).get("fields") or {}
        return list(fields.get("attachment") or [])

    def upload_attachment(self, issue: str, body) -> list[dict]:
        """POST one streamed ``multipart.MultipartFile`` to the issue (§3.9): the header
        ``X-Atlassian-Token: no-check`` or Jira answers "XSRF check failed"; the answer is
        a JSON array of the created attachments. The call's deadline grows with the file
        (at least ``UPLOAD_MIN_RATE`` bytes a second), so a long upload is fine while a
        stalled one still ends."""
        headers = {"X-Atlassian-Token": "no-check", "Content-Type": body.content_type}
        deadline = self.timeout + 60 + len(body) / self.UPLOAD_MIN_RATE
        response = self.request("POST", self.ATTACHMENTS.format(issue=_path_part(issue)),
                                data=body, headers=headers, deadline=deadline)
        created = json_of(response)
        return created if isinstance(created, list) else [created]

    def attachment_sha256(self, attachment: dict) -> str:
        """sha256 of an issue attachment's bytes as Jira serves them (its ``content``
        URL, §3.9), streamed; the path is built from its id and file name, never taken
        from the answer."""
        path = self.ATTACHMENT_CONTENT.format(id=_path_part(attachment["id"]),
                                              filename=_path_part(attachment["filename"]))
        size = int(attachment.get("size") or 0)
        digest = hashlib.sha256()
        response = self.request("GET", path, stream=True, max_bytes=size + 1,
                                deadline=self.timeout + size / self.UPLOAD_MIN_RATE)
        with response, transport_errors():
            for chunk in response.iter_content(64 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    # -- create metadata (§3.7): per project and paginated from 8.4, the old all-projects
    # form before (it was removed in 9.0) --------------------------------------------------

    PAGED_CREATEMETA_SINCE = (8, 4)

    def _version(self) -> tuple[int, ...]:
        if self.version is None:
            numbers = self.server_info().get("versionNumbers") or [0]
            try:
                self.version = versions.from_numbers(numbers)
            except (TypeError, ValueError):  # [8.5], ["x"]: not what Jira sends
                raise JiraBadAnswer() from None
        return self.version

    def _paged(self, path: str, page_size: int = 50) -> list[dict]:
        values: list[dict] = []
        while True:
            page = self.get_json(path, startAt=len(values), maxResults=page_size)
            batch = page.get("values") or []
            values.extend(batch)
            if page.get("isLast", True) or not batch:
                return values

    def _old_createmeta(self, project: str, issuetype: str | None = None) -> list[dict]:
        params = {"projectKeys" if not project.isdigit() else "projectIds": project,
                  "expand": "projects.issuetypes.fields"}
        if issuetype:
            params["issuetypeIds"] = issuetype
        projects = self.get_json(self.CREATEMETA_ALL, **params).get("projects") or []
        if not projects:
            raise JiraNotFound("Jira has no such project, or you cannot create issues in it.")
        return projects[0].get("issuetypes") or []

    def creatable_projects(self, limit: int = 50) -> list[dict]:
        """Projects where the user may create issues, as ``{"key", "name", "id"}``.

        Before 8.4 the old create metadata lists exactly those in one call (§3.7). From 8.4
        there is no such list (§3.6: ``/project`` shows what one may browse), so the issue
        types of
        each visible project (the first ``limit``, archived ones left out) are asked for
        in parallel, and projects with none are left out.
        """
        if not versions.at_least(self._version(), self.PAGED_CREATEMETA_SINCE):
            found = self.get_json(self.CREATEMETA_ALL).get("projects") or []
        else:
            visible = [p for p in self.projects() if not p.get("archived")][:limit]

            def can_create(project: dict) -> bool:
                path = self.CREATEMETA_ISSUETYPES.format(project=_path_part(project["key"]))
                try:
                    return bool(self.get_json(path, maxResults=1).get("values"))
                except (JiraNotFound, JiraInvalidInput):
                    return False

            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                allowed = list(pool.map(can_create, visible))
            found = [p for p, ok in zip(visible, allowed, strict=True) if ok]
        return [{"key": p["key"], "name": p.get("name", p["key"]), "id": str(p.get("id"))}
                for p in found]

    def issue_types(self, project: str) -> list[dict]:
        """The issue types a user may create in ``project`` (key or id)."""
        if versions.at_least(self._version(), self.PAGED_CREATEMETA_SINCE):
            return self._paged(self.CREATEMETA_ISSUETYPES.format(project=_path_part(project)))
        return [{k: v for k, v in t.items() if k != "fields"}
                for t in self._old_createmeta(project)]

    def create_fields(self, project: str, issuetype: str) -> list[dict]:
        """Field metadata for creating an issue, as a list with ``fieldId`` on each item
        (the old form keys a map by field id; the new one returns an array)."""
        if versions.at_least(self._version(), self.PAGED_CREATEMETA_SINCE):
            return self._paged(self.CREATEMETA_FIELDS.format(
                project=_path_part(project), issuetype=_path_part(issuetype)))
        for found in self._old_createmeta(project, issuetype):
            if str(found.get("id")) == str(issuetype):
                return [{**meta, "fieldId": meta.get("fieldId", field_id)}
                        for field_id, meta in (found.get("fields") or {}).items()]
        raise JiraNotFound("Jira has no such issue type in this project.")


def _path_part(value: str) -> str:
    return quote(str(value), safe="")
