"""Attachment copies over real HTTP: Asana simulator → bridge → Jira simulator.

Each file streams from a fresh ``download_url`` to Jira's attachment endpoint; once per
file whatever dies when; over-limit files skipped and reported; failures retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bridge_sandbox.asana.seed import ATTACHMENTS, BIG_ATTACHMENT, TASK_RICH, content_digest

from bridge import queue
from bridge.models import AsanaUser, AttachmentCopy, IssueLink, JiraCredential, WorkerBeat
from bridge.services import attachments, workers
from bridge.timeutil import utcnow

from .conftest import jira_state
from .helpers import authorize_user, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e

RICH_FILES = [a for a in ATTACHMENTS if a["parent"] == TASK_RICH]
MB = 1024 * 1024


def _linked_issue(bridge, jira):
    """Alice connected on a Jira 10.3 and an issue linked to the rich task."""
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        created = worker_context().jira_with(cred).create_issue(
            {"project": {"key": "EX"}, "summary": "Copy test", "issuetype": {"id": "1"}})
        link = IssueLink.create(task_gid=TASK_RICH, instance=instance, issue_id=created["id"],
                                issue_key=created["key"], linked_by=AsanaUser.get())
        files = worker_context().asana(link.linked_by).attachments(TASK_RICH)
    return link, files


def _jira_files(jira, issue_key):
    st = jira_state(jira)
    return [a for a in st.attachments.values() if a["issue"] == issue_key]


def _sha256_of(stored: dict) -> str:
    """Hash of the bytes the Jira simulator wrote to disk for an attachment."""
    with open(stored["path"], "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _run_all(worker_id="test-worker"):
    for row in AttachmentCopy.select().where(AttachmentCopy.state == "pending"):
        attachments.attempt(worker_context(), row.id, worker_id)


def _project_key(jira):
    return next(iter(jira_state(jira).projects))


@pytest.fixture
def jira10(jira_factory):
    return jira_factory("10.3.0")


def test_five_files_are_streamed_to_jira_once_each(bridge, jira10):
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    with bridge.app.app_context():
        assert attachments.summarize(files) == (5, sum(a["size"] for a in RICH_FILES))
        rows = attachments.plan(link, files)
        assert [r.state for r in rows] == ["pending"] * 5
        assert attachments.progress_for(link)["text"] == "Copying 1 of 5 attachments"
        attachments.attempt(worker_context(), rows[0].id, "w1")
        assert attachments.progress_for(link)["text"] == "Copying 2 of 5 attachments"
        _run_all()
        progress = attachments.progress_for(link)
        assert progress == {"total": 5, "done": 5, "active": 0, "finished": True,
                            "problems": [], "text": "5 attachments copied"}
        # planning again (a retried submit) sends nothing twice
        attachments.plan(link, files)
        _run_all()
    stored = _jira_files(jira10, link.issue_key)
    assert sorted(a["filename"] for a in stored) == sorted(a["name"] for a in RICH_FILES)
    for att in RICH_FILES:
        got = next(a for a in stored if a["filename"] == att["name"])
        assert _sha256_of(got) == content_digest(att["gid"], att["size"])


def test_a_file_over_jiras_upload_limit_is_skipped_and_reported(bridge, jira10):
    link, files = _linked_issue(bridge, jira10)  # the simulator's default limit: 10 MB
    with bridge.app.app_context():
        attachments.plan(link, files)
        _run_all()
        progress = attachments.progress_for(link)
        big = AttachmentCopy.get(AttachmentCopy.asana_gid == BIG_ATTACHMENT)
    assert big.state == "skipped"
    assert big.error == ("safari-trace.zip (12 MB) was not copied: it is larger than Jira's "
                         "upload limit (10 MB).")
    assert progress["done"] == 4 and progress["finished"]
    assert progress["text"] == "4 of 5 attachments copied; not copied: safari-trace.zip"
    assert len(_jira_files(jira10, link.issue_key)) == 4


def test_a_worker_that_died_after_uploading_does_not_upload_again(bridge, jira10, monkeypatch):
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    with bridge.app.app_context():
        rows = attachments.plan(link, files)
        first = rows[0]

        def die(*args, **kwargs):
            raise SystemExit("killed after Jira stored the file, before the row said so")

        monkeypatch.setattr(attachments, "_finish", die)
        with pytest.raises(SystemExit):
            attachments.attempt(worker_context(), first.id, "gone-host:1:dead")
        monkeypatch.undo()
        assert AttachmentCopy.get_by_id(first.id).state == "copying"
        assert len(_jira_files(jira10, link.issue_key)) == 1
        # Its worker is not alive (no heartbeat): the sweep takes the copy back and
        # re-sends it; the next attempt finds the file in Jira instead of uploading it.
        attachments.sweep()
        assert AttachmentCopy.get_by_id(first.id).state == "pending"
        _run_all()
        again = AttachmentCopy.get_by_id(first.id)
        assert again.state == "done" and again.attempts == 2
        assert again.jira_attachment_id == _jira_files(jira10, link.issue_key)[0]["id"]
    assert len(_jira_files(jira10, link.issue_key)) == 5


class _AttemptInThread:
    """A worker's attempt on a thread of its own, left waiting for Jira's answer."""

    def __init__(self, bridge, copy_id, worker_id):
        self.errors: list[BaseException] = []

        def run():
            try:
                with bridge.app.app_context():
                    attachments.attempt(worker_context(), copy_id, worker_id)
            except BaseException as exc:  # reported by join
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(30)
        assert not self.thread.is_alive() and not self.errors, self.errors


def _hold_uploads(jira, link):
    return jira_state(jira).add_fault(
        "hold", path_prefix=f"/rest/api/2/issue/{link.issue_id}/attachments")


def test_an_upload_jira_is_still_writing_when_its_worker_dies_is_not_sent_again(
        bridge, jira10):
    """Jira has the whole file and is still writing it when the worker dies: the next
    attempt does not see it on the issue yet, and must wait for it, not send it again."""
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    with bridge.app.app_context():
        row = attachments.plan(link, [a for a in files if a["name"] == "console.log"])[0]
    held = _hold_uploads(jira10, link)
    dying = _AttemptInThread(bridge, row.id, "gone-host:1:dead")  # no heartbeat: dead
    try:
        assert held.received.wait(30), "the upload never reached Jira"
        with bridge.app.app_context():
            attachments.sweep()  # its worker is dead: the copy is taken back
            assert AttachmentCopy.get_by_id(row.id).state == "pending"
            second = attachments.attempt(worker_context(), row.id, "w2")
    finally:
        held.release()  # Jira finishes writing the first upload
        dying.join()
    with bridge.app.app_context():
        for _ in range(3):  # the waiting copy looks again, as its next attempt would
            AttachmentCopy.update(next_attempt_at=utcnow()).execute()
            attachments.attempt(worker_context(), row.id, "w2")
        done = AttachmentCopy.get_by_id(row.id)
    stored = _jira_files(jira10, link.issue_key)
    assert [a["filename"] for a in stored] == ["console.log"]
    assert second == "pending"  # it waited for the earlier upload
    assert done.state == "done" and done.jira_attachment_id == stored[0]["id"]
    assert done.attempts == 2  # looking again is not an attempt of its own


def test_a_worker_waiting_for_jiras_answer_keeps_its_copy(bridge, jira10, monkeypatch):
    """Bytes no longer flow while Jira writes the file, so nothing renews the lease: it
    must cover the wait for the answer, or a sweep gives the copy to another worker."""
    monkeypatch.setattr(attachments, "LEASE", dt.timedelta(seconds=1))
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    worker = workers.new_worker_id()
    with bridge.app.app_context():
        row = attachments.plan(link, [a for a in files if a["name"] == "console.log"])[0]
        workers.beat(worker, 1)
    held = _hold_uploads(jira10, link)
    waiting = _AttemptInThread(bridge, row.id, worker)
    try:
        assert held.received.wait(30), "the upload never reached Jira"
        time.sleep(1.5)  # longer than the lease
        with bridge.app.app_context():
            workers.beat(worker, 1)
            attachments.sweep()
            during = AttachmentCopy.get_by_id(row.id)
    finally:
        held.release()
        waiting.join()
    assert (during.state, during.lease_owner) == ("copying", worker)
    with bridge.app.app_context():
        done = AttachmentCopy.get_by_id(row.id)
    assert done.state == "done" and done.attempts == 1
    assert len(_jira_files(jira10, link.issue_key)) == 1


def test_two_files_with_the_same_name_and_size_are_both_copied(bridge, jira10, asana):
    jira_state(jira10).configure(upload_limit=64 * MB)
    sim = asana.app.sim
    for _ in range(2):
        sim.add_upload(parent=TASK_RICH, name="same.txt", content=b"x" * 10,
                       content_type="text/plain")
    link, files = _linked_issue(bridge, jira10)
    with bridge.app.app_context():
        rows = [r for r in attachments.plan(link, files) if r.name == "same.txt"]
        attachments.attempt(worker_context(), rows[0].id, "w1")
        # the second one's earlier attempt "may have uploaded": it must not take the first's
        AttachmentCopy.update(attempts=1).where(AttachmentCopy.id == rows[1].id).execute()
        attachments.attempt(worker_context(), rows[1].id, "w1")
        ids = {AttachmentCopy.get_by_id(r.id).jira_attachment_id for r in rows}
    assert len(ids) == 2
    assert sum(1 for a in _jira_files(jira10, link.issue_key) if a["filename"] == "same.txt") == 2


def _twins(bridge, jira, asana):
    """Two different Asana files with one name and one size on the task, planned."""
    jira_state(jira).configure(upload_limit=64 * MB)
    sim = asana.app.sim
    for byte in (b"a", b"b"):
        sim.add_upload(parent=TASK_RICH, name="twin.txt", content=byte * 10,
                       content_type="text/plain")
    link, files = _linked_issue(bridge, jira)
    with bridge.app.app_context():
        rows = [r for r in attachments.plan(link, files) if r.name == "twin.txt"]
    return link, rows


def _dies_after_jira_stored(bridge, monkeypatch, copy_id):
    """An attempt whose worker dies once Jira stored the file, before the row says so."""
    def die(*args, **kwargs):
        raise SystemExit("killed after Jira stored the file, before the row said so")

    with bridge.app.app_context(), monkeypatch.context() as patch:
        patch.setattr(attachments, "_finish", die)
        with pytest.raises(SystemExit):
            attachments.attempt(worker_context(), copy_id, "gone-host:1:dead")


def _recover(copy_id):
    """The sweep takes a dead worker's copy back; time passes beyond any wait."""
    attachments.sweep()
    AttachmentCopy.update(sent_at=utcnow() - dt.timedelta(hours=1)).where(
        (AttachmentCopy.id == copy_id) & AttachmentCopy.sent_at.is_null(False)).execute()
    attachments.attempt(worker_context(), copy_id, "w2")


