"""Copying a task's files onto its Jira issue: durable, streamed, once per file.

Facts: Asana's ``download_url`` is pre-signed and valid about two minutes, so it is read
fresh from ``GET /attachments/{gid}`` at every attempt (asana-app-components.md §8); only
``host == "asana"`` files have one and a size (others are Drive/Dropbox/Box links, listed
in the issue's description instead). Jira takes a multipart ``file`` part with
``X-Atlassian-Token: no-check``; its limit is ``GET /attachment/meta`` ``uploadLimit``,
and an oversize file gets a 404 (jira-server.md §3.9).

A file's name reaches Jira made safe (``filenames``); its download URL is fetched only
from a public address, or from the configured Asana's own origin
(``asana.client.open_download``).

Once per file, however the worker dies. Each file has an ``AttachmentCopy`` row:

1. ``plan`` inserts the rows (unique per link and Asana attachment) and enqueues them.
2. A worker *claims* a row with one conditional UPDATE (``pending`` → ``copying``, attempt
   count + 1, a lease under its worker id). That is the intent, committed before a byte
   is sent. Only one worker can win it.
3. If an earlier attempt of *this* row sent Jira the whole file and got no answer
   (``sent_at``, with the hash of the bytes sent), that upload may be on the issue: a
   file of the same name and size that no other row of the link claims is taken as this
   one, no second upload. When the link has another file of that name and size (two
   Asana attachments can share both), a candidate is taken only if Jira's bytes hash to
   what this row sent, so twins never share one Jira file. If none is there, Jira may
   still be writing it: the copy looks again a little later, until the bridge's own wait
   for such an answer has passed, instead of sending it again.
4. Otherwise the file streams from Asana to Jira (``jira.multipart``), the lease renewed
   as bytes flow. If the lease was taken away (the sweep judged the worker dead), the
   upload aborts mid-body, so Jira stores nothing. Once the whole file is out, ``sent_at``
   is recorded and the lease stretched over the wait for Jira's answer.
5. ``done`` with Jira's attachment id, or ``skipped`` / ``failed`` with a sentence, or
   back to ``pending`` with a backoff (Jira's 429 ``Retry-After`` when given).

``sweep`` (run by every worker every few seconds) returns ``copying`` rows whose worker is
dead or whose lease ran out to ``pending``, and re-sends ``pending`` rows whose message was
lost (huey drops a message its worker dies with; see ``bridge.queue``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import time

import peewee as pw

from .. import queue
from ..asana import client as asana_client
from ..asana.errors import (
    AsanaDownloadRefused,
    AsanaError,
    AsanaNeedsReconnect,
    AsanaNotFound,
    AsanaRateLimited,
)
from ..errors import BridgeError
from ..jira.errors import (
    JiraError,
    JiraNeedsReconnect,
    JiraNotFound,
    JiraPermissionDenied,
    JiraRateLimited,
)
from ..jira.multipart import MultipartFile
from ..models import AttachmentCopy, IssueLink, IssueSnapshot
from ..timeutil import utcnow
from . import workers
from .context import Context
from .filenames import safe_file_name

log = logging.getLogger("bridge.attachments")

PENDING, COPYING, DONE, SKIPPED, FAILED = "pending", "copying", "done", "skipped", "failed"
ACTIVE = (PENDING, COPYING)
TASK = "attachments.copy"

LEASE = dt.timedelta(seconds=30)
RENEW_EVERY = 5.0  # seconds between lease renewals while bytes flow
MAX_ATTEMPTS = 8
BACKOFF_FIRST = 2.0  # seconds; doubles each attempt, with jitter
BACKOFF_MAX = 300.0
REQUEUE_AFTER = dt.timedelta(seconds=60)  # a pending row nobody took: send it again
LOOK_AGAIN = 5.0  # seconds between looks for an earlier upload Jira may still be writing
# Answers after which Jira itself may still store the file: a proxy in front of it gave up.
GATEWAY_STATUSES = (502, 504)
CHUNK = 64 * 1024
UPLOAD_TIMEOUT = 120.0  # seconds without a byte from Jira before an attempt gives up


class LeaseLost(Exception):
    """Another worker took this copy over (this one was judged dead): stop at once."""


# -- what to copy ------------------------------------------------------------------------

def is_copyable(attachment: dict) -> bool:
    """Only files Asana hosts have a download URL and a size (§8)."""
    return (attachment.get("host") or attachment.get("resource_subtype")) == "asana"


def summarize(attachments: list[dict]) -> tuple[int, int]:
    """How many files would be copied, and their total size in bytes."""
    files = [a for a in attachments if is_copyable(a)]
    return len(files), sum(int(a.get("size") or 0) for a in files)


def external_links(attachments: list[dict]) -> list[tuple[str, str]]:
    """(name, url) of the files on other hosts, listed in the issue instead of copied."""
    links = []
    for a in attachments:
        if is_copyable(a):
            continue
        url = a.get("view_url") or a.get("download_url") or a.get("permanent_url")
        if url and str(url).startswith(("https://", "http://")):
            links.append((a.get("name") or url, url))
    return links


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def plan(link: IssueLink, attachments: list[dict]) -> list[AttachmentCopy]:
    """Record a copy for each Asana-hosted file and send each to the queue.

    Safe to call twice for one link (a retried submit): rows are unique per file, and a
    row already planned is not sent again here (the sweep re-sends lost ones).
    """
    now = utcnow()
    created: list[int] = []
    for position, att in enumerate(a for a in attachments if is_copyable(a)):
        try:
            with AttachmentCopy._meta.database.atomic():
                row = AttachmentCopy.create(
                    link=link, asana_gid=str(att["gid"]), name=safe_file_name(att.get("name")),
                    size=att.get("size"), position=position, next_attempt_at=now,
                    enqueued_at=now)
            created.append(row.id)
        except pw.IntegrityError:
            continue
    for copy_id in created:
        queue.enqueue(TASK, copy_id)
    if created:
        _touch_widget(link)
    return list(AttachmentCopy.select().where(AttachmentCopy.link == link)
                .order_by(AttachmentCopy.position))


# -- the copy ----------------------------------------------------------------------------

def copy(ctx: Context, copy_id: int) -> str | None:
    """Queue handler: one attempt at one file. Returns the row's state afterwards."""
    return attempt(ctx, copy_id, workers.process_worker_id())


