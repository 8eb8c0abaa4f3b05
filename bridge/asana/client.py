"""Asana REST calls the bridge makes (asana-app-components.md §8), with a user's token.

Every call goes through one pooled ``outbound.GuardedSession`` (``http()``): a total
deadline, a cap on the answer's size, the address connected to checked, and nothing read
from the environment (no proxy, no ``.netrc`` credentials sent along). ``call`` maps its
failures to the Asana error hierarchy in one place.
"""

from __future__ import annotations

import contextlib
import threading
from urllib.parse import urlsplit

import requests

from .. import logs, netaddr, outbound
from .errors import (
    AsanaDownloadExpired,
    AsanaDownloadRefused,
    AsanaError,
    AsanaUnavailable,
    error_from_response,
)

_session: outbound.GuardedSession | None = None
_downloads: outbound.GuardedSession | None = None
_session_lock = threading.Lock()
# An attachment larger than this is never downloaded, whatever Jira would take.
MAX_DOWNLOAD_BYTES = 2 * 1024**3


def http() -> outbound.GuardedSession:
    """The bridge's one pooled session to Asana (created on first use, per process)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = outbound.GuardedSession(purpose="asana")
        return _session


@contextlib.contextmanager
def call(unavailable: str | None = None):
    """Turn transport failures into Asana errors with a sentence for the user."""
    try:
        yield
    except outbound.ResponseTooLarge:
        raise AsanaError("Asana's answer was larger than the bridge accepts.") from None
    except requests.Timeout:
        raise AsanaUnavailable("Asana did not answer in time. Try again later.") from None
    except requests.RequestException:
        raise AsanaUnavailable(unavailable) from None


def json_body(response: requests.Response):
    """The parsed body, or an Asana error when it is not JSON (or absurdly nested)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise AsanaError("Asana's answer was not understood.") from None


class AsanaClient:
    API = "/api/1.0"
    ME = "/users/me"
    WORKSPACES = "/workspaces"
    TASK = "/tasks/{task}"
    ATTACHMENTS = "/attachments"
    ATTACHMENT = "/attachments/{attachment}"
    ATTACHMENT_FIELDS = ("name,resource_subtype,host,size,download_url,view_url,created_at,"
                         "connected_to_app")

    def __init__(self, base_url: str, access_token: str, *, timeout: float = 8.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {access_token}",
                         "Accept": "application/json"}
        logs.hide(access_token)

    def _get(self, path: str, params: dict) -> dict:
        with call():
            response = http().get(self.base_url + self.API + path, params=params or None,
                                  headers=self._headers, timeout=self.timeout,
                                  allow_redirects=False)
        if response.status_code != 200:
            raise error_from_response(response)
        body = json_body(response)
        if not isinstance(body, dict):
            raise AsanaError("Asana's answer was not understood.")
        return body

    def get(self, path: str, **params):
        body = self._get(path, params)
        if "data" not in body:
            raise AsanaError("Asana's answer was not understood.")
        return body["data"]

    def _send(self, method: str, path: str, data: dict) -> dict:
        """A JSON write (``{"data": ...}`` in, ``{"data": ...}`` out, §8)."""
        with call():
            response = http().request(method, self.base_url + self.API + path,
                                      json={"data": data}, headers=self._headers,
                                      timeout=self.timeout, allow_redirects=False)
        if response.status_code not in (200, 201):
            raise error_from_response(response)
        body = json_body(response)
        if not isinstance(body, dict) or "data" not in body:
            raise AsanaError("Asana's answer was not understood.")
        return body["data"]

    def me(self) -> dict:
        """gid, name, email and the workspaces the user belongs to."""
        return self.get(self.ME, opt_fields="gid,name,email,workspaces,workspaces.name")

    def get_page(self, path: str, **params) -> tuple[list, str | None]:
        """One page of a list endpoint and the ``offset`` of the next, if any (§8)."""
        body = self._get(path, params)
        next_page = body.get("next_page") or {}
        return body.get("data") or [], next_page.get("offset")

    def task(self, gid: str, fields: str = "name,notes,html_notes,permalink_url") -> dict:
        return self.get(self.TASK.format(task=_part(gid)), opt_fields=fields)

    def attachments(self, task_gid: str, *, limit: int = 100) -> list[dict]:
        """Every attachment of a task (paginated: never trust one page, §8)."""
        items: list[dict] = []
        offset = None
        while True:
            params = {"parent": task_gid, "limit": limit, "opt_fields": self.ATTACHMENT_FIELDS}
            if offset:
                params["offset"] = offset
            page, offset = self.get_page(self.ATTACHMENTS, **params)
            items.extend(page)
            if not offset or len(items) >= 1000:
                return items

    def attachment(self, gid: str) -> dict:
        """One attachment with a fresh ``download_url`` (valid about two minutes, §8)."""
        return self.get(self.ATTACHMENT.format(attachment=_part(gid)),
                        opt_fields=self.ATTACHMENT_FIELDS)


