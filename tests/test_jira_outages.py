"""Which Jira failures make the widget stop asking an instance for a while (issue 16 §4):
only an unwell Jira, seen on more than one call, never one user's refusal."""

from __future__ import annotations

import pytest

from bridge.jira import errors
from bridge.services.jira_outages import BACKOFF, THRESHOLD, WINDOW, Outages, counts


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Answer:
    """Just enough of a requests.Response for ``errors.error_from_response``."""

    def __init__(self, status: int, text: str = "", headers: dict | None = None):
        self.status_code = status
        self.text = text
        self.headers = {"Content-Type": "text/plain", **(headers or {})}

    def json(self):
        raise ValueError("not JSON")


NOT_JIRAS_FAULT = [
    Answer(401),
    Answer(401, "oauth_problem=signature_invalid&oauth_signature_base_string=GET%26x",
           {"WWW-Authenticate": 'OAuth realm="x", oauth_problem="signature_invalid"'}),
    Answer(401, "oauth_problem=token_rejected"),
    Answer(403), Answer(404), Answer(400), Answer(429, headers={"Retry-After": "3"}),
]


@pytest.mark.parametrize("answer", NOT_JIRAS_FAULT, ids=lambda a: str(a.status_code))
def test_one_users_refusals_never_count(answer):
    error = errors.error_from_response(answer)
    assert not counts(error)
    outages = Outages(Clock())
    for n in range(THRESHOLD * 5):
        assert not outages.failed(1, (f"user{n % 3}", f"EX-{n}"), error)
    assert not outages.is_down(1)


@pytest.mark.parametrize("error", [errors.error_from_response(Answer(503)),
                                   errors.error_from_response(Answer(500)),
                                   errors.JiraTimedOut(), errors.JiraUnavailable()])
def test_an_unwell_jira_seen_on_several_calls_is_down_for_a_while(error):
    clock = Clock()
    outages = Outages(clock)
    assert counts(error)
    for n in range(THRESHOLD - 1):
        assert not outages.failed(1, ("alice", f"EX-{n}"), error)
    assert outages.failed(1, ("bob", "EX-1"), error)
    assert outages.is_down(1) and not outages.is_down(2)
    clock.now += BACKOFF + 0.01
    assert not outages.is_down(1)


def test_one_call_failing_again_and_again_is_not_an_outage():
    outages = Outages(Clock())
    for _ in range(THRESHOLD * 5):
        outages.failed(1, ("alice", "EX-1"), errors.JiraUnavailable())
    assert not outages.is_down(1)


def test_a_success_or_the_window_forgets_earlier_failures():
    clock = Clock()
    outages = Outages(clock)
    for n in range(THRESHOLD - 1):
        outages.failed(1, ("alice", f"EX-{n}"), errors.JiraUnavailable())
    outages.succeeded(1)
    assert not outages.failed(1, ("bob", "EX-9"), errors.JiraUnavailable())
    for n in range(THRESHOLD - 1):
        outages.failed(1, ("alice", f"EX-{n}"), errors.JiraUnavailable())
    clock.now += WINDOW + 1
    assert not outages.failed(1, ("bob", "EX-9"), errors.JiraUnavailable())
    assert not outages.is_down(1)


def test_one_users_5xx_answers_on_many_issues_are_not_an_outage():
    """Issue 16 §4: Jira answered, so one user's 5xx on several issues may be about that
    user or those issues; only several users seeing them mark the instance down. A
    refused connection or a timeout says nothing about the user: two calls suffice."""
    outages = Outages(Clock())
    server_error = errors.error_from_response(Answer(500))
    for n in range(THRESHOLD * 5):
        assert not outages.failed(1, ("alice", f"EX-{n}"), server_error)
    assert not outages.is_down(1)
    assert outages.failed(1, ("bob", "EX-1"), server_error)

    outages = Outages(Clock())
    for n in range(THRESHOLD - 1):
        assert not outages.failed(1, ("alice", f"EX-{n}"), errors.JiraTimedOut())
    assert outages.failed(1, ("alice", "EX-9"), errors.JiraTimedOut())