def attempt(ctx: Context, copy_id: int, worker_id: str) -> str | None:
    now = utcnow()
    claimed = (AttachmentCopy
               .update(state=COPYING, attempts=AttachmentCopy.attempts + 1,
                       lease_owner=worker_id, lease_until=now + LEASE, enqueued_at=None,
                       updated_at=now)
               .where((AttachmentCopy.id == copy_id) & (AttachmentCopy.state == PENDING)
                      & (AttachmentCopy.next_attempt_at <= now + dt.timedelta(seconds=1)))
               .execute())
    if not claimed:
        return None  # done already, another worker has it, or not due yet
    row = AttachmentCopy.get_by_id(copy_id)
    lease = _Lease(copy_id, worker_id)
    try:
        state, fields = _copy(ctx, row, lease)
    except LeaseLost:
        log.warning("copy.lease_lost copy=%s", copy_id)
        return None
    except Exception as exc:  # decide: retry later, or give up with a sentence
        state, fields = _after_failure(row, exc)
    _finish(row, worker_id, state, **fields)
    if state == PENDING:
        queue.enqueue(TASK, copy_id, delay=fields["_delay"])
    return state


def _copy(ctx: Context, row: AttachmentCopy, lease: _Lease) -> tuple[str, dict]:
    link = row.link
    settings = ctx.settings
    # Jira may take a while to answer after receiving a large file (it writes it to disk
    # first): background copies wait longer than requests from Asana can.
    jira = ctx.jira_for(link.instance, user=link.linked_by,
                        timeout=max(settings.http_timeout, UPLOAD_TIMEOUT))
    meta = jira.attachment_meta()
    if not meta.get("enabled", True):
        return SKIPPED, {"error": f"{row.name} was not copied: Jira has attachments "
                                  "turned off."}
    limit = _int(meta.get("uploadLimit"))
    asana = ctx.asana(link.linked_by)
    try:
        fresh = asana.attachment(row.asana_gid)
    except AsanaNotFound:
        return SKIPPED, {"error": f"{row.name} was not copied: it was removed from the task."}
    name = safe_file_name(fresh.get("name") or row.name)
    size = _int(fresh.get("size"))
    if size is not None and limit and size > limit:
        return SKIPPED, _too_large(name, size, limit)
    if row.sent_at is not None:  # this file went to Jira unanswered: is it there?
        existing = _already_uploaded(jira, row, name, size)
        if existing:
            log.info("copy.found_earlier_upload copy=%s jira_attachment=%s", row.id, existing)
            return DONE, {"jira_attachment_id": existing}
        wait = _unanswered_upload_wait(row, jira.timeout)
        if wait:
            log.info("copy.awaiting_earlier_upload copy=%s in=%.1fs", row.id, wait)
            return PENDING, {"_delay": wait, "attempts": row.attempts - 1}
    if not fresh.get("download_url"):
        return SKIPPED, {"error": f"{name} was not copied: Asana gives no download link "
                                  "for it."}
    lease.renew()
    with asana_client.open_download(fresh["download_url"],
                                    timeout=max(30.0, settings.http_timeout),
                                    max_bytes=limit or None,
                                    asana_base_url=settings.asana_base_url) as response:
        length = _int(response.headers.get("Content-Length"))
        size = size if size is not None else length
        if size is None:
            raise AsanaError("Asana did not say how large the file is.")
        if limit and size > limit:
            return SKIPPED, _too_large(name, size, limit)
        digest = hashlib.sha256()
        chunks = (digest.update(c) or c for c in response.iter_content(CHUNK))
        body = MultipartFile(name, response.headers.get("Content-Type", ""), chunks, size,
                             on_progress=lease.renew_maybe,
                             on_complete=lambda: lease.sent(jira.timeout, digest.hexdigest()))
        try:
            created = jira.upload_attachment(link.issue_id, body)
        except JiraError as exc:
            if exc.http_status is not None and exc.http_status not in GATEWAY_STATUSES:
                lease.answered()  # Jira refused this upload: it will not store it later
            raise
    attachment_id = str(created[0]["id"]) if created and created[0].get("id") else None
    log.info("copy.done copy=%s bytes=%s", row.id, size)
    return DONE, {"jira_attachment_id": attachment_id, "size": size}