def _contents(jira, link, rows) -> dict:
    """What Jira holds, per Asana file: {asana gid: bytes of its Jira attachment}."""
    stored = {a["id"]: a for a in _jira_files(jira, link.issue_key)}
    found = {}
    for r in rows:
        row = AttachmentCopy.get_by_id(r.id)
        assert row.state == "done", (row.state, row.error)
        with open(stored[row.jira_attachment_id]["path"], "rb") as fh:
            found[row.asana_gid] = fh.read()
    return found


def test_twins_never_share_one_jira_file_when_one_retries(bridge, jira10, asana,
                                                          monkeypatch):
    """File A's first attempt failed before sending anything; file B, same name and
    size, reached Jira and its worker died before recording it. A's retry must upload A,
    not take B's upload for its own (A's bytes would never reach Jira)."""
    link, (a, b) = _twins(bridge, jira10, asana)
    with bridge.app.app_context():
        AttachmentCopy.update(attempts=1).where(AttachmentCopy.id == a.id).execute()
    _dies_after_jira_stored(bridge, monkeypatch, b.id)
    with bridge.app.app_context():
        attachments.attempt(worker_context(), a.id, "w1")
        _recover(b.id)
        contents = _contents(jira10, link, [a, b])
    assert contents == {a.asana_gid: b"a" * 10, b.asana_gid: b"b" * 10}
    assert len([f for f in _jira_files(jira10, link.issue_key)
                if f["filename"] == "twin.txt"]) == 2


