"""Doing a thing once per key, across threads, workers and nodes: a unique row, not a lock.

Asana retries a rule run with the same ``idempotency_key`` (asana-app-components.md §4.2,
§5.4), possibly while the first delivery still runs on another worker; a user may click
submit twice. ``run_once(key, fn)``:

1. inserts ``ActionRun(idempotency_key=key, status="running")``. The database's unique
   constraint lets exactly one caller win, whatever process it is in;
2. the others wait (polling the row) and return the winner's answer, or raise
   ``InProgress`` if it takes longer than ``wait`` (Asana will retry);
3. the winner runs ``fn(run)``. ``run.step(name, fn)`` records each side effect's result
   the moment it has it (e.g. Jira's new issue), so a retry after a crash or a failure
   later on resumes after that step instead of creating a second issue;
4. a failed run can be taken up by the next retry (keeping its recorded steps); a run
   whose process died (no progress for ``stale_after`` seconds) too.

The window left: a process killed between Jira answering "created" and the step being
written. It is as narrow as one database UPDATE.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import peewee as pw

from ..db import database
from ..errors import BridgeError
from ..models import ActionRun
from ..timeutil import utcnow

RUNNING, DONE, FAILED = "running", "done", "failed"


class InProgress(BridgeError):
    status = 503
    code = "in_progress"
    public_message = "This request is still being handled. Try again in a moment."


class KeyReused(BridgeError):
    """The key was first used for another request (a rule run for another task)."""

    status = 409
    code = "idempotency_key_reused"
    public_message = ("This idempotency_key was already used for another request; a "
                      "retry must repeat the first request exactly. Nothing was done.")


class Run:
    """The claimed run: its recorded steps."""

    def __init__(self, row_id: int, steps: dict, fingerprint: str | None = None):
        self.row_id = row_id
        self.steps = dict(steps)
        self.fingerprint = fingerprint

    def result(self, **more) -> dict:
        """What the row's ``result`` holds: the steps, the request's fingerprint, more."""
        return {"steps": self.steps, "fingerprint": self.fingerprint, **more}

    def has(self, name: str) -> bool:
        return name in self.steps

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        if name in self.steps:
            return self.steps[name]
        value = fn()
        self.steps[name] = value
        (ActionRun.update(result=self.result(), created_at=utcnow())
         .where(ActionRun.id == self.row_id).execute())
        return value


def _claim(key: str, action, fingerprint: str | None) -> tuple[ActionRun, bool]:
    try:
        with database.atomic():
            return ActionRun.create(idempotency_key=key, action=action, status=RUNNING,
                                    result={"steps": {}, "fingerprint": fingerprint}), True
    except pw.IntegrityError:
        row = ActionRun.get_or_none(ActionRun.idempotency_key == key)
        if row is None:  # deleted between the two statements: try again
            return _claim(key, action, fingerprint)
        recorded = row.result or {}
        if "fingerprint" in recorded and recorded["fingerprint"] != fingerprint:
            raise KeyReused() from None
        return row, False


def _take_over(row: ActionRun, *, keep_steps: bool) -> bool:
    values: dict = {"status": RUNNING, "created_at": utcnow()}
    if not keep_steps:
        values["result"] = {"steps": {}, "fingerprint": (row.result or {}).get("fingerprint")}
    return bool(ActionRun.update(**values)
                .where((ActionRun.id == row.id) & (ActionRun.status == row.status)
                       & (ActionRun.created_at == row.created_at)).execute())


def run_once(key: str, fn: Callable[[Run], Any], *, action=None,
             reuse_for: float | None = None, wait: float = 8.0,
             stale_after: float = 60.0, fingerprint: str | None = None) -> Any:
    """``fn(run)``'s answer, computed once for ``key`` (see the module docstring).

    ``reuse_for``: seconds a finished answer is handed back (``None``: for ever); after
    that the same key runs again (a form submitted again much later is a new request).
    ``fingerprint``: what else the request said (a rule run's task); the same key with
    another fingerprint raises ``KeyReused`` instead of answering the first request.
    """
    give_up = time.monotonic() + wait
    while True:
        row, won = _claim(key, action, fingerprint)
        if won:
            break
        now = utcnow()
        age = (now - row.created_at).total_seconds()
        if row.status == DONE:
            if reuse_for is None or age < reuse_for:
                return (row.result or {}).get("answer")
            if _take_over(row, keep_steps=False):
                row = ActionRun.get_by_id(row.id)
                break
        elif row.status == FAILED or age > stale_after:
            if _take_over(row, keep_steps=True):
                row = ActionRun.get_by_id(row.id)
                break
        if time.monotonic() > give_up:
            raise InProgress()
        time.sleep(0.05)
    run = Run(row.id, (row.result or {}).get("steps") or {}, fingerprint)
    try:
        answer = fn(run)
    except BaseException:
        (ActionRun.update(status=FAILED, result=run.result())
         .where(ActionRun.id == row.id).execute())
        raise
    (ActionRun.update(status=DONE, result=run.result(answer=answer), created_at=utcnow())
     .where(ActionRun.id == row.id).execute())
    return answer


def purge(older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Forget finished runs after a month (Asana's retries stop long before)."""
    return (ActionRun.delete()
            .where((ActionRun.status != RUNNING) & (ActionRun.created_at < utcnow() - older_than))
            .execute())
