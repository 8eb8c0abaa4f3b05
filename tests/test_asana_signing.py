"""Asana's App Components signatures (asana-app-components.md §4.1-4.2), checked against
known-good vectors computed independently of the bridge's code (tests/vectors, made by
scripts/make-test-vectors; the upstream vectors too where they are beside the
repository), and every way a request can be
forged, altered, replayed or malformed."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
import upstream

from bridge.asana import signing
from bridge.asana.errors import (
    AsanaRequestExpired,
    AsanaRequestMalformed,
    AsanaRequestRejected,
    AsanaSignatureInvalid,
)

VECTORS = upstream.vectors("asana-signature.json")
SECRET = VECTORS["client_secret"]
BEFORE = dt.datetime(2026, 12, 1, 9, 59, 59, tzinfo=dt.UTC)  # vectors expire at 10:00:00
AFTER = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


def _at(moment):
    return lambda: moment


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_known_good_vectors(case):
    assert signing.sign(SECRET, case["message"]) == case["x_asana_request_signature"]
    if case["method"] == "GET":
        call = signing.verify_get(SECRET, case["message"].encode(),
                                  case["x_asana_request_signature"], now=_at(BEFORE))
    else:
        body = json.dumps({"data": case["message"]}).encode()
        call = signing.verify_post(SECRET, body, case["x_asana_request_signature"],
                                   now=_at(BEFORE))
    assert call.user == "34567" and call.workspace == "12345"
    assert call.expires_at == AFTER


@pytest.mark.upstream
def test_upstream_vectors():
    theirs = upstream.shared_json("vectors", "asana-signature.json")
    assert theirs["cases"], "the upstream vector file has no cases"
    for case in theirs["cases"]:
        assert signing.sign(theirs["client_secret"], case["message"]) == \
            case["x_asana_request_signature"], case["name"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vectors_are_refused_once_expired(case):
    with pytest.raises(AsanaRequestExpired):
        if case["method"] == "GET":
            signing.verify_get(SECRET, case["message"], case["x_asana_request_signature"],
                               now=_at(AFTER))
        else:
            signing.verify_post(SECRET, json.dumps({"data": case["message"]}),
                                case["x_asana_request_signature"], now=_at(AFTER))


def test_get_reads_parameters_from_the_signed_raw_query():
    case = VECTORS["cases"][0]
    call = signing.verify_get(SECRET, case["message"], case["x_asana_request_signature"],
                              now=_at(BEFORE))
    assert call.task == "23456" and call.attachment == "45678" and call.locale == "en"
    assert call.resource_url == "https://jira.example.com/browse/EX-1"
    typeahead = VECTORS["cases"][1]
    call = signing.verify_get(SECRET, typeahead["message"],
                              typeahead["x_asana_request_signature"], now=_at(BEFORE))
    assert call.text == "login fails now"  # %20 and + both mean a space in a query


def test_post_reads_values_and_keeps_unicode():
    case = VECTORS["cases"][2]
    call = signing.verify_post(SECRET, json.dumps({"data": case["message"]}),
                               case["x_asana_request_signature"], now=_at(BEFORE))
    assert call.values == {"summary": "Läuft nicht", "project": "EX", "copy": ["yes"]}
    run = VECTORS["cases"][3]
    call = signing.verify_post(SECRET, json.dumps({"data": run["message"]}),
                               run["x_asana_request_signature"], now=_at(BEFORE))
    assert (call.target_object, call.action, call.idempotency_key) == ("23456", "111", "k-1")


@pytest.mark.parametrize("tamper", [
    lambda m: m.replace("user=34567", "user=34568"),  # another user
    lambda m: m.replace("task=23456&", ""),  # a parameter dropped
    lambda m: m + "&user=1",  # a parameter added
    lambda m: m.replace("%3A", ":"),  # same values, other escaping (§10.3)
    lambda m: "&".join(reversed(m.split("&"))),  # same parameters, other order
])
def test_an_altered_get_fails(tamper):
    case = VECTORS["cases"][0]
    with pytest.raises(AsanaSignatureInvalid):
        signing.verify_get(SECRET, tamper(case["message"]), case["x_asana_request_signature"],
                           now=_at(BEFORE))


def test_an_altered_or_reserialised_post_fails():
    case = VECTORS["cases"][2]
    sig = case["x_asana_request_signature"]
    spaced = json.dumps(json.loads(case["message"]))  # same object, other spacing
    compact = json.dumps(json.loads(case["message"]), separators=(",", ":"))
    for message in (case["message"].replace("34567", "34568"), compact, spaced + " "):
        with pytest.raises(AsanaSignatureInvalid):
            signing.verify_post(SECRET, json.dumps({"data": message}), sig, now=_at(BEFORE))


def test_forged_missing_and_odd_signatures_fail():
    case = VECTORS["cases"][0]
    message, sig = case["message"], case["x_asana_request_signature"]
    forged = signing.sign("another-apps-secret", message)
    for bad in (forged, None, "", sig[:-1], sig + "0", "zz" * 32, sig.encode().hex()[:64]):
        with pytest.raises(AsanaSignatureInvalid):
            signing.verify_get(SECRET, message, bad, now=_at(BEFORE))
    # Uppercase hex of the right digest is the same signature.
    assert signing.verify_get(SECRET, message, sig.upper(), now=_at(BEFORE)).user == "34567"


def test_signature_is_checked_before_the_body_is_trusted():
    # A body whose data is not JSON, unsigned: the signature fails first.
    with pytest.raises(AsanaSignatureInvalid):
        signing.verify_post(SECRET, json.dumps({"data": "not json"}), "0" * 64)


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"data": {"user": "1"}}',
                                  b'{"values": {}}', b"\xff\xfe"])
def test_malformed_post_bodies_are_refused(body):
    with pytest.raises(AsanaRequestMalformed):
        signing.verify_post(SECRET, body, "0" * 64)


def _signed_post(params) -> tuple[str, str]:
    message = json.dumps(params)
    return json.dumps({"data": message}), signing.sign(SECRET, message)


@pytest.mark.parametrize("params, problem", [
    ({"workspace": "1", "expires_at": "2026-12-01T10:00:00.000Z"}, "no user"),
    ({"user": "1", "expires_at": "2026-12-01T10:00:00.000Z"}, "no workspace"),
    ({"user": "1", "workspace": "2"}, "no expires_at"),
    ({"user": "1", "workspace": "2", "expires_at": "tomorrow"}, "not a time"),
    ({"user": "x1", "workspace": "2", "expires_at": "2026-12-01T10:00:00Z"}, "not an Asana id"),
    ({"user": "1", "workspace": "2", "expires_at": "2026-12-01T10:00:00Z", "values": []},
     "not an object"),
    ({"user": "1", "workspace": "2", "expires_at": "2026-12-01T10:00:00Z", "query": 5},
     "not text"),
])
def test_signed_but_malformed_data_is_refused_with_a_sentence(params, problem):
    body, sig = _signed_post(params)
    with pytest.raises(AsanaRequestMalformed) as err:
        signing.verify_post(SECRET, body, sig, now=_at(BEFORE))
    assert problem in err.value.public_message
    assert err.value.status == 400


def test_numeric_gids_and_legacy_millisecond_expiry_are_accepted():
    expires_ms = int(AFTER.timestamp() * 1000)
    body, sig = _signed_post({"user": 34567, "workspace": 12345, "task": 23456,
                              "expires_at": expires_ms})
    call = signing.verify_post(SECRET, body, sig, now=_at(BEFORE))
    assert (call.user, call.workspace, call.task) == ("34567", "12345", "23456")
    with pytest.raises(AsanaRequestExpired):
        signing.verify_post(SECRET, body, sig, now=_at(AFTER))


def test_typeahead_text_falls_back_from_query_to_value_to_fragment():
    base = "workspace=1&user=2&expires_at=2026-12-01T10%3A00%3A00.000Z"
    for extra, text in (("&query=A&value=B&fragment=C", "A"), ("&value=B&fragment=C", "B"),
                        ("&fragment=C", "C"), ("", "")):
        message = base + extra
        call = signing.verify_get(SECRET, message, signing.sign(SECRET, message),
                                  now=_at(BEFORE))
        assert call.text == text


def test_errors_are_one_family_of_400s():
    for cls in (AsanaSignatureInvalid, AsanaRequestExpired, AsanaRequestMalformed):
        assert issubclass(cls, AsanaRequestRejected) and cls().status == 400
        assert cls().public_message.endswith(".")


@pytest.mark.parametrize("expires_at, problem", [
    ("9999-12-31T23:59:59.999Z", "too far in the future"),
    ("2026-12-01T10:07:01Z", "too far in the future"),  # beyond now + MAX_AHEAD
    ("2026-12-01T12:00:00+01:00", "too far in the future"),  # 11:00 UTC
    (int(dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp() * 1000), "too far in the future"),
    ("2026-12-01T10:00:30", "no time zone"),
    ("2026-12-01T10:00:30.000", "no time zone"),
    ("2026-12-02", "no time zone"),
    # in UTC these leave the calendar: astimezone raised OverflowError (a 500)
    ("0001-01-01T00:00:00+01:00", "not a time"),
    ("9999-12-31T23:59:59-01:00", "not a time"),
])
def test_expires_at_is_bounded_and_carries_its_zone(expires_at, problem):
    now = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)
    body, sig = _signed_post({"user": "1", "workspace": "2", "expires_at": expires_at})
    with pytest.raises(AsanaRequestMalformed) as err:
        signing.verify_post(SECRET, body, sig, now=_at(now))
    assert problem in err.value.public_message and err.value.status == 400
    query = urlencode({"user": "1", "workspace": "2", "expires_at": expires_at})
    with pytest.raises(AsanaRequestMalformed):
        signing.verify_get(SECRET, query, signing.sign(SECRET, query), now=_at(now))


@pytest.mark.parametrize("expires_at", ["2026-12-01T10:00:01Z", "2026-12-01T10:07:00Z",
                                        "2026-12-01T11:06:00+01:00",
                                        "2026-12-01T10:05:00.123456+00:00"])
def test_expires_at_within_the_window_is_accepted(expires_at):
    now = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)
    assert signing.MAX_AHEAD == dt.timedelta(minutes=7)
    body, sig = _signed_post({"user": "1", "workspace": "2", "expires_at": expires_at})
    assert signing.verify_post(SECRET, body, sig, now=_at(now)).expires_at > now