def _already_uploaded(jira, row: AttachmentCopy, name: str, size: int | None) -> str | None:
    """Jira's id of the file this row's earlier attempt uploaded, if it is on the issue:
    same name and size, claimed by no other copy of the link, and, when the link has a
    twin (another file of that name and size), holding the very bytes this row sent."""
    others = list(AttachmentCopy.select(AttachmentCopy.jira_attachment_id,
                                        AttachmentCopy.name, AttachmentCopy.size)
                  .where((AttachmentCopy.link == row.link_id) & (AttachmentCopy.id != row.id)))
    claimed = {r.jira_attachment_id for r in others if r.jira_attachment_id}
    twins = any(r.name == row.name and r.size == row.size for r in others)
    for att in jira.issue_attachments(row.link.issue_id):
        if att.get("filename") != name or str(att.get("id")) in claimed:
            continue
        if size is not None and _int(att.get("size")) != size:
            continue
        if twins and (row.sent_sha256 is None or jira.attachment_sha256(att)
                      != row.sent_sha256):
            continue  # a twin's upload, or one this row cannot tell from it
        return str(att["id"])
    return None


def _unanswered_upload_wait(row: AttachmentCopy, answer_wait: float) -> float | None:
    """Seconds until looking again for an earlier attempt's upload, if Jira had the whole
    file without answering and may still store it. Past the bridge's own wait for an
    answer (``answer_wait``) and a lease more, that upload is taken as lost."""
    if row.sent_at is None:
        return None
    left = (row.sent_at + dt.timedelta(seconds=answer_wait) + LEASE - utcnow()).total_seconds()
    return min(LOOK_AGAIN, left) if left > 0 else None


def _too_large(name: str, size: int, limit: int) -> dict:
    return {"error": f"{name} ({human_size(size)}) was not copied: it is larger than "
                     f"Jira's upload limit ({human_size(limit)})."}


