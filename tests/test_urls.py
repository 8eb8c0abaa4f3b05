"""Jira base URL normalisation and refusals (Cloud, metadata, non-http)."""

import pytest

from bridge.jira.urls import InvalidJiraURL, JiraCloudURL, check_resolved, normalize_base_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Jira.Example.com/", "https://jira.example.com"),
        ("https://jira.example.com:443/jira/", "https://jira.example.com/jira"),
        ("http://jira.example.com:80", "http://jira.example.com"),
        ("http://127.0.0.1:8090/jira", "http://127.0.0.1:8090/jira"),
        ("jira.example.com", "https://jira.example.com"),
        ("https://jira.example.com/jira/browse/EX-1?x=1#c", "https://jira.example.com/jira"),
        ("https://jira.example.com/secure/Dashboard.jspa", "https://jira.example.com"),
    ],
)
def test_normalize(raw, expected):
    assert normalize_base_url(raw) == expected


@pytest.mark.parametrize("raw", ["https://acme.atlassian.net", "acme.jira.com",
                                 "https://ACME.Atlassian.NET/browse/X-1"])
def test_cloud_urls_are_refused_with_a_pointer(raw):
    with pytest.raises(JiraCloudURL, match="Jira Cloud integration"):
        normalize_base_url(raw)


@pytest.mark.parametrize("raw", ["ftp://jira", "http://169.254.169.254/latest",
                                 "http://metadata.google.internal", "https://u:p@jira.x",
                                 "", "http://[fe80::1]/", "http://0.0.0.0",
                                 # the metadata address spelled in ways resolvers accept
                                 "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/",
                                 "http://0251.0376.0251.0376/", "http://169.254.43518/"])
def test_other_bad_urls_are_refused(raw):
    with pytest.raises(InvalidJiraURL):
        normalize_base_url(raw)


def test_names_resolving_to_forbidden_addresses_are_refused(monkeypatch):
    import socket

    def fake_getaddrinfo(host, *args, **kwargs):
        table = {"metadata.attacker.example": "169.254.169.254",
                 "jira.corp.example": "10.1.2.3"}
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(InvalidJiraURL, match="metadata"):
        check_resolved("http://metadata.attacker.example")
    check_resolved("https://jira.corp.example")  # a private address is a normal Jira
