"""The periodic re-read of synced fields runs once per period across every worker of every
node (a turn claimed in the database, ``services.turns``), and hourly only where the
instance's webhook is delivering. Real HTTP to the Jira and Asana simulators; the nodes are
threads with their own database connections, on SQLite or PostgreSQL
(``BRIDGE_TEST_DATABASE_URL``). Time is passed in, never waited for."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from bridge_sandbox.asana.seed import TASK_EMPTY, TASK_PLAIN

from bridge.models import AsanaUser, IssueLink, JiraWebhook, PeriodicTurn
from bridge.services import sync_refresh, turns, webhooks
from bridge.timeutil import utcnow

from .conftest import jira_state
from .helpers import authorize_user, oauth2_instance, worker_context
from .test_field_sync import _enable

pytestmark = pytest.mark.e2e


@pytest.fixture
def jira10(jira_factory):
    return jira_factory("10.3.0")


@pytest.fixture
def linked(bridge, asana, jira10):
    """Alice (admin of the seeded project) connected; EX-1 and EX-2 linked to its tasks."""
    instance = oauth2_instance(bridge, jira10)
    authorize_user(bridge, jira10)
    st = jira_state(jira10)
    with bridge.app.app_context():
        alice = AsanaUser.get()
        for task, key in ((TASK_PLAIN, "EX-1"), (TASK_EMPTY, "EX-2")):
            IssueLink.create(task_gid=task, instance=instance, issue_id=st.find_issue(key)["id"],
                             issue_key=key, linked_by=alice)
    return instance

ISSUE_PATHS = ("/rest/api/2/issue/EX-1", "/rest/api/2/issue/EX-2")


def _reads(jira) -> int:
    return sum(1 for r in jira_state(jira).request_log if r["path"] in ISSUE_PATHS)


def _race(bridge, n: int, fn) -> list:
    """``fn(i)`` on ``n`` threads released together, each with its own connection."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i):
        with bridge.app.app_context():
            barrier.wait()
            try:
                out[i] = fn(i)
            except Exception as exc:  # reported by the caller's assertion
                out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_racing_claims_give_the_turn_to_one(bridge):
    """The first turn (the INSERT under the unique name) and a later one (the conditional
    UPDATE once due) each go to exactly one of eight claimants."""
    now = utcnow()
    first = _race(bridge, 8, lambda i: turns.claim("job", f"w{i}", now=now))
    assert first.count(True) == 1 and first.count(False) == 7, first
    winner = f"w{first.index(True)}"
    with bridge.app.app_context():
        assert turns.finish("job", winner, started=now, period=dt.timedelta(minutes=5),
                            tick=dt.timedelta(minutes=5))
        assert not turns.claim("job", "late", now=now + dt.timedelta(minutes=2))  # not due
    later = now + dt.timedelta(minutes=5)
    second = _race(bridge, 8, lambda i: turns.claim("job", f"v{i}", now=later))
    assert second.count(True) == 1, second


def test_two_nodes_firing_together_read_jira_once(bridge, asana, jira10, linked):
    _enable(bridge)
    before = _reads(jira10)
    now = utcnow()
    read = _race(bridge, 2, lambda i: sync_refresh.refresh_all(
        worker_context(), now=now, holder=f"node-{i}"))
    assert sorted(read) == [0, 2], read  # one node read both linked issues, the other none
    assert _reads(jira10) == before + 2


def test_a_dead_workers_turn_is_taken_over_once_its_hold_passes(bridge, asana, jira10,
                                                                linked):
    _enable(bridge)
    now = utcnow()
    name = f"sync.refresh/{linked.id}"
    with bridge.app.app_context():
        assert turns.claim(name, "dead-node", now=now)  # ... and it died mid-run
        ctx = worker_context()
        assert sync_refresh.refresh_instance(ctx, linked, now=now + dt.timedelta(minutes=1),
                                             holder="node-b") is None
        assert sync_refresh.refresh_instance(ctx, linked,
                                             now=now + turns.HOLD + dt.timedelta(seconds=1),
                                             holder="node-b") == 2
        turn = PeriodicTurn.get(PeriodicTurn.name == name)
        assert turn.holder is None and turn.ran_at is not None
        assert not turns.renew(name, "dead-node")  # a late renewal of the dead one: lost


