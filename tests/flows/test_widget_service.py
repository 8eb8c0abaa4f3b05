"""The widget's decisions over real HTTP against the Jira simulator: whose token reads the
issue, the cache and its generation, webhooks, Jira down, issues gone or hidden."""

from __future__ import annotations

import time

import pytest
from bridge_sandbox.asana import validator
from bridge_sandbox.asana.seed import ALICE, BOB, TASK_PLAIN, TASK_RICH, WORKSPACE

from bridge.jira.errors import JiraNotConnected
from bridge.models import AsanaUser, IssueLink, IssueSnapshot, JiraCredential, JiraInstance
from bridge.services import webhooks, widget
from bridge.services.context import Context
from bridge.services.process_cache import ProcessCache

from .conftest import jira_state
from .helpers import authorize_user, oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e


def _ctx(bridge, max_age: float = 60.0, *, task: str | None = None,
         user: str | None = None, workspace: str = WORKSPACE,
         cache: ProcessCache | None = None) -> Context:
    """What the signed blueprint builds (or, with no user, the worker); ``cache``: another
    process's memory (default: the app's)."""
    settings = bridge.app.config["BRIDGE"].replace(widget_max_age=max_age)
    return Context(settings=settings, cache=cache or bridge.app.extensions["bridge.cache"],
                   user=user, workspace=workspace, task=task)


def _link(instance: JiraInstance, key: str, user_gid: str, task: str = TASK_PLAIN):
    user = AsanaUser.get(AsanaUser.gid == user_gid)
    return IssueLink.create(task_gid=task, instance=instance, issue_id=key, issue_key=key,
                            linked_by=user)


def _view(bridge, instance, key: str, *, task: str = TASK_PLAIN, user: str = ALICE,
          max_age: float = 60.0, cache: ProcessCache | None = None) -> dict:
    import json

    ctx = _ctx(bridge, max_age, task=task, user=user, cache=cache)
    body = json.loads(widget.widget_json(ctx, f"{instance.base_url}/browse/{key}"))
    validator.validate("widget", body, strict=True)
    return body


def _status(body: dict) -> tuple[str, str]:
    pill = body["metadata"]["fields"][0]
    return pill["text"], pill["color"]


def _until_status(bridge, instance, key: str, status: tuple[str, str],
                  seconds: float = 2.0) -> None:
    """Views until one shows ``status``: a change made elsewhere shows as soon as this
    process hears of it (on PostgreSQL, its notification; on SQLite, the next view)."""
    deadline = time.monotonic() + seconds
    while _status(_view(bridge, instance, key)) != status:
        assert time.monotonic() < deadline, f"{key} did not show {status} in {seconds} s"
        time.sleep(0.005)


def _issue_reads(jira, key: str) -> int:
    return sum(1 for r in jira_state(jira).request_log
               if r["path"] == f"/rest/api/2/issue/{key}")


@pytest.mark.parametrize("version, connect", [("8.20.0", oauth1_instance),
                                              ("10.3.0", oauth2_instance)])
