"""The webhook's JQL filter follows the projects with linked issues.

The bridge registers its webhook with a filter naming the projects whose issues are linked
(``services.webhooks.jql_for``). When an issue of a project the filter leaves out is linked,
``on_linked`` marks the filter behind (one conditional UPDATE: of 100 links made at once in
a new project one flips it) and queues one update; the worker (``follow``) PUTs the whole
registration, with the filter of every linked project at that moment, to the webhook's
``self`` URL in Jira (``services.webhooks.update_filter``; a registration from before
the bridge kept that URL is found in Jira's list by its URL). Never inside the user's
request.

Whose authorization: the one the registration used, when the bridge keeps it. That is the
admin's own OAuth 1.0a token (application links: the admin's user authorization, kept
like every user's). A one-time ADMIN consent (incoming links, 8.22+) is revoked after its
one registration, and a password is never stored; so there the bridge keeps nothing that may
manage webhooks, and invents nothing: the filter stays behind, the webhook page says so
with its one-click update (the same consent, or the admin's own token), and widgets of the
new project refresh after ``BRIDGE_WIDGET_MAX_AGE`` until then.
"""

from __future__ import annotations

import datetime as dt
import logging

from .. import queue
from ..errors import BridgeError
from ..jira.errors import JiraError, JiraRateLimited, JiraUnavailable
from ..jira.signing import oauth1_auth
from ..models import IssueLink, JiraInstance, JiraWebhook, audit
from ..timeutil import utcnow
from . import credentials, jira_as_user, webhooks
from .context import Context

log = logging.getLogger("bridge.webhooks")

TASK = "webhooks.filter"
HOLD = dt.timedelta(minutes=2)  # one worker updates an instance's filter at a time
RETRY_AFTER = dt.timedelta(minutes=1)  # after Jira was unavailable
SWEEP_AFTER = dt.timedelta(minutes=2)  # a behind filter whose message was lost


class NoKeptAuthorization(BridgeError):
    status = 409
    code = "webhook_needs_admin"


def kept_authorization(row: JiraWebhook, instance: JiraInstance):
    """``(auth, Jira user)`` the filter may be updated with in the background, or
    ``NoKeptAuthorization`` with the sentence the webhook page shows."""
    if row.via != "oauth1" or row.registered_by is None:
        how = ("a one-time admin consent, whose token the bridge revoked after that one "
               "request" if row.via == "consent"
               else "a Jira administrator's password, which the bridge never stores")
        raise NoKeptAuthorization(f"The webhook was registered with {how}, so the bridge "
                                  "cannot update its filter by itself: update it below.")
    try:
        cred = credentials.get_active(row.registered_by, instance)
    except JiraError:
        raise NoKeptAuthorization("The Jira authorization the webhook was registered with "
                                  "is no longer valid: update the filter below.") from None
    return (oauth1_auth(instance.consumer_key, instance.private_key, token=cred.token),
            cred.jira_username)


def on_linked(link: IssueLink) -> bool:
    """After a link is made (``services.links``): when its project is one the registered
    filter leaves out, mark the filter behind and queue its update, once however many
    links arrive until it is done. Returns whether this link marked it."""
    row = JiraWebhook.get_or_none(JiraWebhook.instance == link.instance_id)
    if row is None or row.registered_at is None or row.behind_since is not None:
        return False
    covered = webhooks.covered_by(row.jql)
    if covered is None or link.issue_key.rpartition("-")[0].upper() in covered:
        return False
    flipped = (JiraWebhook.update(behind_since=utcnow())
               .where((JiraWebhook.id == row.id) & JiraWebhook.behind_since.is_null())
               .execute())
    if flipped and row.via == "oauth1":
        queue.enqueue(TASK, link.instance_id)
    return bool(flipped)


def follow(ctx: Context, instance_id: int) -> str:
    """Queue handler: bring the registered filter up to date in Jira, by one worker at a
    time. Returns ``updated``, ``current`` (nothing behind, or another worker has it),
    ``needs_admin`` (no kept authorization: the page shows it), ``later`` (Jira
    unavailable: the sweep sends it again) or ``failed``."""
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    if instance is None:
        return "current"
    now = utcnow()
    claimed = (JiraWebhook.update(updating_until=now + HOLD)
               .where((JiraWebhook.instance == instance_id)
                      & JiraWebhook.behind_since.is_null(False)
                      & (JiraWebhook.updating_until.is_null()
                         | (JiraWebhook.updating_until < now)))
               .execute())
    if not claimed:
        return "current"
    row = JiraWebhook.get(JiraWebhook.instance == instance_id)
    try:
        auth, jira_admin = kept_authorization(row, instance)
        webhooks.update_filter(instance, jira_as_user.public_url(ctx.settings), jira_admin,
                               auth, timeout=ctx.settings.http_timeout)
    except NoKeptAuthorization as exc:
        return _stuck(row, exc.public_message, "needs_admin")
    except (JiraUnavailable, JiraRateLimited):
        (JiraWebhook.update(updating_until=utcnow() + RETRY_AFTER)
         .where(JiraWebhook.id == row.id).execute())
        return "later"
    except JiraError as exc:
        audit("jira.webhook_filter_updated", target=instance.base_url, outcome="failed",
              instance=instance.id, error=exc.code)
        return _stuck(row, exc.public_message, "failed")
    if JiraWebhook.get(JiraWebhook.id == row.id).behind_since is not None:
        queue.enqueue(TASK, instance_id)  # a project linked while Jira was asked: again
    return "updated"


def _stuck(row: JiraWebhook, problem: str, outcome: str) -> str:
    """The filter stays behind for an admin to update: the page shows ``problem``."""
    (JiraWebhook.update(problem=problem, updating_until=None)
     .where(JiraWebhook.id == row.id).execute())
    log.info("webhook.filter_behind instance=%s outcome=%s", row.instance_id, outcome)
    return outcome


def sweep(now: dt.datetime | None = None) -> int:
    """Send again the updates whose message or worker was lost (behind for a while, no
    problem recorded, nobody holding it)."""
    now = now or utcnow()
    rows = (JiraWebhook.select(JiraWebhook.instance)
            .where(JiraWebhook.behind_since.is_null(False)
                   & (JiraWebhook.behind_since < now - SWEEP_AFTER)
                   & JiraWebhook.problem.is_null() & (JiraWebhook.via == "oauth1")
                   & (JiraWebhook.updating_until.is_null()
                      | (JiraWebhook.updating_until < now)))
            .limit(50).tuples())
    sent = 0
    for (instance_id,) in rows:
        queue.enqueue(TASK, instance_id)
        sent += 1
    return sent
