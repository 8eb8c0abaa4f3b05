"""Jira upgraded in place: the stored version read again, and what the upgrade asks.

The bridge stores an instance's version when it is connected (``services.instances``) and
every gate reads it (``jira/versions.py``: OAuth 2.0 from 8.22, signed webhooks from 10.0,
basic authentication off from 11.0). Admins upgrade Jira in place (9.12 → 10.3), so the
stored version goes stale. It is read again from ``serverInfo`` (anonymous,
docs/jira-server.md §3.1) by a periodic job, at most once a day per instance across every
worker of every node (a turn, ``services.turns``), and by ``doctor``. A new version is
stored with an audit event (``jira.version_changed``, the before and after); a Jira that
is down or answers something that is not Jira changes nothing and is read again the next
period.

Nothing here changes how existing users authorize: an application link (OAuth 1.0a) keeps
working after 8.22, so moving to OAuth 2.0 stays the admin's choice. What an upgrade asks
of the admin is said on the admin pages (``notices``), one sentence with the next step,
for as long as it applies.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ..errors import BridgeError
from ..jira import versions
from ..jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from ..models import AuditEvent, JiraInstance, audit
from ..timeutil import utcnow
from . import turns, webhooks
from .context import Context
from .instances import probe

log = logging.getLogger("bridge.jira_upgrades")

PERIOD = dt.timedelta(days=1)  # how often each instance's version is read again
TICK = dt.timedelta(hours=1)  # the scheduler fires the job hourly (bridge.tasks)
CHANGED = "jira.version_changed"


@dataclass(frozen=True)
class Change:
    before: str
    after: str


def record(instance: JiraInstance, version: str, numbers: tuple[int, ...], *,
           actor: str = "") -> Change | None:
    """Store what ``serverInfo`` said (``version`` text, ``versionNumbers``); the change,
    or ``None`` when the stored version was right. Two readers at once (the job and
    ``doctor``) store and audit a change once: the update is conditional on the old
    value."""
    # The text is what the gates read back (versions.parse): keep it only if it starts
    # with the numbers Jira gave, else store the numbers themselves.
    text = str(version or "")[:32]
    if versions.parse(text) is None or not _same(versions.parse(text), numbers):
        text = ".".join(map(str, numbers))
    before, now = instance.version or "", utcnow()
    if _same(versions.parse(before), numbers):
        (JiraInstance.update(version_checked_at=now)
         .where(JiraInstance.id == instance.id).execute())
        instance.version_checked_at = now
        return None
    taken = (JiraInstance.update(version=text, version_checked_at=now)
             .where((JiraInstance.id == instance.id) & (JiraInstance.version == instance.version))
             .execute())
    instance.version, instance.version_checked_at = text, now
    if not taken:
        return None  # another reader stored it a moment ago
    audit(CHANGED, actor=actor, target=instance.base_url, instance=instance.id,
          before=before, after=text)
    log.info("jira.version_changed instance=%s before=%s after=%s", instance.id, before, text)
    return Change(before, text)


def _same(a: tuple[int, ...] | None, b: tuple[int, ...]) -> bool:
    if a is None:
        return False
    width = max(len(a), len(b))
    return tuple(a) + (0,) * (width - len(a)) == tuple(b) + (0,) * (width - len(b))


def read_again(instance: JiraInstance, *, timeout: float = 8.0) -> Change | None:
    """Ask Jira its version now and store it; ``None`` when unchanged. ``BridgeError``
    (unreachable, not Jira, a Cloud site) when Jira did not say: nothing is stored."""
    found = probe(instance.base_url, timeout=timeout)
    return record(instance, found.version, found.version_numbers)


def check_instance(ctx: Context, instance: JiraInstance, *, now: dt.datetime | None = None,
                   holder: str | None = None) -> bool | None:
    """Read the instance's version if it is this worker's turn: ``None`` when not (read
    within the day, or another worker has it), else whether Jira answered."""
    name, holder = f"jira.version/{instance.id}", holder or turns.holder_id()
    started = now or utcnow()
    if not turns.claim(name, holder, now=started):
        return None
    answered = True
    try:
        read_again(instance, timeout=ctx.settings.http_timeout)
    except BridgeError as exc:  # down, or not Jira: keep what is stored, read next period
        answered = False
        log.warning("jira.version_unread instance=%s error=%s", instance.id,
                    getattr(exc, "code", type(exc).__name__))
    except BaseException:
        turns.give_up(name, holder)
        raise
    turns.finish(name, holder, started=started, period=PERIOD, tick=TICK)
    return answered


def check_all(ctx: Context, *, now: dt.datetime | None = None,
              holder: str | None = None) -> int:
    """The scheduled job (hourly in every worker): each instance whose daily turn this
    worker takes is read again; returns how many were read."""
    return sum(1 for instance in JiraInstance.select().order_by(JiraInstance.id)
               if check_instance(ctx, instance, now=now, holder=holder) is not None)


# -- what an upgrade asks of the admin ------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    sentence: str
    step: str  # "webhook" (its page) or "setup" (the OAuth 2.0 set-up page)
    step_text: str


def _crossings(instance: JiraInstance) -> list[tuple[str, str]]:
    rows = (AuditEvent.select(AuditEvent.detail)
            .where(AuditEvent.action == CHANGED, AuditEvent.target == instance.base_url)
            .order_by(AuditEvent.id))
    return [(str(r.detail.get("before", "")), str(r.detail.get("after", ""))) for r in rows
            if isinstance(r.detail, dict) and r.detail.get("instance") == instance.id]


def _crossed(changes: list[tuple[str, str]], floor: tuple[int, ...]) -> bool:
    return any(not versions.at_least(before, floor) and versions.at_least(after, floor)
               for before, after in changes)


def notices(instance: JiraInstance, registration=None) -> list[Notice]:
    """The admin's next steps after upgrades the bridge noticed, while they still apply.
    ``registration``: the webhook as ``services.connections`` read it."""
    changes = _crossings(instance)
    if not changes:
        return []
    out = []
    if (_crossed(changes, webhooks.SIGNING_FROM) and webhooks.supports_signing(instance)
            and registration is not None and not registration.by_hand
            and not instance.webhook_signed):
        out.append(Notice(
            f"Jira was upgraded to {instance.version}, which signs webhook deliveries, but "
            "the webhook the bridge registered before has no secret, so its deliveries stay "
            "unsigned until it is registered again.", "webhook", "Register the webhook again"))
    if (_crossed(changes, OAUTH2_FIRST_VERSION) and instance.auth_mode == "oauth1"
            and versions.at_least(instance.version, OAUTH2_FIRST_VERSION)):
        out.append(Notice(
            f"Jira was upgraded to {instance.version}, which has OAuth 2.0 incoming links; "
            "the application link (OAuth 1.0a) keeps working, so nothing is needed, and to "
            "move to OAuth 2.0 (recommended) set up an incoming link, after which each user "
            "authorizes once more.", "setup", "Set up OAuth 2.0"))
    return out
