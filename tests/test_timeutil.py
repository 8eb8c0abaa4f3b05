"""Token lifetimes from Jira's and Asana's token answers (``expires_in``) become expiry
times whatever the number: a hostile or broken server must not crash a sign-in or a
refresh (the widget refreshes tokens on its way to Jira)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge.timeutil import MAX_LIFETIME, expiry, utcnow


@pytest.mark.parametrize("expires_in", [10**20, json.loads("1e400"), float("inf"),
                                        "99999999999999999999"])
def test_a_lifetime_too_long_for_the_calendar_is_capped(expires_in):
    # int(inf) raised OverflowError; 10**20 seconds overflowed timedelta.
    at = expiry(expires_in)
    assert utcnow() + MAX_LIFETIME - dt.timedelta(seconds=5) <= at <= utcnow() + MAX_LIFETIME


@pytest.mark.parametrize("expires_in, seconds", [(3600, 3600), ("120", 120), (None, 3600),
                                                 ("soon", 3600), (float("nan"), 3600),
                                                 (-5, 0)])
def test_ordinary_and_malformed_lifetimes(expires_in, seconds):
    at = expiry(expires_in)
    assert abs((at - utcnow()).total_seconds() - seconds) < 5