def _after_failure(row: AttachmentCopy, exc: Exception) -> tuple[str, dict]:
    name = row.name
    if isinstance(exc, JiraNeedsReconnect):
        return FAILED, {"error": f"{name} was not copied: the Jira authorization of the "
                                 "person who linked the issue must be renewed."}
    if isinstance(exc, AsanaNeedsReconnect):
        return FAILED, {"error": f"{name} was not copied: the bridge can no longer read "
                                 "Asana for the person who linked the issue."}
    if isinstance(exc, AsanaDownloadRefused):
        return FAILED, {"error": f"{name} was not copied: {_sentence(exc.public_message)}"}
    if isinstance(exc, JiraPermissionDenied):
        return FAILED, {"error": f"{name} was not copied: Jira does not allow adding "
                                 "attachments to this issue."}
    if isinstance(exc, JiraNotFound):
        return FAILED, {"error": f"{name} was not copied: Jira refused it (the issue is "
                                 "gone, or the file is over Jira's size limit)."}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, (JiraRateLimited, AsanaRateLimited)) and retry_after:
        delay = float(retry_after)
    else:
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** max(0, row.attempts - 1)))
        delay *= random.uniform(0.8, 1.2)
    if row.attempts >= MAX_ATTEMPTS:
        reason = exc.public_message if isinstance(exc, BridgeError) else "an unexpected error"
        log.warning("copy.gave_up copy=%s attempts=%s error=%s", row.id, row.attempts,
                    type(exc).__name__)
        return FAILED, {"error": f"{name} was not copied after {row.attempts} attempts: "
                                 f"{_sentence(reason)}"}
    if not isinstance(exc, (JiraError, AsanaError, OSError)):
        log.exception("copy.unexpected copy=%s", row.id, exc_info=exc)
    else:
        log.info("copy.retry copy=%s attempt=%s in=%.1fs error=%s", row.id, row.attempts,
                 delay, type(exc).__name__)
    return PENDING, {"_delay": delay}


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].lower() + text[1:] if text else "unknown error."


def _finish(row: AttachmentCopy, worker_id: str, state: str, **fields) -> None:
    now = utcnow()
    delay = fields.pop("_delay", None)
    values = {"state": state, "lease_owner": None, "lease_until": None, "updated_at": now}
    if state == PENDING:
        values.update(next_attempt_at=now + dt.timedelta(seconds=delay or 0),
                      enqueued_at=now + dt.timedelta(seconds=delay or 0))
    for key in ("error", "jira_attachment_id", "size", "attempts"):
        if key in fields:
            values[key] = fields[key]
    changed = (AttachmentCopy.update(**values)
               .where((AttachmentCopy.id == row.id) & (AttachmentCopy.state == COPYING)
                      & (AttachmentCopy.lease_owner == worker_id)).execute())
    if changed and state != PENDING:
        _touch_widget(row.link)


def _touch_widget(link: IssueLink) -> None:
    """Bump the issue's widget snapshot generation (every node re-renders it, with the
    copy's progress in the footer: ``services.widget``); Jira is not read again."""
    (IssueSnapshot.update(generation=IssueSnapshot.generation + 1)
     .where((IssueSnapshot.instance == link.instance_id)
            & (IssueSnapshot.issue_key == link.issue_key.upper())).execute())


class _Lease:
    """Renews a claim while bytes flow; raises ``LeaseLost`` if it was taken away."""

    def __init__(self, copy_id: int, worker_id: str):
        self.copy_id = copy_id
        self.worker_id = worker_id
        self.renewed = time.monotonic()

    def renew(self) -> None:
        self._update(lease_until=utcnow() + LEASE)

    def renew_maybe(self, _sent: int) -> None:
        if time.monotonic() - self.renewed >= RENEW_EVERY:
            self.renew()

    def sent(self, answer_wait: float, sha256: str) -> None:
        """The whole file is out: Jira may store it from now on, even if this worker dies.
        No bytes flow to renew the lease while Jira answers, so it covers that wait."""
        now = utcnow()
        self._update(sent_at=now, sent_sha256=sha256,
                     lease_until=now + dt.timedelta(seconds=answer_wait) + LEASE)

    def answered(self) -> None:
        self._update(sent_at=None, sent_sha256=None)

    def _update(self, **values) -> None:
        kept = (AttachmentCopy.update(**values)
                .where((AttachmentCopy.id == self.copy_id)
                       & (AttachmentCopy.state == COPYING)
                       & (AttachmentCopy.lease_owner == self.worker_id)).execute())
        self.renewed = time.monotonic()
        if not kept:
            raise LeaseLost()


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- recovery ----------------------------------------------------------------------------

