"""Issue links: the one place a Jira issue is tied to an Asana task, and the per-task limit.

Every link is made by ``link`` and removed by ``unlink`` (the lookup's attach, the create
form, rule runs, the forgetting below), so whatever must follow a link's life (remote
links back to Asana, say) hooks in here once.

The limit (``BRIDGE_MAX_ISSUES_PER_TASK``) is a database fact, not a count read before a
write: a would-be link first *claims* a slot, a ``LinkSlot`` row (task, number) under a
unique index, so two workers or two nodes can never both hold slot 0 of a task (SQLite and
PostgreSQL alike). Making an issue in Jira takes seconds, so the order is claim, create,
bind (``link(slot=...)``); a failure before the bind gives the slot back (``reserved``), and
a claim whose process died (no link after ``CLAIM_TTL``) is taken over. A claim made under
an ``owner`` (a rule run or a form submit, whose retries resume after Jira made the issue)
stays held while that issue waits for its link, and the retry takes it back: a retry
claims like a first attempt, so it never links beyond the limit.

A link stops counting once its attachment is gone from the Asana task (the user removed
it): when a task is full, ``forget_removed`` compares its links with the task's
attachments and drops those no longer there. Asana attaches a resource *after* the bridge
answers, so a link younger than ``FRESH`` whose attachment the bridge has never seen still
counts; once seen (by gid or by its issue URL, or named by a widget request, which Asana
sends as soon as it shows the attachment), its attachment gid is remembered, and removing
the attachment frees the slot at once for every path (lookup, form, rule run). Only an
attachment removed before Asana ever showed it still counts until ``FRESH`` has passed:
the bridge cannot tell it from one not attached yet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import peewee as pw

from ..db import database
from ..errors import BridgeError
from ..jira import issue_refs
from ..models import AsanaUser, IssueLink, JiraInstance, LinkSlot, audit
from ..timeutil import utcnow
from . import remote_links, webhook_filter

log = logging.getLogger("bridge.links")

CLAIM_TTL = dt.timedelta(minutes=5)  # a claim without a link this old: its process died
FRESH = dt.timedelta(minutes=2)  # Asana attaches a resource after the bridge answers


class TaskFull(BridgeError):
    """The task has as many linked issues as the bridge allows."""

    status = 400
    code = "too_many_issues"

    def __init__(self, limit: int, unlinked: str | None = None):
        self.limit = limit
        self.limit_words = _issues(limit)
        self.unlinked = unlinked  # the key of an issue made in Jira that stays unlinked
        super().__init__(f"This task already has {self.limit_words} linked, the most this "
                         "bridge allows. Remove a linked issue from the task first.")


def _issues(limit: int) -> str:
    return "one Jira issue" if limit == 1 else f"{limit} Jira issues"


def full_heading(limit: int) -> str:
    """A form's one-line notice (≤ 50 characters, asana-app-components.md §6.2)."""
    return "This task already has its Jira issue." if limit == 1 else \
        f"This task already has {limit} Jira issues."


@dataclass
class Slot:
    """A claimed place for one link of ``task_gid``."""

    id: int
    token: str
    task_gid: str
    bound: bool = False


# -- counting -------------------------------------------------------------------------------

def of_task(task_gid: str) -> list[IssueLink]:
    return list(IssueLink.select().where(IssueLink.task_gid == str(task_gid))
                .order_by(IssueLink.id))


def count(task_gid: str | None) -> int:
    """How many issues are linked to the task (removed attachments forgotten by
    ``forget_removed``, which callers run when the count matters)."""
    if not task_gid:
        return 0
    return IssueLink.select().where(IssueLink.task_gid == str(task_gid)).count()


def has_room(task_gid: str, limit: int, attached: Callable[[], list[dict]] | None = None,
             *, actor: str = "") -> bool:
    """Whether one more link fits: below the limit, or below it once links whose
    attachment is gone from the task are forgotten (``attached`` reads the task's
    attachments; asked only when the task is at the limit)."""
    if count(task_gid) < limit:
        return True
    if attached is None:
        return False
    forget_removed(task_gid, attached(), actor=actor)
    return count(task_gid) < limit