def test_twins_that_both_died_after_jira_stored_each_find_their_own(bridge, jira10, asana,
                                                                    monkeypatch):
    """Both reached Jira unanswered (B first): each retry takes the upload of its own
    bytes, never its twin's, and nothing is sent again."""
    link, (a, b) = _twins(bridge, jira10, asana)
    _dies_after_jira_stored(bridge, monkeypatch, b.id)
    _dies_after_jira_stored(bridge, monkeypatch, a.id)
    with bridge.app.app_context():
        _recover(a.id)
        _recover(b.id)
        contents = _contents(jira10, link, [a, b])
    assert contents == {a.asana_gid: b"a" * 10, b.asana_gid: b"b" * 10}
    assert len(_jira_files(jira10, link.issue_key)) == 2


def test_jira_failures_are_retried_with_backoff_and_429_retry_after(bridge, jira10):
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    one = [a for a in files if a["name"] == "console.log"]
    with bridge.app.app_context():
        row = attachments.plan(link, one)[0]
        jira_state(jira10).add_fault("error", count=1, status=503,
                                     path_prefix=f"/rest/api/2/issue/{link.issue_id}/attach")
        assert attachments.attempt(worker_context(), row.id, "w1") == "pending"
        failed_once = AttachmentCopy.get_by_id(row.id)
        wait = (failed_once.next_attempt_at - failed_once.updated_at).total_seconds()
        assert 1.5 <= wait <= 2.5  # first backoff: 2 s with jitter
        # not due yet: nothing happens
        assert attachments.attempt(worker_context(), row.id, "w1") is None
        AttachmentCopy.update(next_attempt_at=failed_once.updated_at).execute()
        # now Jira limits the rate: its Retry-After decides the next attempt
        jira_state(jira10).configure(rate_limit={"limit": 1, "interval_seconds": 60,
                                                 "fill_rate": 1})
        worker_context().jira_with(JiraCredential.get()).myself()
        assert attachments.attempt(worker_context(), row.id, "w1") == "pending"
        limited = AttachmentCopy.get_by_id(row.id)
        wait = (limited.next_attempt_at - limited.updated_at).total_seconds()
        assert wait >= 30  # the bucket refills one token a minute
        jira_state(jira10).configure(rate_limit=None)
        AttachmentCopy.update(next_attempt_at=limited.updated_at).execute()
        assert attachments.attempt(worker_context(), row.id, "w1") == "done"
        assert AttachmentCopy.get_by_id(row.id).attempts == 3
    assert len(_jira_files(jira10, link.issue_key)) == 1


