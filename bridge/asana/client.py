"""Asana REST calls the bridge makes (asana-app-components.md §8), with a user's token."""

from __future__ import annotations

import requests

from .. import logs
from .errors import AsanaUnavailable, error_from_response


class AsanaClient:
    API = "/api/1.0"
    ME = "/users/me"
    WORKSPACES = "/workspaces"

    def __init__(self, base_url: str, access_token: str, *, timeout: float = 8.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {access_token}",
                         "Accept": "application/json"}
        logs.hide(access_token)

    def get(self, path: str, **params):
        try:
            response = requests.get(self.base_url + self.API + path, params=params or None,
                                    headers=self._headers, timeout=self.timeout,
                                    allow_redirects=False)
        except requests.RequestException:
            raise AsanaUnavailable() from None
        if response.status_code != 200:
            raise error_from_response(response)
        return response.json()["data"]

    def me(self) -> dict:
        """gid, name, email and the workspaces the user belongs to."""
        return self.get(self.ME, opt_fields="gid,name,email,workspaces,workspaces.name")
