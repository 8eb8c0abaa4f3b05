"""Malformed input answers with a sentence, never a 500 or a traceback (issue 11 §5).

The cases the probe found, one by one, then property-based tests (hypothesis, with a
bounded number of examples so CI time stays fixed) that throw generated URLs at the URL
normaliser and at ``jira add``. Every connection the CLI makes is sent to one loopback
Jira simulator by a fake resolver: generated host names never leave the machine.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest

from bridge.cli import main
from bridge.jira.urls import MAX_LENGTH, InvalidJiraURL, normalize_base_url, refuse_address

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BAD_URLS = [
    "http://foo..bar",
    "http://" + "a" * 64 + ".example.com",
    "http://" + "ü" * 70 + ".example.com",
    "http://[::1",
    "http://[zz]",
    "https://jira.example.com/" + "x" * 600,
    "http://jira.example.com:0",
    "http://jira.example.com:99999",
    "http://jira.example.com/a b",
    "http://jira\x00.example.com",
    "http://-jira.example.com",
]


@pytest.mark.parametrize("raw", BAD_URLS)
def test_each_malformed_url_is_refused_with_a_sentence(raw):
    with pytest.raises(InvalidJiraURL) as caught:
        normalize_base_url(raw)
    message = caught.value.public_message
    assert message.endswith(".") and "Traceback" not in message and len(message) < 200


@pytest.mark.parametrize("raw", BAD_URLS)
def test_jira_add_answers_a_malformed_url_with_a_sentence(app, runner, raw):
    result = runner.invoke(main, ["jira", "add", "--workspace", "1", "--", raw])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ")
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args", [["jira", "remove", "1" * 23, "--yes"],
                                  ["doctor", "--instance", "9" * 23]])
def test_cli_refuses_ids_beyond_the_column(app, runner, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "range" in result.output


@pytest.mark.parametrize("path", ["/asana/auth/jira/{id}",
                                  "/jira/instances/{id}/confirm",
                                  "/jira/instances/{id}/applink"])
def test_an_instance_id_of_23_digits_is_not_found_rather_than_a_crash(client, path):
    with client.session_transaction() as session:
        session["admin"] = {"email": "alice@example.com", "name": "Alice"}
    response = client.get(path.format(id="1" * 23))
    assert response.status_code == 404, response.get_data(as_text=True)[:300]


# -- generated input ------------------------------------------------------------------------

_HOST_CHARS = st.sampled_from(list("abcxyz019-_.üπ%[]:@ ") + ["\x00", "\n", "ａ"])
_hosts = st.one_of(
    st.text(_HOST_CHARS, min_size=0, max_size=80),
    st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.lists(st.text("abcdef0123456789-", min_size=1, max_size=70), min_size=1, max_size=5)
    .map(".".join),
)
_urls = st.one_of(
    st.text(max_size=200),
    st.builds(lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
              st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "", "//"]),
              _hosts,
              st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"),
                        st.text("0123456789x", max_size=7).map(lambda p: f":{p}")),
              st.text(max_size=60).map(lambda p: "/" + p)),
)


@settings(max_examples=300, deadline=None)
@given(_urls)
def test_the_normaliser_returns_a_canonical_url_or_a_sentence(raw):
    try:
        url = normalize_base_url(raw)
    except InvalidJiraURL as exc:
        assert exc.public_message.endswith(".")
        return
    assert len(url) <= MAX_LENGTH
    assert normalize_base_url(url) == url  # canonical: normalising again changes nothing
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert not any(ord(c) < 33 for c in url)
    try:
        refuse_address(ipaddress.ip_address(parts.hostname))
    except ValueError:
        pass  # a name, not an address


@pytest.fixture(scope="module")
def loopback_jira():
    from bridge_sandbox.jira import create_jira_simulator
    from bridge_sandbox.liveserver import LiveServer

    server = LiveServer()
    server.app = create_jira_simulator(version="8.20.0", base_url=server.url)
    with server:
        yield server


@pytest.fixture
def every_name_is_the_loopback_jira(loopback_jira, monkeypatch):
    """Whatever host a generated URL names, connections end at the loopback simulator."""
    real = socket.getaddrinfo
    target = ("127.0.0.1", loopback_jira.port)

    def resolve(host, port, *args, **kwargs):
        return real(*target, socket.AF_INET, socket.SOCK_STREAM)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_urls)
def test_jira_add_answers_any_url_with_a_result_or_a_sentence(app, runner,
                                                              every_name_is_the_loopback_jira,
                                                              raw):
    result = runner.invoke(main, ["jira", "add", "--workspace", "1", "--auth", "oauth1", "--",
                                  raw])
    assert result.exit_code in (0, 1), result.output
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    if result.exit_code == 1:
        assert result.output.startswith("Error: ") and "Traceback" not in result.output
