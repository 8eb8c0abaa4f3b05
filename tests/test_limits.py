"""Rate limits across workers and bounded OAuth flows (issue 11 §6).

Before, limits were per client address and per process: rotating source addresses made
33,000 anonymous ``/asana/auth`` requests in 120 s, each writing a pending-auth row that
nothing removed for ten minutes. Two bridge apps on one database stand for two gunicorn
workers (or two nodes) here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.models import (
    AsanaUser,
    AsanaWorkspace,
    JiraInstance,
    PendingAuth,
    RateCount,
    UsedOAuthState,
    utcnow,
)
from bridge.services import limits, maintenance, pending

ASANA = {"PUBLIC_URL": "https://bridge.example.com", "ASANA_CLIENT_ID": "1209",
         "ASANA_CLIENT_SECRET": "asana-secret-0123456789"}


def _auth(client, addr: str):
    return client.get("/asana/auth", environ_base={"REMOTE_ADDR": addr})


def test_the_limit_is_shared_by_every_worker(make_app):
    workers = [make_app(**ASANA).test_client(), make_app(**ASANA).test_client()]
    answers = [_auth(workers[i % 2], "203.0.113.7").status_code for i in range(31)]
    assert answers[:30] == [302] * 30
    assert answers[30] == 429
    assert _auth(workers[0], "203.0.113.8").status_code == 302  # another client is fine


def test_rotating_addresses_grow_no_table_and_lock_nobody_out(make_app, monkeypatch):
    """Issue 16 §7: anonymous sign-ins keep their state in a signed value, so a flood
    from rotating addresses writes no row and the pending-flow cap never refuses anyone
    (before: 5,000 starts refused every sign-in for ten minutes)."""
    monkeypatch.setattr(pending, "MAX_PENDING", 40)
    app = make_app(**ASANA)
    statuses = [_auth(app.test_client(), f"198.51.100.{i}").status_code for i in range(60)]
    assert statuses == [302] * 60
    with app.app_context():
        assert PendingAuth.select().count() == 0 and UsedOAuthState.select().count() == 0
    assert _auth(app.test_client(), "198.51.100.200").status_code == 302


def test_a_known_user_keeps_only_their_latest_flows(app):
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1", name="W")
        instance = JiraInstance.create(workspace=ws, base_url="https://j.example",
                                       auth_mode="oauth2")
        user = AsanaUser.create(gid="2", email="a@example.com")
        first, _ = pending.start("jira2_user", browser="b1", asana_user=user,
                                 instance=instance)
        for i in range(pending.MAX_PER_OWNER + 5):  # from other browsers too
            pending.start("jira2_user", browser=f"b{i + 2}", asana_user=user,
                          instance=instance)
        assert PendingAuth.select().count() == pending.MAX_PER_OWNER
        with pytest.raises(pending.StateMismatch):
            pending.consume(first, "jira2_user", browser="b1")  # the oldest was dropped


def test_purge_removes_expired_flows_and_old_windows(app, monkeypatch):
    # No opportunistic purge from limits.hit here (it runs when a minute has passed since
    # the process's last one, and would remove the old window before purge() is asked).
    monkeypatch.setattr(limits, "PURGE_EVERY", float("inf"))
    with app.app_context():
        pending.start("user_auth", browser="b1")
        old, _ = pending.start("user_auth", browser="b2")
        PendingAuth.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
            PendingAuth.browser_hash == pending._hash("b2")).execute()
        limits.hit("k", 5, 60, now=1_000_000.0)
        limits.hit("k", 5, 60, now=2_000_000_000.0)
        assert maintenance.purge() == {"pending_auth": 1, "rate_counts": 1}
        assert PendingAuth.select().count() == 1 and RateCount.select().count() == 1


def test_sliding_window_counts_the_previous_window_in_part(app):
    with app.app_context():
        assert all(limits.hit("s", 10, 60, now=60.0 * 1000 + 50) for _ in range(10))
        # 30 s into the next window, half of the previous ten still count.
        now = 60.0 * 1001 + 30
        assert all(limits.hit("s", 10, 60, now=now) for _ in range(5))
        assert not limits.hit("s", 10, 60, now=now)


@pytest.mark.parametrize("window", [1, 60, 3600])
def test_a_key_longer_than_the_column_still_counts(app, window):
    with app.app_context():
        key = "view:" + "x" * 400
        assert limits.hit(key, 1, window, now=5000.0)
        assert not limits.hit(key, 1, window, now=5000.0)
