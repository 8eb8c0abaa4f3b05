"""Naming a Jira issue by key or pasted URL (issue 8 §4), and JQL built from user text that
no input can bend (jira-server.md §3.4)."""

from __future__ import annotations

import re

import pytest
from bridge_sandbox.jira import jql as sim_jql

from bridge.jira import issue_refs, jql

BASES = ["https://jira.example.com", "https://example.com/jira", "http://10.0.0.5:8080"]


@pytest.mark.parametrize("text, key, base", [
    ("https://jira.example.com/browse/ABC-12", "ABC-12", BASES[0]),
    ("https://JIRA.example.com:443/browse/abc-12/", "ABC-12", BASES[0]),
    ("https://jira.example.com/browse/ABC-12?focusedCommentId=1#comment-1", "ABC-12", BASES[0]),
    ("https://jira.example.com/projects/ABC/issues/ABC-12?filter=all", "ABC-12", BASES[0]),
    ("https://jira.example.com/secure/RapidBoard.jspa?rapidView=4&selectedIssue=ABC-7",
     "ABC-7", BASES[0]),
    ("https://example.com/jira/browse/OPS-3#top", "OPS-3", BASES[1]),
    ("https://example.com/jira/projects/OPS/issues/OPS-3", "OPS-3", BASES[1]),
    ("http://10.0.0.5:8080/browse/X_1-99", "X_1-99", BASES[2]),
    ("https://jira.example.com/secure/Dashboard.jspa", None, BASES[0]),
])
def test_urls_of_connected_instances(text, key, base):
    assert issue_refs.parse_url(text, BASES) == issue_refs.Ref(key, base)


@pytest.mark.parametrize("text", [
    "https://jira.evil.com/browse/ABC-12",
    "https://example.com/browse/ABC-12",  # the right host, outside the context path
    "https://example.com/jiraX/browse/ABC-12",
    "http://jira.example.com/browse/ABC-12",  # another scheme is another origin
    "https://jira.example.com:8443/browse/ABC-12",
    "http://10.0.0.5/browse/ABC-12",
    "https://user:pw@jira.example.com/browse/ABC-12",
    "ftp://jira.example.com/browse/ABC-12",
    "https://jira.example.com:99999/browse/ABC-12",
])
def test_other_hosts_are_refused(text):
    with pytest.raises(issue_refs.NotJiraOfWorkspace):
        issue_refs.parse_url(text, BASES)


@pytest.mark.parametrize("text", ["https://acme.atlassian.net/browse/ABC-12",
                                  "https://ACME.jira.com/browse/ABC-12",
                                  "https://atlassian.net./browse/ABC-12"])
def test_cloud_urls_are_refused_as_cloud(text):
    with pytest.raises(issue_refs.CloudURL):
        issue_refs.parse_url(text, BASES + ["https://acme.atlassian.net"])


def test_the_longest_context_path_wins():
    bases = ["https://example.com", "https://example.com/jira"]
    assert issue_refs.parse_url("https://example.com/jira/browse/A-1", bases).base_url == \
        bases[1]
    assert issue_refs.parse_url("https://example.com/browse/A-1", bases).base_url == bases[0]


@pytest.mark.parametrize("text, key", [("ABC-12", "ABC-12"), (" abc-12 ", "ABC-12"),
                                       ("A1_B-3", "A1_B-3"), ("ABC-0", None), ("ABC", None),
                                       ("12-ABC", None), ("ABC-12 OR 1=1", None),
                                       ("ABC-12\"", None)])
def test_keys(text, key):
    assert issue_refs.as_key(text) == key


def test_browse_url_is_canonical():
    assert issue_refs.browse_url("https://example.com/jira/", "ops-3") == \
        "https://example.com/jira/browse/OPS-3"


@pytest.mark.parametrize("text", [
    'login" OR project = SEC OR text ~ "x',
    "login) OR (key = SEC-1",
    "login \\\" OR key = SEC-1 --",
    "NOT login AND key:SEC-1 || summary ~ *",
    "ORDER BY key",
    "login\n OR key = SEC-1",
])
def test_free_text_cannot_change_the_query(text):
    query = jql.text_search(text)
    # One clause, one string literal, whatever was typed: the simulator's JQL parser (a
    # separate implementation) reads exactly a text search and an ordering.
    tokens = sim_jql.tokenize(query)
    strings = [t for t in tokens if t.kind == "string"]
    assert len(strings) == 1
    assert [t.value for t in tokens if t.kind != "string"][:2] == ["text", "~"]
    assert query.endswith(" ORDER BY updated DESC")
    assert set(strings[0].value.split()) <= {w.lower() for w in re.findall(r"\w+", text)}
    assert not any(op in strings[0].value for op in ("OR", "AND", "NOT", '"', "(", "*"))


def test_string_literals_escape_quotes_and_backslashes():
    assert jql.string('a"b\\c') == '"a\\"b\\\\c"'
    assert sim_jql.tokenize(jql.string('a"b\\c'))[0].value == 'a"b\\c'
    assert jql.text_search("  !!! ") is None


def test_keys_in_accepts_only_keys():
    assert jql.keys_in(["EX-1", "sec-2"]) == 'issuekey in ("EX-1", "SEC-2")'
    for bad in (["EX-1) OR (1=1"], [], ['EX-1"']):
        with pytest.raises(ValueError):
            jql.keys_in(bad)


@pytest.mark.parametrize("text", [
    "https://jira.example.com/browse/EX-2%0A",  # issue 16.4: "$" matched before a newline
    "https://jira.example.com/browse/EX-2%0A/",
    "https://jira.example.com/projects/EX/issues/EX-2%0A",
    "https://jira.example.com/secure/RapidBoard.jspa?selectedIssue=EX-2%0AX",
])
def test_a_key_followed_by_a_newline_is_no_key(text):
    assert issue_refs.parse_url(text, BASES).key is None


def test_validating_patterns_do_not_match_before_a_trailing_newline():
    from bridge.asana import signing
    from bridge.jira import urls

    assert issue_refs.KEY.match("EX-2") and not issue_refs.KEY.match("EX-2\n")
    with pytest.raises(ValueError):
        jql.keys_in(["EX-2\n"])
    assert signing._GID.match("123") and not signing._GID.match("123\n")
    assert not signing._HEX64.match("a" * 64 + "\n")
    assert urls._LABEL.match("jira") and not urls._LABEL.match("jira\n")


def test_no_validating_pattern_in_the_bridge_ends_in_a_dollar():
    """``$`` also matches before a trailing newline: validators end in ``\\Z``."""
    from pathlib import Path

    root = Path(issue_refs.__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(root)}:{n}"
                 for path in root.rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"""\$["']""", line) and re.search(r"re\.|compile\(", line)]
    assert not offenders, offenders