def _hour(bridge, nodes: int, start: dt.datetime) -> list[int]:
    """Twelve five-minute ticks of the scheduler on ``nodes`` nodes: reads per tick."""
    out = []
    for tick in range(12):
        at = start + tick * sync_refresh.TICK
        out.append(sum(_race(bridge, nodes, lambda i, at=at: sync_refresh.refresh_all(
            worker_context(), now=at, holder=f"node-{i}"))))
    return out


def test_jira_reads_per_hour_on_two_nodes_with_and_without_a_webhook(
        bridge, asana, jira10, linked, capsys):
    """The figure the README gives: 2 linked issues, 2 nodes. Without a webhook each
    issue is read every 5 minutes once (not once per node); with a delivering webhook,
    once an hour."""
    _enable(bridge)
    start = utcnow()
    without = _hour(bridge, 2, start)
    assert without == [2] * 12, without  # before the turn: [4] * 12, every node read
    sim = jira_state(jira10)
    sim.configure(basic_auth=True)
    with bridge.app.app_context():
        webhooks.register(linked, bridge.url, "admin", "admin")
    sim.update_issue("EX-1", {"summary": "a change Jira delivers"})
    sim.webhook_dispatcher.wait()
    assert sim.webhook_deliveries[-1]["status"] == 204
    with bridge.app.app_context():
        assert webhooks.delivering(linked)
    later = start + dt.timedelta(hours=1)
    with_hook = _hour(bridge, 2, later)
    assert sum(with_hook) == 2 and with_hook[0] == 2, with_hook
    with capsys.disabled():
        print(f"\nJira issue reads per hour, 2 linked issues, 2 nodes: without a webhook "
              f"{sum(without)}, with a delivering webhook {sum(with_hook)}")


def test_the_safety_net_stretches_only_while_the_webhook_delivers(bridge, asana, jira10,
                                                                  linked):
    sim = jira_state(jira10)
    sim.configure(basic_auth=True)
    now = utcnow()
    with bridge.app.app_context():
        assert sync_refresh.period_for(linked, now) == sync_refresh.PERIOD  # no webhook
        webhooks.note_delivery(linked, now)  # a delivery alone: not registered by anyone
        assert sync_refresh.period_for(linked, now) == sync_refresh.PERIOD
        webhooks.register(linked, bridge.url, "admin", "admin")
        assert sync_refresh.period_for(linked, now) == sync_refresh.SAFETY_NET
        # silent for a day: it may be broken, every five minutes again
        day = now + webhooks.DELIVERED_WITHIN + dt.timedelta(minutes=1)
        assert sync_refresh.period_for(linked, day) == sync_refresh.PERIOD
        # a project its filter leaves out: every five minutes until the filter follows
        IssueLink.create(task_gid="1200000000000990", instance=linked, issue_id="10100",
                         issue_key="SEC-1")
        assert sync_refresh.period_for(linked, now) == sync_refresh.PERIOD
        IssueLink.delete().where(IssueLink.issue_key == "SEC-1").execute()
        # the token rotated: Jira posts to a dead URL
        webhooks.rotate(linked)
        webhooks.note_delivery(linked, now)
        assert not JiraWebhook.get().registered_at
        assert sync_refresh.period_for(linked, now) == sync_refresh.PERIOD


def test_deliveries_are_noted_at_most_once_a_minute(bridge, asana, jira10, linked):
    now = utcnow()
    with bridge.app.app_context():
        webhooks.note_delivery(linked, now)
        webhooks.note_delivery(linked, now + dt.timedelta(seconds=30))
        assert JiraWebhook.get().delivered_at == now
        webhooks.note_delivery(linked, now + dt.timedelta(seconds=61))
        assert JiraWebhook.get().delivered_at == now + dt.timedelta(seconds=61)


def test_turns_of_jobs_that_stopped_running_are_purged(bridge):
    now = utcnow()
    with bridge.app.app_context():
        for name in ("old", "recent", "held"):
            assert turns.claim(name, "w", now=now - dt.timedelta(days=9))
        turns.finish("old", "w", started=now - dt.timedelta(days=9),
                     period=dt.timedelta(minutes=5), tick=dt.timedelta(minutes=5))
        turns.finish("recent", "w", started=now - dt.timedelta(days=1),
                     period=dt.timedelta(minutes=5), tick=dt.timedelta(minutes=5))
        assert turns.renew("held", "w", now=now)
        assert turns.prune(now) == 1
        assert sorted(t.name for t in PeriodicTurn.select()) == ["held", "recent"]
        assert turns.claim("old", "w", now=now)  # it runs again: a new row
