"""Anonymous sign-ins' signed ``state`` (services.pending, issue 16 §7): no row until it
is used, then single use; bound to its browser, its kind and the bridge's key; expiring;
the PKCE verifier never travels in it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading

import pytest

from bridge.models import UsedOAuthState
from bridge.services import pending
from bridge.services.pending import StateMismatch

KEY = b"k" * 32


def _issue(**kw):
    return pending.issue_signed("user_auth", key=KEY, browser="browser-1", **kw)


def test_a_state_is_used_once(app):
    with app.app_context():
        state, verifier = _issue(return_url="/jira/connect")
        assert UsedOAuthState.select().count() == 0  # issuing stores nothing
        used = pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
        assert (used.kind, used.pkce_verifier, used.return_url) == \
            ("user_auth", verifier, "/jira/connect")
        assert len(verifier) >= 43
        with pytest.raises(StateMismatch):
            pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
        assert UsedOAuthState.select().count() == 1


def test_the_verifier_does_not_travel_in_the_state(app):
    state, verifier = _issue()
    payload = state.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert verifier not in state and verifier.encode() not in decoded
    assert b"browser-1" not in decoded  # the browser id is an HMAC, not the id
    assert set(json.loads(decoded)) == {"k", "n", "b", "r"}


@pytest.mark.parametrize("change", ["browser", "kind", "key", "tamper", "expired", "empty"])
def test_a_state_is_refused_elsewhere_and_stays_usable_by_its_browser(app, change):
    with app.app_context():
        state, _ = _issue()
        args = {"kinds": ("user_auth",), "key": KEY, "browser": "browser-1"}
        if change == "browser":
            args["browser"] = "browser-2"
        elif change == "kind":
            args["kinds"] = ("admin_signin",)
        elif change == "key":
            args["key"] = b"x" * 32
        elif change == "tamper":
            state = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
        elif change == "empty":
            state = ""
        ttl = dt.timedelta(seconds=-1) if change == "expired" else pending.TTL
        with pytest.raises(StateMismatch):
            pending.consume_signed(state, args["kinds"], key=args["key"],
                                   browser=args["browser"], ttl=ttl)
        if change in ("browser", "kind", "key"):  # nothing used up: its own browser may
            pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")


def test_two_requests_racing_with_one_state_one_wins(app):
    with app.app_context():
        state, _ = _issue()
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def use():
        with app.app_context():
            barrier.wait()
            try:
                pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
                outcomes.append("ok")
            except StateMismatch:
                outcomes.append("refused")
            finally:
                app.extensions["bridge.db"].close()

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]


def test_used_nonces_are_purged_once_their_state_expired(app):
    from bridge.models import utcnow
    from bridge.services import maintenance

    with app.app_context():
        state, _ = _issue()
        pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
        UsedOAuthState.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
        assert maintenance.purge()["pending_auth"] == 1
        assert UsedOAuthState.select().count() == 0


def test_a_used_state_stays_used_for_as_long_as_it_is_accepted(app, monkeypatch):
    """itsdangerous accepts a state while ``int(now) - issued <= max_age``: up to a second
    past ``issued + TTL``. The used nonce must outlive that (and a purge on a node whose
    clock runs a little ahead), or the state can be used a second time."""
    from itsdangerous import timed

    with app.app_context():
        state, _ = _issue()
        pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
        issued = pending._serializer(KEY).loads(state, return_timestamp=True)[1]
        moment = issued.timestamp() + pending.TTL.total_seconds() + 0.5
        monkeypatch.setattr(timed.TimestampSigner, "get_timestamp",
                            lambda self: int(moment))  # still accepted by itsdangerous
        later = dt.datetime.fromtimestamp(moment + 30, dt.UTC).replace(tzinfo=None)
        monkeypatch.setattr(pending, "utcnow", lambda: later)  # a purge, clock 30 s ahead
        pending.purge_expired()
        with pytest.raises(StateMismatch):
            pending.consume_signed(state, ("user_auth",), key=KEY, browser="browser-1")