def sweep(now: dt.datetime | None = None) -> int:
    """Take back copies whose worker died; re-send pending copies whose message is lost.
    Returns how many were sent. Any number of workers may sweep at once."""
    now = now or utcnow()
    for row in (AttachmentCopy.select(AttachmentCopy.id, AttachmentCopy.lease_owner,
                                      AttachmentCopy.lease_until)
                .where(AttachmentCopy.state == COPYING)):
        if (row.lease_until is None or row.lease_until < now
                or workers.is_dead(row.lease_owner, now)):
            (AttachmentCopy.update(state=PENDING, lease_owner=None, lease_until=None,
                                   next_attempt_at=now, enqueued_at=None, updated_at=now)
             .where((AttachmentCopy.id == row.id) & (AttachmentCopy.state == COPYING)
                    & (AttachmentCopy.lease_owner == row.lease_owner)).execute())
            log.warning("copy.recovered copy=%s from=%s", row.id, row.lease_owner)
    sent = 0
    due = (AttachmentCopy.select(AttachmentCopy.id, AttachmentCopy.enqueued_at)
           .where((AttachmentCopy.state == PENDING) & (AttachmentCopy.next_attempt_at <= now)
                  & (AttachmentCopy.enqueued_at.is_null()
                     | (AttachmentCopy.enqueued_at < now - REQUEUE_AFTER)))
           .limit(200))
    for row in due:
        cond = (AttachmentCopy.enqueued_at.is_null() if row.enqueued_at is None
                else AttachmentCopy.enqueued_at == row.enqueued_at)
        won = (AttachmentCopy.update(enqueued_at=now)
               .where((AttachmentCopy.id == row.id) & (AttachmentCopy.state == PENDING) & cond)
               .execute())
        if won:
            queue.enqueue(TASK, row.id)
            sent += 1
    return sent


def release_leases(worker_id: str) -> int:
    """A worker stopping cleanly hands its copies back at once."""
    now = utcnow()
    return (AttachmentCopy.update(state=PENDING, lease_owner=None, lease_until=None,
                                  next_attempt_at=now, enqueued_at=None, updated_at=now)
            .where((AttachmentCopy.state == COPYING)
                   & (AttachmentCopy.lease_owner == worker_id)).execute())



# -- progress, for the widget ------------------------------------------------------------

def progress_for(link: IssueLink) -> dict | None:
    """The copy's progress for the widget's footer, or ``None`` if nothing was copied.

    ``text`` is the sentence to show: "Copying 2 of 5 attachments" while work remains,
    then "5 attachments copied", or what was not copied and why.
    """
    rows = list(AttachmentCopy.select().where(AttachmentCopy.link == link)
                .order_by(AttachmentCopy.position, AttachmentCopy.id))
    if not rows:
        return None
    total = len(rows)
    done = sum(1 for r in rows if r.state == DONE)
    active = sum(1 for r in rows if r.state in ACTIVE)
    problems = [{"name": r.name, "state": r.state, "error": r.error}
                for r in rows if r.state in (SKIPPED, FAILED)]
    finished = active == 0
    if not finished:
        current = min(total, total - active + 1)
        text = f"Copying {current} of {total} attachment{'s' if total != 1 else ''}"
    elif not problems:
        text = f"{done} attachment{'s' if done != 1 else ''} copied"
    else:
        names = ", ".join(p["name"] for p in problems)
        text = f"{done} of {total} attachments copied; not copied: {names}"
    return {"total": total, "done": done, "active": active, "finished": finished,
            "problems": problems, "text": text[:200]}
