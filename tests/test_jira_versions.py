"""Jira's version read as numbers (``bridge.jira.versions``), and every gate that reads it.

As text, "10.3.0" >= "8.22" is false and "9.12.0" > "10.3.0" is true: a gate written that
way sends every Jira 10 and 11 down the path of Jira 7. These tests fail if any of the
bridge's gates, or the helper the tests pick their paths with, compares text again."""

from __future__ import annotations

import pytest

from bridge.jira import versions
from bridge.jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from bridge.models import JiraInstance
from bridge.services import webhooks
from bridge.services.instances import JiraProbe


@pytest.mark.parametrize(("text", "numbers"), [
    ("10.3.19", (10, 3, 19)), ("8.20.0", (8, 20, 0)), ("9.12", (9, 12)),
    ("11.1.0", (11, 1, 0)), ("10.0.0-m0003", (10, 0, 0)), ("8.22.6-EAP01", (8, 22, 6)),
    (" 9.4.0", (9, 4, 0)), ("8.x", (8,)), ("", None), (None, None), ("x.1", None),
])
def test_a_version_text_is_read_as_its_leading_numbers(text, numbers):
    assert versions.parse(text) == numbers


@pytest.mark.parametrize(("version", "floor", "expected"), [
    ("10.3.0", (8, 22), True),   # as text: False
    ("11.1.0", (8, 22), True),   # as text: False
    ("9.12.0", (10, 0), False),  # as text: True ("9" > "1")
    ("10.0.0", (10, 0), True), ("10.0.0-m0003", (10, 0), True),
    ("8.22", (8, 22, 0), True), ((8, 22, 0), (8, 22), True), ((8, 22), (8, 22, 0), True),
    ("8.21.9", (8, 22), False), ("8.3.0", (8, 22), False), ((8, 4), (8, 22), False),
    ("8", (8, 22), False), ((10,), (10, 0), True),
    ("7.13.0", (8, 4), False), ("8.4.0", (8, 4), True), ((10, 3, 19), (8, 4), True),
    (None, (8, 22), False), ("unknown", (0,), False), ((), (0,), True),
])
def test_at_least_compares_numbers(version, floor, expected):
    assert versions.at_least(version, floor) is expected


@pytest.mark.parametrize("values", [
    [8, 20, 0], ["8", "20", "0"], (10, 3, 19), [0],
])
def test_version_numbers_are_whole_numbers(values):
    assert versions.from_numbers(values) == tuple(int(v) for v in values)


@pytest.mark.parametrize("values", [
    ["8", "x"], [8.5, 1], [True], [10**30], list(range(100)), [], "8.20.0", None, [-1],
    {"8": 20},
])
def test_anything_else_is_not_version_numbers(values):
    with pytest.raises((TypeError, ValueError)):
        versions.from_numbers(values)


@pytest.mark.parametrize(("version", "signs"), [
    ("9.12.0", False), ("10.3.19", True), ("11.1.0", True), ("10.0.0-m0003", True),
    ("8.20.0", False), ("", False), (None, False),
])
def test_webhook_signing_is_gated_on_the_version_numbers(version, signs):
    """A Jira 10 whose version text has a suffix (a milestone or EAP build) was read as
    no version at all (``int("0-m0003")`` failed), so its webhooks went unsigned."""
    assert webhooks.supports_signing(JiraInstance(version=version)) is signs


@pytest.mark.parametrize(("numbers", "oauth2"), [
    ((7, 13, 0), False), ((8, 20, 0), False), ((8, 22, 0), True), ((9, 12, 0), True),
    ((10, 3, 19), True), ((11, 1, 0), True), ((8, 22), True), ((8,), False), ((9,), True),
])
def test_oauth2_is_recommended_from_8_22(numbers, oauth2):
    found = JiraProbe(base_url="https://jira.example", version=".".join(map(str, numbers)),
                      version_numbers=numbers, server_title="", reported_base_url="")
    assert found.supports_oauth2 is oauth2
    assert versions.at_least(numbers, OAUTH2_FIRST_VERSION) is oauth2
