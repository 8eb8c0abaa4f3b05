"""Queue workers' heartbeats: who is alive, for ``/readyz`` and for lease recovery.

Each worker process upserts one ``WorkerBeat`` row every ``BEAT_SECONDS``. A worker is
alive while its last beat is younger than ``STALE_AFTER``. Work leased by a worker that
is not alive is taken back (``services.attachments.sweep``), so a killed worker's copy
resumes elsewhere without waiting for its lease to run out.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from ..models import WorkerBeat
from ..timeutil import utcnow

BEAT_SECONDS = 3.0
STALE_AFTER = dt.timedelta(seconds=15)


def new_worker_id() -> str:
    """``host:pid:random``: unique per process start, and tells where the process ran."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_process: dict[int, str] = {}


def process_worker_id() -> str:
    """This process's worker id (a new one after a fork: the pid is part of it)."""
    pid = os.getpid()
    if pid not in _process:
        _process.clear()
        _process[pid] = new_worker_id()
    return _process[pid]


def beat(worker_id: str, threads: int) -> None:
    now = utcnow()
    updated = (WorkerBeat.update(beat_at=now, threads=threads)
               .where(WorkerBeat.worker_id == worker_id).execute())
    if not updated:
        host, pid, _ = (worker_id.split(":") + ["", "", ""])[:3]
        WorkerBeat.insert(worker_id=worker_id, host=host, pid=int(pid or 0), threads=threads,
                          started_at=now, beat_at=now).on_conflict_ignore().execute()


def gone(worker_id: str) -> None:
    """A worker that stops cleanly says so; its leases are released by the caller."""
    WorkerBeat.delete().where(WorkerBeat.worker_id == worker_id).execute()


def prune(now: dt.datetime | None = None) -> int:
    """Forget workers silent for an hour (killed ones never say goodbye)."""
    now = now or utcnow()
    return (WorkerBeat.delete()
            .where(WorkerBeat.beat_at < now - dt.timedelta(hours=1)).execute())


def is_dead(worker_id: str | None, now: dt.datetime | None = None) -> bool:
    """True when ``worker_id`` certainly no longer works: no recent beat, or a process of
    this host that no longer exists (a restart on one machine is recovered at once)."""
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid != os.getpid() and not _process_exists(pid):
            return True
    now = now or utcnow()
    row = WorkerBeat.get_or_none(WorkerBeat.worker_id == worker_id)
    return row is None or row.beat_at < now - STALE_AFTER


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def liveness(now: dt.datetime | None = None) -> dict:
    """For ``/readyz``: how many workers beat recently, and when the last one did.

    ``ok`` is False when no worker is alive: queued copies would then wait forever.
    """
    now = now or utcnow()
    alive = list(WorkerBeat.select().where(WorkerBeat.beat_at >= now - STALE_AFTER))
    last = WorkerBeat.select(WorkerBeat.beat_at).order_by(WorkerBeat.beat_at.desc()).first()
    return {
        "ok": bool(alive),
        "workers": len(alive),
        "threads": sum(w.threads for w in alive),
        "last_beat_seconds_ago": (round((now - last.beat_at).total_seconds(), 1)
                                  if last else None),
    }


def health_check(now: dt.datetime | None = None) -> str | None:
    """For ``/readyz`` (``web.health.add_check``): unhealthy when copies wait and no
    worker is alive to do them. A bridge with nothing queued is healthy without one."""
    from ..models import AttachmentCopy

    now = now or utcnow()
    if liveness(now)["ok"]:
        return None
    waiting = (AttachmentCopy.select()
               .where(AttachmentCopy.state.in_(("pending", "copying"))
                      & (AttachmentCopy.next_attempt_at < now - STALE_AFTER)).count())
    if waiting:
        return (f"no queue worker is running and {waiting} attachment "
                f"cop{'ies wait' if waiting != 1 else 'y waits'}; start: asana-jira-bridge worker")
    return None