def forget_removed(task_gid: str, attached: list[dict], *, actor: str = "") -> int:
    """Unlink the task's links whose Asana attachment is no longer on the task; return
    how many. ``attached`` is the task's attachment list as Asana gives it."""
    by_gid = {str(a.get("gid")): a for a in attached if a.get("gid")}
    by_url = {a.get("view_url"): str(a.get("gid")) for a in attached if a.get("view_url")}
    now = utcnow()
    dropped = 0
    for link in (IssueLink.select(IssueLink, JiraInstance).join(JiraInstance)
                 .where(IssueLink.task_gid == str(task_gid))):
        if link.attachment_gid and link.attachment_gid in by_gid:
            continue
        seen = by_url.get(issue_refs.browse_url(link.instance.base_url, link.issue_key))
        if seen:
            if link.attachment_gid != seen:  # remember it: a later removal is then certain
                (IssueLink.update(attachment_gid=seen).where(IssueLink.id == link.id)
                 .execute())
            continue
        if not link.attachment_gid and link.created_at and link.created_at > now - FRESH:
            continue  # Asana may not have attached it yet
        unlink(link, actor=actor, reason="attachment_removed")
        dropped += 1
    return dropped


# -- the limit ------------------------------------------------------------------------------

def _try_claim(task_gid: str, limit: int, owner: str | None = None) -> Slot | None:
    if count(task_gid) >= limit:  # links older than the slots, or made around them
        return None
    now = utcnow()
    for number in range(limit):
        token = owner or secrets.token_hex(16)
        try:
            with database.atomic():  # a savepoint: the loser's error must not end a caller's
                row = LinkSlot.create(task_gid=task_gid, slot=number, token=token,
                                      claimed_at=now)
            return Slot(row.id, token, task_gid)
        except pw.IntegrityError:
            pass
        held = LinkSlot.get_or_none((LinkSlot.task_gid == task_gid) & (LinkSlot.slot == number))
        if held is None or held.link_id is not None:
            continue
        mine = owner is not None and held.token == owner  # a retry finds its own claim
        if not mine and held.claimed_at > now - CLAIM_TTL:
            continue
        taken = (LinkSlot.update(token=token, claimed_at=now)
                 .where((LinkSlot.id == held.id) & (LinkSlot.token == held.token)
                        & LinkSlot.link.is_null()).execute())
        if taken:
            if not mine:
                log.warning("links.claim_taken_over task=%s slot=%s", task_gid, number)
            return Slot(held.id, token, task_gid)
    return None


def claim(task_gid: str, limit: int, attached: Callable[[], list[dict]] | None = None, *,
          actor: str = "", owner: str | None = None) -> Slot:
    """A slot for one more link of the task, or ``TaskFull``. When the task is full and
    ``attached`` is given, links whose attachment is gone are forgotten first.

    ``owner``: a name that stays the same across retries of one piece of work (a rule
    run's row): a claim it left behind (its process failed or died after Jira made the
    issue) is its own again, however recent, so the retry links the issue it made."""
    task_gid = str(task_gid)
    slot = _try_claim(task_gid, limit, owner)
    if slot is None and attached is not None:
        if forget_removed(task_gid, attached(), actor=actor):
            slot = _try_claim(task_gid, limit, owner)
    if slot is None:
        raise TaskFull(limit)
    return slot


def release(slot: Slot | None) -> None:
    """Give back a slot that no link took (the Jira issue was not made)."""
    if slot is None or slot.bound:
        return
    (LinkSlot.delete().where((LinkSlot.id == slot.id) & (LinkSlot.token == slot.token)
                             & LinkSlot.link.is_null()).execute())


@contextlib.contextmanager
def reserved(task_gid: str, limit: int, attached: Callable[[], list[dict]] | None = None, *,
             actor: str = "") -> Iterator[Slot]:
    """``claim`` for the block; the slot is given back unless ``link`` bound it."""
    slot = claim(task_gid, limit, attached, actor=actor)
    try:
        yield slot
    finally:
        release(slot)


