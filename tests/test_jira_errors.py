"""The Jira client's error mapping (jira-server.md §1.5, §2.6, §3.11), one answer at a
time: a narrow unit layer with ``responses`` (no simulator, no socket), so each shape of
failure Jira can send is pinned in milliseconds. The flows test the same client against
the simulator over real HTTP."""

from __future__ import annotations

import pytest
import requests
import responses

from bridge.jira.client import JiraClient
from bridge.jira.errors import (
    JiraBadAnswer,
    JiraError,
    JiraInvalidInput,
    JiraMisconfigured,
    JiraNeedsReconnect,
    JiraNotFound,
    JiraPermissionDenied,
    JiraRateLimited,
    JiraUnavailable,
)
from bridge.jira.signing import BearerAuth

BASE = "http://127.0.0.1:9"  # never reached: responses answers in place of the socket
MYSELF = BASE + JiraClient.MYSELF
SECRET_BODY = "upstream-secret-body-4b1d"


@pytest.fixture
def jira():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def _client(**kw) -> JiraClient:
    return JiraClient(BASE, BearerAuth("bearer-token-for-tests"), **kw)  # guarded session


def _fails(exc_type) -> JiraError:
    with pytest.raises(exc_type) as err:
        _client().myself()
    assert SECRET_BODY not in err.value.public_message
    return err.value


def test_oauth_problem_in_the_header_that_means_the_token_is_gone(jira):
    jira.get(MYSELF, status=401, headers={
        "WWW-Authenticate": 'OAuth realm="http://jira", oauth_problem="token_rejected"'})
    assert _fails(JiraNeedsReconnect).problem == "token_rejected"


def test_oauth_problem_in_the_body_that_an_admin_must_fix_keeps_the_base_string(jira):
    jira.get(MYSELF, status=401, content_type="text/plain",
             body="oauth_problem=signature_invalid&oauth_signature_base_string=GET%26x")
    err = _fails(JiraMisconfigured)
    assert (err.problem, err.jira_base_string) == ("signature_invalid", "GET&x")
    assert "base URL" in err.advice


def test_a_plain_401_asks_the_user_to_reconnect(jira):
    jira.get(MYSELF, status=401, json={"message": SECRET_BODY})
    assert _fails(JiraNeedsReconnect).problem == "unauthenticated"


def test_a_dead_bearer_token_reads_as_anonymous_and_the_credential_hears_of_it(jira):
    told = []
    jira.get(MYSELF, json={"name": "anonymous"}, headers={"X-AUSERNAME": "anonymous"})
    with pytest.raises(JiraNeedsReconnect):
        _client(on_reconnect=told.append).myself()
    assert [e.problem for e in told] == ["anonymous"]


@pytest.mark.parametrize(("status", "exc_type"), [(403, JiraPermissionDenied),
                                                   (404, JiraNotFound), (418, JiraError)])
def test_statuses_map_to_their_class(jira, status, exc_type):
    jira.get(MYSELF, status=status, body=SECRET_BODY)
    assert type(_fails(exc_type)) is exc_type


def test_field_errors_are_kept_for_the_form(jira):
    jira.get(MYSELF, status=400, json={"errorMessages": ["No."],
                                       "errors": {"summary": "You must specify a summary."}})
    err = _fails(JiraInvalidInput)
    assert err.field_errors == {"summary": "You must specify a summary."}
    assert err.messages == ["No."]


def test_a_400_whose_body_is_not_jiras_shape_has_no_field_errors(jira):
    jira.get(MYSELF, status=400, json=["not", "an", "object"])
    err = _fails(JiraInvalidInput)
    assert (err.field_errors, err.messages) == ({}, [])


@pytest.mark.parametrize(("status", "exc_type"), [(429, JiraRateLimited),
                                                   (503, JiraUnavailable)])
def test_retry_after_is_carried(jira, status, exc_type):
    jira.get(MYSELF, status=status, headers={"Retry-After": "7"}, body=SECRET_BODY)
    assert _fails(exc_type).retry_after == 7.0


def test_a_500_is_unavailable_without_a_retry_time(jira):
    jira.get(MYSELF, status=500, headers={"Retry-After": "7"}, body=SECRET_BODY)
    assert _fails(JiraUnavailable).retry_after is None


def test_a_redirect_is_a_misconfigured_base_url_and_is_not_followed(jira):
    jira.get(MYSELF, status=302, headers={"Location": BASE + "/login.jsp"})
    assert _fails(JiraMisconfigured).problem == "redirect"


def test_an_answer_that_is_not_json_is_not_understood(jira):
    jira.get(MYSELF, body="<html>" + SECRET_BODY, content_type="text/html")
    _fails(JiraBadAnswer)


def test_a_refused_connection_is_unavailable(jira):
    jira.get(MYSELF, body=requests.ConnectionError("refused " + SECRET_BODY))
    _fails(JiraUnavailable)


# Transport failures that are not "Jira is down": a misconfigured address or network path
# (an admin's fix), or an answer that broke on the way (Jira answered). Neither counts
# as an outage (services.jira_outages), and each says which it is.
NOT_AN_OUTAGE = [
    (requests.exceptions.InvalidURL("bad " + SECRET_BODY), JiraMisconfigured, "bad_url"),
    (requests.exceptions.MissingSchema("no scheme"), JiraMisconfigured, "bad_url"),
    (requests.exceptions.InvalidSchema("ftp"), JiraMisconfigured, "bad_url"),
    (requests.exceptions.InvalidProxyURL("proxy"), JiraMisconfigured, "proxy"),
    (requests.exceptions.ProxyError("proxy said 407"), JiraMisconfigured, "proxy"),
    (requests.exceptions.TooManyRedirects("30 redirects"), JiraMisconfigured, "redirect"),
    (requests.exceptions.ContentDecodingError("bad gzip"), JiraBadAnswer, None),
    (requests.exceptions.ChunkedEncodingError("broken chunk"), JiraBadAnswer, None),
]


@pytest.mark.parametrize(("raised", "exc_type", "problem"), NOT_AN_OUTAGE,
                         ids=[type(case[0]).__name__ for case in NOT_AN_OUTAGE])
def test_a_transport_failure_that_is_not_an_outage_says_what_it_is(jira, raised, exc_type,
                                                                    problem):
    from bridge.services.jira_outages import counts

    jira.get(MYSELF, body=raised)
    error = _fails(exc_type)
    assert not isinstance(error, JiraUnavailable) and not counts(error)
    assert getattr(error, "problem", None) == problem
    assert error.public_message != exc_type.public_message  # a sentence of its own
    assert "Jira" in error.public_message and error.public_message.endswith(".")


@pytest.mark.parametrize("raised", [requests.ConnectionError("refused"),
                                    requests.exceptions.ConnectTimeout("no SYN-ACK"),
                                    requests.exceptions.ReadTimeout("slow")],
                         ids=lambda v: type(v).__name__)
def test_refused_connections_and_timeouts_still_mean_jira_is_unavailable(jira, raised):
    from bridge.services.jira_outages import counts

    jira.get(MYSELF, body=raised)
    assert counts(_fails(JiraUnavailable))
