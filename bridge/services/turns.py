"""Periodic jobs that run once per period across every worker of every node.

huey's scheduler runs in each worker process, so a job scheduled every five minutes fires
in each of them: N nodes would do the work N times. Before running, a worker claims the
job's turn, a row of ``PeriodicTurn`` (unique ``name``), with one conditional UPDATE
(``due_at`` reached and nobody holding it) or, the first time, the INSERT under the unique
key; only the worker whose statement changed the row runs. Plain SQL on both SQLite and
PostgreSQL, no advisory locks. The holder renews ``held_until`` while it works, so a
worker that dies mid-run gives its turn up when that passes, and another takes it over.
When it finishes it sets ``due_at``: the job's period from the start of the run, less half
a scheduler tick, so the tick at the end of the period finds the turn due.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading

import peewee as pw

from ..db import database
from ..models import PeriodicTurn
from ..timeutil import utcnow

HOLD = dt.timedelta(minutes=2)  # a holder that has not renewed for this long is dead


def holder_id() -> str:
    """This worker thread, as a turn's holder: host, process and thread."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{threading.get_ident() % 10**6}"


def claim(name: str, holder: str, *, now: dt.datetime | None = None,
          hold: dt.timedelta = HOLD) -> bool:
    """Take the job's turn if it is due and nobody holds it; ``True`` for the one
    claimant whose statement took it."""
    now = now or utcnow()
    free = PeriodicTurn.held_until.is_null() | (PeriodicTurn.held_until <= now)
    taken = (PeriodicTurn.update(holder=holder, held_until=now + hold)
             .where((PeriodicTurn.name == name) & (PeriodicTurn.due_at <= now) & free)
             .execute())
    if taken:
        return True
    if PeriodicTurn.select().where(PeriodicTurn.name == name).exists():
        return False
    try:
        with database.atomic():
            PeriodicTurn.create(name=name, holder=holder, held_until=now + hold, due_at=now)
    except pw.IntegrityError:
        return False  # another worker inserted it a moment ago: its turn
    return True


def renew(name: str, holder: str, *, now: dt.datetime | None = None,
          hold: dt.timedelta = HOLD) -> bool:
    """Keep holding the turn; ``False`` when it was lost (held too long without renewal
    and taken over): the caller stops."""
    now = now or utcnow()
    return bool(PeriodicTurn.update(held_until=now + hold)
                .where((PeriodicTurn.name == name) & (PeriodicTurn.holder == holder))
                .execute())


def finish(name: str, holder: str, *, started: dt.datetime, period: dt.timedelta,
           tick: dt.timedelta) -> bool:
    """Give the turn back, due again one ``period`` after ``started`` (less half a
    scheduler ``tick``: the tick that ends the period must find it due)."""
    return bool(PeriodicTurn.update(holder=None, held_until=None, ran_at=started,
                                    due_at=started + period - tick / 2)
                .where((PeriodicTurn.name == name) & (PeriodicTurn.holder == holder))
                .execute())


def give_up(name: str, holder: str) -> None:
    """Release the turn without a run (an error): due again at once."""
    (PeriodicTurn.update(holder=None, held_until=None)
     .where((PeriodicTurn.name == name) & (PeriodicTurn.holder == holder)).execute())


FORGOTTEN_AFTER = dt.timedelta(days=7)


def prune(now: dt.datetime | None = None) -> int:
    """Delete the turns of jobs that have not run for a week (an instance removed, a sync
    turned off); a job that runs again makes its row anew. Held turns stay."""
    now = now or utcnow()
    idle = PeriodicTurn.held_until.is_null() | (PeriodicTurn.held_until <= now)
    return (PeriodicTurn.delete()
            .where(idle & (pw.fn.COALESCE(PeriodicTurn.ran_at, PeriodicTurn.due_at)
                           < now - FORGOTTEN_AFTER))
            .execute())