# -- the link's life ----------------------------------------------------------------------------

def find(task_gid: str, instance: JiraInstance, issue_id: str) -> IssueLink | None:
    return IssueLink.get_or_none((IssueLink.task_gid == str(task_gid))
                                 & (IssueLink.instance == instance)
                                 & (IssueLink.issue_id == str(issue_id)))


def link(*, task_gid: str, instance: JiraInstance, issue_id: str, issue_key: str,
         user: AsanaUser | None, attachment_gid: str | None = None,
         slot: Slot | None = None) -> tuple[IssueLink, bool]:
    """Tie the issue to the task (once per task and issue) and bind ``slot`` to it.

    Returns ``(link, made)``: ``made`` is False when the link existed (a second attach
    of the same issue, or a concurrent one), whose attachment gid is then updated."""
    task_gid, issue_id = str(task_gid), str(issue_id)
    existing = find(task_gid, instance, issue_id)
    if existing is None:
        try:
            with database.atomic():
                made = IssueLink.create(task_gid=task_gid, attachment_gid=attachment_gid,
                                        instance=instance, issue_id=issue_id,
                                        issue_key=issue_key, linked_by=user,
                                        created_at=utcnow())
                if slot is not None:
                    _bind(slot, made)
        except pw.IntegrityError:
            existing = find(task_gid, instance, issue_id)
            if existing is None:
                raise
        else:
            audit("link.made", actor=user.gid if user else "", target=issue_key,
                  task=task_gid, instance=instance.base_url)
            remote_links.on_linked(made)  # the issue links back to the task (queued)
            webhook_filter.on_linked(made)  # a new project: the webhook's filter follows
            return made, True
    if attachment_gid and existing.attachment_gid != attachment_gid:
        existing.attachment_gid = attachment_gid  # attached again: Asana made a new one
        existing.save()
    remote_links.on_linked(existing)  # a repeat: the same remote link, brought up to date
    return existing, False


def _bind(slot: Slot, made: IssueLink) -> None:
    bound = (LinkSlot.update(link=made.id)
             .where((LinkSlot.id == slot.id) & (LinkSlot.token == slot.token)
                    & LinkSlot.link.is_null()).execute())
    if bound:
        slot.bound = True
    else:  # held so long that the claim was taken over: the issue exists, keep its link
        log.warning("links.slot_lost task=%s link=%s", slot.task_gid, made.id)


def saw_attachment(link_id: int, attachment_gid: str) -> None:
    """Asana named the link's attachment (a widget request carries its gid): remember it,
    so its removal is certain at once, even while the link is younger than ``FRESH``."""
    (IssueLink.update(attachment_gid=str(attachment_gid)).where(IssueLink.id == link_id)
     .execute())


def unlink(link: IssueLink, *, actor: str = "", reason: str = "") -> None:
    """Remove the link; its slot and planned copies go with it, and its remote link in
    Jira (queued)."""
    remote_links.on_unlinked(link)
    with database.atomic():
        LinkSlot.delete().where(LinkSlot.link == link.id).execute()  # (recursive would
        link.delete_instance(recursive=True)  # only empty a nullable reference)
    audit("link.removed", actor=actor, target=link.issue_key, task=link.task_gid,
          outcome=reason or "ok")


# -- the task's Jira link attachments ---------------------------------------------------------

def is_issue_attachment(attachment: dict, base_urls: Iterable[str]) -> bool:
    """Whether an Asana attachment is a Jira issue link (the app's resource, or an issue
    URL of one of ``base_urls``): such an attachment is never a file to copy or list."""
    if attachment.get("connected_to_app"):
        return True
    url = attachment.get("view_url") or attachment.get("download_url") or ""
    if not isinstance(url, str) or not issue_refs.is_url(url):
        return False
    try:
        return issue_refs.parse_url(url, list(base_urls)).key is not None
    except issue_refs.NotJiraOfWorkspace:
        return False
