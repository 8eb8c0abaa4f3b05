"""Settings and addresses an attacker or a sloppy operator writes (issue 11 §9).

``BRIDGE_PUBLIC_URL=HTTPS://...`` dropped the cookie's Secure flag and leaked the
upper-case scheme into ``redirect_uri``; IPv6 loopback was refused while 127.0.0.1 was
allowed, and the metadata address wrapped in IPv6 (6to4, NAT64, mapped) passed.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.config import ConfigError, load
from bridge.jira.urls import InvalidJiraURL, check_resolved, normalize_base_url


@pytest.mark.parametrize(("raw", "expected"), [
    ("HTTPS://Bridge.Example.COM", "https://bridge.example.com"),
    ("https://BRIDGE.example.com:443/", "https://bridge.example.com"),
    ("HTTP://127.0.0.1:80/bridge/", "http://127.0.0.1/bridge"),
    ("http://[::1]:8080", "http://[::1]:8080"),
])
def test_public_url_scheme_and_host_are_normalised(raw, expected):
    assert load({"PUBLIC_URL": raw}).public_url == expected


@pytest.mark.parametrize("raw", ["https://user:pw@bridge.example.com",
                                 "https://bridge.example.com/?x=1",
                                 "https://bridge.example.com:http"])
def test_public_url_with_credentials_query_or_bad_port_is_refused(raw):
    with pytest.raises(ConfigError, match="BRIDGE_PUBLIC_URL"):
        load({"PUBLIC_URL": raw})


def test_upper_case_https_public_url_keeps_cookie_secure_and_redirect_uri_canonical(make_app):
    app = make_app(PUBLIC_URL="HTTPS://Bridge.Example.COM:443/",
                   ASANA_CLIENT_ID="1209", ASANA_CLIENT_SECRET="asana-secret-0123456789")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/asana/auth")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://bridge.example.com/oauth/asana/callback"]
    assert "Secure" in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(("raw", "expected"), [
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("http://[::ffff:127.0.0.1]:8080/jira", "http://[::ffff:127.0.0.1]:8080/jira"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("https://[2001:db8::10]", "https://[2001:db8::10]"),
    ("https://[::ffff:10.0.0.5]", "https://[::ffff:10.0.0.5]"),
])
def test_ipv6_loopback_and_private_addresses_are_allowed_like_ipv4(raw, expected):
    assert normalize_base_url(raw) == expected


@pytest.mark.parametrize("raw", [
    "http://[2002:a9fe:a9fe::]",             # 6to4 of 169.254.169.254
    "http://[2002:a9fe:0101::1]",            # 6to4 of link-local 169.254.1.1
    "http://[64:ff9b::a9fe:a9fe]",           # NAT64 of the metadata address
    "http://[64:ff9b::169.254.169.254]",
    "http://[::ffff:169.254.169.254]",       # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]",
    "http://[::169.254.169.254]",            # IPv4-compatible
    "http://[2001:0:4136:e378:8000:63bf:5601:5601]",  # Teredo, client 169.254.169.254
    "http://[::ffff:0.0.0.0]", "http://[::]", "http://0.0.0.1",
    "http://[fe80::1%25eth0]", "http://[fd00:ec2::254]",
])
def test_metadata_and_link_local_wrapped_in_ipv6_are_refused(raw):
    with pytest.raises(InvalidJiraURL):
        normalize_base_url(raw)


def test_names_resolving_to_wrapped_metadata_are_refused(monkeypatch):
    import socket

    def fake_getaddrinfo(host, *args, **kwargs):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:a9fe:a9fe::", 0, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(InvalidJiraURL, match="metadata"):
        check_resolved("http://sneaky.example")


@pytest.mark.e2e
def test_a_jira_simulator_on_ipv6_loopback_is_probed_like_one_on_127_0_0_1():
    from bridge_sandbox.jira import create_jira_simulator
    from bridge_sandbox.liveserver import LiveServer

    from bridge.services.instances import probe

    server = LiveServer(host="::1")
    assert server.url.startswith("http://[::1]:")
    server.app = create_jira_simulator(version="8.20.0", base_url=server.url)
    with server:
        found = probe(server.url, timeout=5)
    assert found.base_url == server.url
    assert found.reported_base_url == server.url
    assert found.version_numbers[:2] == (8, 20)