def test_download_links_are_fetched_fresh_for_each_attempt(bridge, jira10, asana):
    """A download URL read at planning time has expired by the (late) attempt."""
    jira_state(jira10).configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    one = [a for a in files if a["name"] == "spec.pdf"]
    asana.app.sim.clock.advance(600)  # the URLs read when planning are long expired
    with bridge.app.app_context():
        row = attachments.plan(link, one)[0]
        assert attachments.attempt(worker_context(), row.id, "w1") == "done"


def _worker(settings, bridge, asana, log):
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()},
           "BRIDGE_PUBLIC_URL": bridge.url, "BRIDGE_ASANA_BASE_URL": asana.url,
           "BRIDGE_ASANA_CLIENT_ID": bridge.app.config["BRIDGE"].asana_client_id,
           "BRIDGE_ASANA_CLIENT_SECRET": bridge.app.config["BRIDGE"].asana_client_secret}
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    return subprocess.Popen([str(exe), "worker", "--threads", "2"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_a_killed_worker_process_restarts_and_finishes_with_no_file_twice(
        bridge, jira10, asana, settings, tmp_path):
    st = jira_state(jira10)
    st.configure(upload_limit=64 * MB)
    link, files = _linked_issue(bridge, jira10)
    log = open(tmp_path / "worker.log", "w")
    with bridge.app.app_context():
        first = _worker(settings, bridge, asana, log)
        try:
            # Jira now answers slowly: the worker is mid-upload when it is killed
            st.configure(latency=4.0)
            attachments.plan(link, [a for a in files if a["gid"] == BIG_ATTACHMENT])
            _wait(lambda: AttachmentCopy.get().state == "copying", what="the copy to start")
            time.sleep(1.0)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        assert AttachmentCopy.get().state == "copying"  # its lease is still held
        time.sleep(4.5)  # the cut request reaches the simulator, which stores nothing
        assert _jira_files(jira10, link.issue_key) == []
        st.configure(latency=0.0)
        attachments.plan(link, files)  # the other four, queued while no worker runs
        second = _worker(settings, bridge, asana, log)
        try:
            _wait(lambda: attachments.progress_for(link)["finished"], timeout=60,
                  what="the copies to finish after the restart")
            # the killed worker never said goodbye; its copy was taken back without
            # waiting for its heartbeat to go stale (its process is gone from this host)
            assert WorkerBeat.select().count() == 2
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(timeout=30)
        progress = attachments.progress_for(link)
        assert progress["text"] == "5 attachments copied", progress
        big = AttachmentCopy.get(AttachmentCopy.asana_gid == BIG_ATTACHMENT)
        assert big.attempts == 2
        assert WorkerBeat.select().count() == 1  # the second one said goodbye
    stored = _jira_files(jira10, link.issue_key)
    assert sorted(a["filename"] for a in stored) == sorted(a["name"] for a in RICH_FILES)
    big_file = next(a for a in stored if a["filename"] == "safari-trace.zip")
    assert _sha256_of(big_file) == content_digest(
        BIG_ATTACHMENT, 12 * MB + 345)
    assert queue.describe(bridge.app.config["BRIDGE"]) in ("sqlite", "postgresql")
