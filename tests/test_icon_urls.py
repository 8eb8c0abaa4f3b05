"""Icon URLs from Jira that the widget hands to Asana (issue 16 §7): the instance's own,
or public https; nothing that points into a private network, loopback or link-local."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana import validator

from bridge.jira import icon_urls
from bridge.services import widget

BASE = "http://127.0.0.1:8080/jira"  # a Jira on loopback, like the demo's


@pytest.mark.parametrize("url", [
    f"{BASE}/images/icons/priorities/medium.svg",
    f"{BASE}/secure/useravatar?size=small&ownerId=alice",
    "HTTP://127.0.0.1:8080/jira/secure/viewavatar?avatarId=1",
    "https://www.gravatar.com/avatar/0123abcd?d=mm&s=24",
    "https://cdn.example.com/icons/bug.svg",
    "https://[2606:4700::1111]/icon.png",
    "https://8.8.8.8/icon.png",
])
def test_kept(url):
    assert icon_urls.usable(url, BASE) == url


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://[::ffff:169.254.169.254]/x.png",
    # the metadata service and private addresses wrapped in IPv6 (netaddr's one policy)
    "https://[64:ff9b::a9fe:a9fe]/x.png",  # NAT64
    "https://[64:ff9b::a00:1]/x.png",  # NAT64 of 10.0.0.1
    "https://[2002:a9fe:a9fe::]/x.png",  # 6to4
    "https://[::a9fe:a9fe]/x.png",  # IPv4-compatible
    "https://2852039166/x.png",
    "https://0xa9.0xfe.0xa9.0xfe/x.png",
    "https://169.254.43518/x.png",
    "https://10.0.0.5/icon.png",
    "https://192.168.1.1/icon.png",
    "https://127.0.0.1/icon.png",  # loopback, but not the instance's port
    "http://127.0.0.1:8080/other/icon.png",  # the instance's host, outside its context path
    "http://127.0.0.1:8080/jira/../admin/icon.png",
    "http://127.0.0.1:8080/jira/%2e%2e/admin/icon.png",
    "http://127.0.0.1:9999/jira/icon.png",
    "https://127.0.0.1:8080/jira/icon.png",  # another scheme is another origin
    "https://localhost/icon.png",
    "https://jira.localhost/icon.png",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://intranet/icon.png",
    "https://printer.local/icon.png",
    "http://cdn.example.com/icons/bug.svg",  # plain http elsewhere
    "https://user:pw@cdn.example.com/icon.png",
    "https://cdn.example.com@10.0.0.5/icon.png",
    "javascript:alert(1)",
    "data:image/svg+xml,<svg/>",
    "//cdn.example.com/icon.png",
    "/images/icons/bug.svg",
    "https://cdn.example.com/icon.png\n",
    "https://cdn.example.com/a b.png",
    "https://cdn.example.com\\@10.0.0.5/icon.png",  # a browser reads \ as /
    "https://cdn.example.com/icon\x7f.png",
    "https://cdn.example.com/\ticon.png",
    "https://cdn.example.com/icon.png\x00",
    "https://cdn.example.com:99999/icon.png",
    "",
    None,
    42,
    "https://cdn.example.com/" + "a" * 3000,
])
def test_dropped(url):
    assert icon_urls.usable(url, BASE) is None


def test_the_widget_shows_the_field_without_a_dropped_icon():
    metadata = "http://169.254.169.254/latest/meta-data/"
    issue = {"id": "1", "key": "EX-1", "fields": {
        "summary": "s",
        "status": {"name": "Open", "iconUrl": metadata,
                   "statusCategory": {"key": "new"}},
        "priority": {"name": "High", "iconUrl": f"{BASE}/images/icons/priorities/high.svg"},
        "assignee": {"displayName": "Alice", "avatarUrls": {"24x24": metadata}},
        "issuetype": {"name": "Bug", "iconUrl": "https://10.1.2.3/bug.svg"},
    }}
    body = widget.render(widget.summarize(issue, BASE), "Jira")
    validator.validate("widget", body, strict=True)
    assert "169.254" not in str(body) and "10.1.2.3" not in str(body)
    fields = {f["name"]: f for f in body["metadata"]["fields"]}
    assert fields["Priority"]["icon_url"] == f"{BASE}/images/icons/priorities/high.svg"
    assert fields["Assignee"]["text"] == "Alice" and "icon_url" not in fields["Assignee"]
    assert "subicon_url" not in body["metadata"]
