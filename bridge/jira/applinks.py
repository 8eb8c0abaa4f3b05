"""Creating an application link and its incoming OAuth consumer through Jira's REST API.

Reference: jira-server.md §5.5 (``PUT /rest/applinks/3.0/applicationlink`` creates a
generic link; ``PUT /rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer``
gives it the incoming OAuth 1.0a consumer: our consumer key and RSA public key).

A Jira administrator's username and password authorize these two calls only (HTTP Basic on
a session of their own, never the pooled per-instance session); they are never stored or
logged. Redirects are not followed, so the password never travels to another host.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from .. import logs
from .client import error_for, fresh_session
from .errors import JiraError
from .signing import basic_auth

LINK_PATH = "/rest/applinks/3.0/applicationlink"
CONSUMER_PATH = "/rest/applinks-oauth/1.0/applicationlink/{link_id}/authentication/consumer"


class AdminCredentialsRefused(JiraError):
    status = 403
    code = "jira_admin_refused"
    public_message = ("Jira refused those credentials for creating an application link. Use "
                      "a Jira administrator's username and password.")


@dataclass(frozen=True)
class LinkValues:
    """What Jira's Application Link ▸ Incoming Authentication holds (§1.1)."""

    application_url: str
    consumer_key: str
    consumer_name: str
    public_key: str
    callback_url: str


def create_applink(base_url: str, values: LinkValues, username: str, password: str, *,
                   timeout: float = 8.0) -> str:
    """Create the link and its incoming consumer; return the application link id."""
    logs.hide(password)
    session = fresh_session()
    session.auth = basic_auth(username, password)
    try:
        link = session.put(base_url + LINK_PATH, json={
            "name": f"Asana bridge ({values.consumer_key})", "rpcUrl": values.application_url,
            "displayUrl": values.application_url, "typeId": "generic",
        }, timeout=timeout, allow_redirects=False)
        if link.status_code in (401, 403):
            raise AdminCredentialsRefused(http_status=link.status_code)
        if link.status_code not in (200, 201):
            raise JiraError(f"Jira did not create the application link "
                            f"(HTTP {link.status_code}).", http_status=link.status_code)
        href = link.json()["resources-created"][0]["href"]
        link_id = href.rstrip("/").rsplit("/", 1)[-1]
        consumer = session.put(
            base_url + CONSUMER_PATH.format(link_id=link_id),
            json={"key": values.consumer_key, "name": values.consumer_name,
                  "description": "Asana ⇄ Jira bridge", "publicKey": values.public_key,
                  "callback": values.callback_url, "outgoing": False,
                  "twoLOAllowed": False, "executingTwoLOUser": None,
                  "twoLOImpersonationAllowed": False},
            timeout=timeout, allow_redirects=False)
        if consumer.status_code in (401, 403):
            raise AdminCredentialsRefused(http_status=consumer.status_code)
        if consumer.status_code not in (200, 201, 204):
            raise JiraError(f"Jira created the link but refused the OAuth consumer "
                            f"(HTTP {consumer.status_code}).",
                            http_status=consumer.status_code)
    except requests.RequestException as exc:
        raise error_for(exc) from None
    except (KeyError, IndexError, ValueError, TypeError, RecursionError):
        raise JiraError("Jira's answer to the application link request was not understood.") \
            from None
    finally:
        session.close()
    return link_id