def test_linker_token_reads_then_memory_serves_until_the_generation_moves(
        bridge, jira_factory, version, connect):
    jira = jira_factory(version)
    instance = connect(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        _link(instance, "EX-1", ALICE)
        body = _view(bridge, instance, "EX-1")
        assert _status(body) == ("Open", "blue")
        assert body["metadata"]["title"].startswith("EX-1 ")
        fields = {f["name"]: f for f in body["metadata"]["fields"]}
        assert fields["Assignee"]["text"] == "Alice Able"  # the fixture's EX-1 assignee
        # Icons on the instance's own base URL are kept, though it is on loopback (16.7).
        assert fields["Priority"]["icon_url"].startswith(jira.url)
        assert fields["Assignee"]["icon_url"].startswith(jira.url)
        assert body["metadata"]["subicon_url"].startswith(jira.url)
        # Bob has no Jira credential at all: he still sees what Alice's token read.
        assert _view(bridge, instance, "EX-1", user=BOB) == body
        reads = _issue_reads(jira, "EX-1")
        for _ in range(3):
            _view(bridge, instance, "EX-1")
        assert _issue_reads(jira, "EX-1") == reads  # served from memory

        # Another node's webhook: only the database changes, this process's memory not.
        # (On PostgreSQL the change reaches memory by its notification: poll for it.)
        jira_state(jira).update_issue("EX-1", {"status": "In Progress"})
        assert widget.invalidate(instance, issue_key="EX-1") == ["EX-1"]
        _until_status(bridge, instance, "EX-1", ("In Progress", "yellow"))
        assert _issue_reads(jira, "EX-1") == reads + 1
        # Another node refreshed the snapshot: this one takes it from the database.
        jira_state(jira).update_issue("EX-1", {"status": "Done"})
        snap = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-1")
        widget.invalidate(instance, issue_key="EX-1")
        assert widget.refresh(_ctx(bridge), instance, "EX-1")
        assert IssueSnapshot.get_by_id(snap.id).generation > snap.generation
        _until_status(bridge, instance, "EX-1", ("Done", "green"))
        assert _issue_reads(jira, "EX-1") == reads + 2  # the refresh, not the view


def test_webhook_from_jira_changes_the_next_view_within_a_second(bridge, jira_factory):
    jira = jira_factory("8.22.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        _link(instance, "EX-2", ALICE)
        instance = JiraInstance.get_by_id(instance.id)
        webhooks.register(instance, bridge.url, "admin", "admin")
        assert _status(_view(bridge, instance, "EX-2")) == ("In Progress", "yellow")
        changed = time.monotonic()
        jira_state(jira).update_issue("EX-2", {"status": "Done"}, user="bob")
        while _status(_view(bridge, instance, "EX-2"))[0] != "Done":
            assert time.monotonic() - changed < 1.0, "the change did not show within 1 s"
            time.sleep(0.02)
    deliveries = jira_state(jira).webhook_deliveries
    deadline = time.monotonic() + 5  # recorded by the simulator after the bridge answered
    while not deliveries and time.monotonic() < deadline:
        time.sleep(0.02)
    assert deliveries and deliveries[-1]["status"] == 204
    assert webhooks.PATH in deliveries[-1]["url"]


def test_unknown_webhook_token_is_refused_and_changes_nothing(bridge, jira_factory):
    import requests

    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        _link(instance, "EX-1", ALICE)
        _view(bridge, instance, "EX-1")
        token = webhooks.token_for(JiraInstance.get_by_id(instance.id))
        before = IssueSnapshot.get().generation
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"id": "10000", "key": "EX-1"}}
    head = token.split(".")[0]
    for bad in (f"{head}.wrong", token[:-1], "x", f"{int(head) + 1}.{token.split('.')[1]}"):
        answer = requests.post(f"{bridge.url}/jira/webhook/{bad}", json=payload, timeout=5)
        assert answer.status_code == 404
    with bridge.app.app_context():
        assert IssueSnapshot.get().generation == before
        stored = JiraInstance.get_by_id(instance.id)
        raw = JiraInstance.select(JiraInstance.webhook_secret).where(
            JiraInstance.id == instance.id).tuples()
    assert stored.webhook_secret == token
    from bridge.db import database  # sealed at rest: the column never holds the token
    with bridge.app.app_context():
        column = database.execute_sql(
            'SELECT "webhook_secret" FROM "jira_instance" WHERE "id" = '
            + database.obj.param, (instance.id,)).fetchone()[0]
    assert token not in column
    assert raw is not None
    answer = requests.post(f"{bridge.url}/jira/webhook/{token}", json=payload, timeout=5)
    assert answer.status_code == 204
    with bridge.app.app_context():
        assert IssueSnapshot.get().generation > before