class AsanaFieldsClient(AsanaClient):
    """Custom fields, project memberships and task updates (REST OAS: custom fields, custom
    field settings, memberships, ``PUT /tasks/{task_gid}``) for ``services.sync``."""

    CUSTOM_FIELDS = "/custom_fields"
    CUSTOM_FIELD = "/custom_fields/{field}"
    ENUM_OPTIONS = "/custom_fields/{field}/enum_options"
    FIELD_SETTINGS = "/projects/{project}/custom_field_settings"
    ADD_FIELD = "/projects/{project}/addCustomFieldSetting"
    PROJECTS = "/projects"
    PROJECT = "/projects/{project}"
    MEMBERSHIPS = "/memberships"
    FIELD_FIELDS = "name,resource_subtype,enum_options,enum_options.name,enum_options.enabled"

    def _all(self, path: str, **params) -> list[dict]:
        items: list[dict] = []
        offset = None
        while True:
            if offset:
                params["offset"] = offset
            page, offset = self.get_page(path, limit=100, **params)
            items.extend(page)
            if not offset or len(items) >= 5000:
                return items

    def projects(self, workspace: str) -> list[dict]:
        return self._all(self.PROJECTS, workspace=workspace, opt_fields="name")

    def project(self, gid: str) -> dict:
        return self.get(self.PROJECT.format(project=_part(gid)), opt_fields="name,workspace")

    def access_level(self, project: str, user: str) -> str | None:
        """The user's ``access_level`` on the project (``admin``, ``editor``, ...)."""
        found = self._all(self.MEMBERSHIPS, parent=project, member=user,
                          opt_fields="access_level,member")
        levels = [m.get("access_level") for m in found
                  if (m.get("member") or {}).get("gid") == str(user)]
        return levels[0] if levels else None

    def project_fields(self, project: str) -> list[dict]:
        """The custom fields on the project (``custom_field`` of each setting)."""
        settings = self._all(self.FIELD_SETTINGS.format(project=_part(project)),
                             opt_fields=",".join("custom_field." + f for f in
                                                 self.FIELD_FIELDS.split(",")))
        return [s["custom_field"] for s in settings if isinstance(s.get("custom_field"), dict)]

    def create_enum_field(self, workspace: str, name: str, options: list[str]) -> dict:
        return self._send("POST", self.CUSTOM_FIELDS, {
            "workspace": workspace, "name": name, "resource_subtype": "enum",
            "enum_options": [{"name": o} for o in options]})

    def field(self, gid: str) -> dict:
        return self.get(self.CUSTOM_FIELD.format(field=_part(gid)), opt_fields=self.FIELD_FIELDS)

    def add_enum_option(self, field: str, name: str) -> dict:
        return self._send("POST", self.ENUM_OPTIONS.format(field=_part(field)), {"name": name})

    def add_field_to_project(self, project: str, field: str) -> dict:
        return self._send("POST", self.ADD_FIELD.format(project=_part(project)),
                          {"custom_field": field, "is_important": True})

    def update_task(self, task: str, data: dict) -> dict:
        """``PUT /tasks/{gid}``: only what ``data`` names changes (one write)."""
        return self._send("PUT", self.TASK.format(task=_part(task)) + "?opt_fields=gid", data)


def _download_session() -> outbound.GuardedSession:
    """Downloads from anywhere but Asana's own origin: public addresses only."""
    global _downloads
    with _session_lock:
        if _downloads is None:
            _downloads = outbound.GuardedSession(
                address_check=netaddr.public_address_problem)
        return _downloads


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return ("", "", None)
    return parts.scheme.lower(), (parts.hostname or "").lower().rstrip("."), port


def open_download(url: str, *, timeout: float = 30.0, max_bytes: int | None = None,
                  deadline: float = 3600.0, asana_base_url: str | None = None
                  ) -> requests.Response:
    """Start streaming an attachment from its pre-signed ``download_url``.

    No Asana credentials go to that URL: it is a storage URL (S3) signed on its own
    (asana-app-components.md §8). The caller reads ``iter_content`` and closes it. The
    stream ends with ``outbound.ResponseTooLarge`` past ``max_bytes`` (Jira's upload
    limit, which the caller knows) and ``DeadlineExceeded`` past ``deadline`` seconds.

    The URL comes from Asana's answer, so it is held to the rule for third-party URLs:
    public addresses only, redirects included (``AsanaDownloadRefused``). Only the origin
    of the configured ``asana_base_url`` (a simulator on loopback in tests and the demo)
    keeps the rule of configured hosts, without following redirects away from it.
    """
    own = asana_base_url is not None and _origin(url) == _origin(asana_base_url)
    session = http() if own else _download_session()
    with call("The file could not be downloaded from Asana."):
        try:
            response = session.get(url, stream=True, timeout=(min(5.0, timeout), timeout),
                                   headers={"Accept-Encoding": "identity"},
                                   deadline=deadline, allow_redirects=not own,
                                   max_bytes=max_bytes or MAX_DOWNLOAD_BYTES)
        except outbound.ForbiddenAddress:
            raise AsanaDownloadRefused() from None
    if response.status_code != 200:
        response.close()
        if response.status_code in (401, 403):
            # an expired pre-signed URL: a fresh one is fetched on the next attempt
            raise AsanaDownloadExpired()
        raise AsanaUnavailable("The file could not be downloaded from Asana.",
                               http_status=response.status_code)
    return response


def _part(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")