def test_reconnect_falls_back_to_another_linker_then_names_who_must_reconnect(
        bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    authorize_user(bridge, jira, user="bob", email="bob@example.com")
    with bridge.app.app_context():
        _link(instance, "EX-1", ALICE)
        _link(instance, "EX-1", BOB, task=TASK_RICH)
        alice = JiraCredential.get(JiraCredential.asana_user
                                   == AsanaUser.get(AsanaUser.gid == ALICE))
        jira_state(jira).access_tokens.pop(alice.token)  # Alice revoked the bridge in Jira
        body = _view(bridge, instance, "EX-1", max_age=0)
        assert _status(body) == ("Open", "blue")
        assert JiraCredential.get_by_id(alice.id).state == "needs_reconnect"
        bob = JiraCredential.get(JiraCredential.asana_user
                                 == AsanaUser.get(AsanaUser.gid == BOB))
        jira_state(jira).access_tokens.pop(bob.token)
        body = _view(bridge, instance, "EX-1", max_age=0)
        footer = body["metadata"]["footer"]
        assert footer["footer_type"] == "custom_text"
        assert "Alice Andrews and Bob Brown must reconnect Jira" in footer["text"]
        assert _status(body) == ("Open", "blue")  # the last snapshot, still shown


def test_no_link_and_no_credential_asks_the_viewer_to_connect(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    with bridge.app.app_context():
        with pytest.raises(JiraNotConnected):
            _view(bridge, instance, "EX-1")
        assert IssueSnapshot.select().count() == 0


def test_unlinked_task_is_read_with_the_viewers_token_only(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)  # alice can see SEC-1
    authorize_user(bridge, jira, user="bob", email="bob@example.com")  # bob cannot
    with bridge.app.app_context():
        _link(instance, "SEC-1", ALICE, task=TASK_RICH)
        assert _status(_view(bridge, instance, "SEC-1", task=TASK_RICH, user=BOB))[0] == "Open"
        # On a task Alice never linked it to, her token is not lent to Bob.
        body = _view(bridge, instance, "SEC-1", task=TASK_PLAIN, user=BOB)
        assert body["metadata"]["fields"][0]["text"] == "Not available"


def test_deleted_or_hidden_issue_is_a_widget_that_says_so(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira, user="bob", email="bob@example.com")
    with bridge.app.app_context():
        _link(instance, "SEC-1", BOB)  # linked, then Bob lost access to SEC
        body = _view(bridge, instance, "SEC-1")
        assert body["metadata"]["title"] == "SEC-1"
        assert "deleted" in body["metadata"]["footer"]["text"]
        _link(instance, "EX-404", BOB)
        assert _view(bridge, instance, "EX-404")["metadata"]["fields"][0]["text"] \
            == "Not available"


def test_jira_down_shows_the_last_snapshot_with_a_footer_that_says_so(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        _link(instance, "EX-1", ALICE)
        _link(instance, "EX-2", ALICE)
        first = _view(bridge, instance, "EX-1")
        jira_state(jira).add_fault("error", count=50, status=503)
        body = _view(bridge, instance, "EX-1", max_age=0)
        assert _status(body) == _status(first)
        assert body["metadata"]["footer"]["text"].startswith("Jira cannot be reached right now")
        never_seen = _view(bridge, instance, "EX-2", max_age=0)
        assert never_seen["metadata"]["fields"][0]["text"] == "Unknown"


def test_an_url_outside_the_workspaces_jira_is_not_found(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    with bridge.app.app_context():
        ctx = _ctx(bridge, task=TASK_PLAIN, user=ALICE)
        with pytest.raises(widget.JiraNotFound):
            widget.widget_json(ctx, "https://elsewhere.example.com/browse/EX-1")
        other = _ctx(bridge, task=TASK_PLAIN, user=ALICE, workspace="999")
        with pytest.raises(widget.JiraNotFound):
            widget.widget_json(other, f"{instance.base_url}/browse/EX-1")


def test_a_tasks_copy_footer_is_not_served_on_another_task_of_the_same_issue(
        bridge, jira_factory):
    """The footer about copied files belongs to one task's link: another task linked to
    the same issue must neither see it (the names are that task's files) nor, served
    first, hide it from the task it belongs to."""
    from bridge.models import AttachmentCopy

    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        link = _link(instance, "EX-1", ALICE, task=TASK_RICH)
        _link(instance, "EX-1", ALICE, task=TASK_PLAIN)
        AttachmentCopy.create(link=link, asana_gid="9001", name="salaries.xlsx",
                              state="failed", error="salaries.xlsx was not copied.")
        for _ in range(2):  # the second round is served from memory
            rich = _view(bridge, instance, "EX-1", task=TASK_RICH)
            assert "not copied: salaries.xlsx" in rich["metadata"]["footer"]["text"]
            plain = _view(bridge, instance, "EX-1", task=TASK_PLAIN)
            assert plain["metadata"]["footer"]["footer_type"] == "updated"
            assert "salaries" not in str(plain)


def test_webhook_sends_the_reread_to_the_queue_and_a_worker_refreshes_the_snapshot(
        bridge, jira_factory):
    """The webhook answers after invalidating; the re-read is a queue message (bounded by
    the workers, never a thread per delivery), and running it stores the fresh issue."""
    jira = jira_factory("8.22.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    huey = bridge.app.extensions["bridge.queue"]
    with bridge.app.app_context():
        _link(instance, "EX-2", ALICE)
        instance = JiraInstance.get_by_id(instance.id)
        webhooks.register(instance, bridge.url, "admin", "admin")
        _view(bridge, instance, "EX-2")
        huey.flush()
        jira_state(jira).update_issue("EX-2", {"status": "Done"}, user="bob")
        deadline = time.monotonic() + 5  # the simulator delivers webhooks in a thread
        while not jira_state(jira).webhook_deliveries and time.monotonic() < deadline:
            time.sleep(0.02)
        assert jira_state(jira).webhook_deliveries[-1]["status"] == 204
        snapshot = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-2")
        assert snapshot.stale  # invalidated before the answer, not yet re-read
        assert huey.pending_count() == 1
        message = huey.dequeue()
        assert message.name == widget.REFRESH_TASK
        assert message.args == (instance.id, "EX-2")
        reads = _issue_reads(jira, "EX-2")
        assert huey.execute(message) is True
        assert _issue_reads(jira, "EX-2") == reads + 1
        snapshot = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-2")
        assert not snapshot.stale
        # Another process, whose memory is cold, is served the refreshed snapshot.
        assert _status(_view(bridge, instance, "EX-2", cache=ProcessCache()))[0] == "Done"
        assert _issue_reads(jira, "EX-2") == reads + 1  # served from the refreshed cache


def test_while_jira_is_down_a_snapshot_is_shown_only_on_a_task_it_is_linked_to(
        bridge, jira_factory):
    """Issue 16.1: Alice links SEC-1, which Bob cannot see in Jira. While the instance
    counts as down, Bob's unlinked task (and a viewer with no Jira credential at all)
    naming SEC-1 in its resource URL must get nothing of what Alice's token read."""
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)  # alice can see SEC-1
    authorize_user(bridge, jira, user="bob", email="bob@example.com")  # bob cannot
    stranger = "1300000000000099"  # a workspace member who never connected Jira
    with bridge.app.app_context():
        _link(instance, "SEC-1", ALICE, task=TASK_RICH)
        _link(instance, "EX-1", BOB, task=TASK_RICH)  # read with bob's token
        seen = _view(bridge, instance, "SEC-1", task=TASK_RICH)
        assert seen["metadata"]["title"] == "SEC-1 Rotate the signing keys"
        jira_state(jira).add_fault("error", count=1000, status=503)
        for _ in range(3):  # Jira fails for two readers' calls of linked tasks: down
            for key in ("SEC-1", "EX-1"):
                linked = _view(bridge, instance, key, task=TASK_RICH, max_age=0)
                assert linked["metadata"]["footer"]["text"].startswith(
                    "Jira cannot be reached right now")
        assert _status(_view(bridge, instance, "SEC-1", task=TASK_RICH, max_age=0)) \
            == _status(seen)  # the linked task still shows the last snapshot
        assert widget.jira_is_down(_ctx(bridge), instance.id)

        for max_age in (60.0, 0):
            body = _view(bridge, instance, "SEC-1", task=TASK_PLAIN, user=BOB,
                         max_age=max_age)
            shown = str(body)
            for secret in ("Rotate", "signing", "Alice", "Highest", "Open"):
                assert secret not in shown, (secret, body)
            assert body["metadata"]["title"] == "SEC-1"
            with pytest.raises(JiraNotConnected):
                _view(bridge, instance, "SEC-1", task=TASK_PLAIN, user=stranger,
                      max_age=max_age)


def test_refusals_of_one_user_or_one_request_never_mark_jira_down(bridge, jira_factory):
    """Issue 16.4: a refused OAuth signature, 403s and 404s are about a user or a request,
    not about Jira: the widget keeps asking Jira for everyone. Several failed calls of an
    unwell Jira (503) do make it stop asking for a while."""
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    authorize_user(bridge, jira, user="bob", email="bob@example.com")  # bob cannot see SEC
    state = jira_state(jira)
    with bridge.app.app_context():
        for key, linker in (("EX-1", ALICE), ("EX-2", BOB)):
            _link(instance, key, linker)
            _view(bridge, instance, key)
        for _ in range(3):
            for key in ("SEC-1", "EX-404"):
                hidden = _view(bridge, instance, key, task=TASK_RICH, user=BOB, max_age=0)
                assert hidden["metadata"]["fields"][0]["text"] == "Not available"
        assert not widget.jira_is_down(_ctx(bridge), instance.id)

        real_base = state.base_url
        state.base_url = "https://jira.behind-a-proxy.example"  # Jira now refuses signatures
        try:
            for _ in range(3):
                for key in ("EX-1", "EX-2"):
                    body = _view(bridge, instance, key, max_age=0)
                    assert _status(body) != ("Unknown", "cool-gray")  # the last snapshot
            assert not widget.jira_is_down(_ctx(bridge), instance.id)
            assert body["metadata"]["footer"]["text"].startswith(
                "Jira could not answer right now; showing what it said at")
        finally:
            state.base_url = real_base
        reads = _issue_reads(jira, "EX-1")
        state.update_issue("EX-1", {"status": "Done"})
        assert _status(_view(bridge, instance, "EX-1", max_age=0)) == ("Done", "green")
        assert _issue_reads(jira, "EX-1") == reads + 1

        state.add_fault("error", count=3, status=503)
        for key in ("EX-1", "EX-2", "EX-1"):  # 5xx for two readers (alice, bob): down
            _view(bridge, instance, key, max_age=0)
        assert widget.jira_is_down(_ctx(bridge), instance.id)
        reads = _issue_reads(jira, "EX-1")
        body = _view(bridge, instance, "EX-1", max_age=0)
        assert body["metadata"]["footer"]["text"].startswith("Jira cannot be reached")
        assert _issue_reads(jira, "EX-1") == reads  # not asked while down


def _post_deliveries(url: str, payload: dict, count: int, threads: int = 6) -> list[int]:
    import concurrent.futures

    import requests

    session = requests.Session()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: session.post(url, json=payload, timeout=10).status_code,
                             range(count)))


def test_a_flood_of_deliveries_for_one_issue_costs_one_jira_read(bridge, jira_factory):
    """Issue 16.7 (webhooks): 600 deliveries for one issue queue one re-read, not 600."""
    jira = jira_factory("10.3.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    huey = bridge.app.extensions["bridge.queue"]
    with bridge.app.app_context():
        _link(instance, "EX-2", ALICE)
        _view(bridge, instance, "EX-2")
        url = f"{bridge.url}/jira/webhook/{webhooks.token_for(JiraInstance.get_by_id(instance.id))}"
        before = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-2").generation
    huey.flush()
    jira_state(jira).update_issue("EX-2", {"status": "Done"}, user="bob")
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"id": "10001", "key": "EX-2"}}
    assert set(_post_deliveries(url, payload, 600)) == {204}
    with bridge.app.app_context():
        snapshot = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-2")
        assert snapshot.stale and snapshot.generation == before + 600
        assert huey.pending_count() == 1
        reads = _issue_reads(jira, "EX-2")
        while (message := huey.dequeue()) is not None:
            huey.execute(message)
        assert _issue_reads(jira, "EX-2") == reads + 1
        # Another process, whose memory is cold, is served the refreshed snapshot.
        assert _status(_view(bridge, instance, "EX-2", cache=ProcessCache()))[0] == "Done"
        assert _issue_reads(jira, "EX-2") == reads + 1
        # Fresh again: the next delivery queues the next re-read.
        assert set(_post_deliveries(url, payload, 3, threads=1)) == {204}
        assert huey.pending_count() == 1


def test_a_delivery_during_the_reread_is_not_lost(bridge, jira_factory):
    """While the worker reads Jira a new change arrives: no second message is queued (the
    snapshot is stale already), so the worker itself must read again before it stores."""
    import threading

    jira = jira_factory("10.3.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    state = jira_state(jira)
    with bridge.app.app_context():
        _link(instance, "EX-2", ALICE)
        _view(bridge, instance, "EX-2")
        instance = JiraInstance.get_by_id(instance.id)
        url = f"{bridge.url}/jira/webhook/{webhooks.token_for(instance)}"
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"id": "10001", "key": "EX-2"}}
    huey = bridge.app.extensions["bridge.queue"]
    huey.flush()
    state.update_issue("EX-2", {"status": "Done"}, user="bob")
    assert _post_deliveries(url, payload, 1) == [204]
    state.add_fault("slow", count=1, delay=0.6, path_prefix="/rest/api/2/issue/EX-2")
    with bridge.app.app_context():
        message = huey.dequeue()
        worker = threading.Thread(target=lambda: bridge.app.app_context().push()
                                  or huey.execute(message))
        worker.start()
        time.sleep(0.3)  # the worker is reading Jira now
        state.update_issue("EX-2", {"status": "Open"}, user="bob")
        assert _post_deliveries(url, payload, 1) == [204]
        assert huey.pending_count() == 0  # coalesced into the running re-read
        worker.join(10)
        snapshot = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-2")
        assert not snapshot.stale
        assert snapshot.data["status"] == "Open"
