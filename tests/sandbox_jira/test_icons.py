"""Every icon and avatar URL the simulator sends answers with an image (issue 16.8).

The URLs are taken from the simulator's own payloads (an issue, the user picker, the
issue picker, the project), fetched without signing in (as the browser showing the widget
does), and each answer must be an image of the advertised type and size.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest
import requests
from bridge_sandbox.jira import create_jira_simulator
from bridge_sandbox.liveserver import LiveServer

ALICE = ("alice", "alice")
ADMIN = ("admin", "admin")
SIZES = {"xsmall": 16, "small": 24, "medium": 32, "large": 48}


def _image_size(resp: requests.Response) -> int:
    """The image's width in pixels; fails unless it is a well-formed PNG or SVG."""
    kind = resp.headers["Content-Type"].split(";")[0]
    if kind == "image/png":
        assert resp.content.startswith(b"\x89PNG\r\n\x1a\n"), resp.url
        assert resp.content[12:16] == b"IHDR"
        width, height = struct.unpack(">II", resp.content[16:24])
        assert width == height
        return width
    assert kind == "image/svg+xml", f"{resp.url}: {kind}"
    root = ET.fromstring(resp.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", resp.url
    return int(root.get("width"))


def _icon_urls(payload, found=None) -> list[str]:
    """Every iconUrl / avatarUrl(s) / img value anywhere in a JSON payload."""
    found = [] if found is None else found
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("iconUrl", "avatarUrl", "img") and isinstance(value, str):
                found.append(value)
            elif key == "avatarUrls" and isinstance(value, dict):
                found += value.values()
            else:
                _icon_urls(value, found)
    elif isinstance(payload, list):
        for item in payload:
            _icon_urls(item, found)
    return found


def _payload_icons(url: str) -> list[str]:
    issue = requests.get(f"{url}/rest/api/2/issue/EX-2", auth=ALICE).json()
    project = requests.get(f"{url}/rest/api/2/project/EX", auth=ALICE).json()
    users = requests.get(f"{url}/rest/api/2/user/picker", params={"query": "a"},
                         auth=ADMIN).json()
    picker = requests.get(f"{url}/rest/api/2/issue/picker", params={"query": "EX"},
                          auth=ALICE).json()
    # The picker's ``img`` is a path below the context path (Jira's own pages prefix it).
    return [url + u if u.startswith("/") else u
            for u in _icon_urls([issue, project, users, picker])]


def test_every_icon_in_the_payloads_is_an_image_anonymous(jira):
    urls = _payload_icons(jira.url)
    kinds = {u.split("?")[0].rsplit("/", 1)[-1] for u in urls}
    # issue type, priority, status, user and project avatars all appear
    assert {"viewavatar", "useravatar", "projectavatar", "medium.svg",
            "inprogress.png"} <= kinds, kinds
    for url in set(urls):
        resp = requests.get(url)  # no credentials: the widget's viewer may have none
        assert resp.status_code == 200, f"{url}: {resp.status_code}"
        assert _image_size(resp) > 0


def test_icons_under_a_context_path():
    """Under a context path (Base URL ``.../jira``) every image is served there too."""
    server = LiveServer()
    server.app = create_jira_simulator(base_url=server.url + "/jira")
    server.start()
    try:
        base = server.url + "/jira"
        urls = _payload_icons(base)
        assert urls and all(u.startswith(base + "/") for u in urls)
        for url in set(urls):
            resp = requests.get(url)
            assert resp.status_code == 200, url
            assert _image_size(resp) > 0
    finally:
        server.stop()


@pytest.mark.parametrize("size", SIZES)
def test_avatar_sizes(jira, size):
    issue = requests.get(jira.rest("issue/EX-2"), auth=ALICE).json()["fields"]
    type_url = issue["issuetype"]["iconUrl"].replace("size=xsmall", f"size={size}")
    assert _image_size(requests.get(type_url)) == SIZES[size]
    key = issue["reporter"]["key"]
    user = requests.get(f"{jira.url}/secure/useravatar",
                        params={"size": size, "ownerId": key, "avatarId": "10122"})
    assert user.headers["Content-Type"] == "image/png"
    assert _image_size(user) == SIZES[size]


def test_issue_type_avatars_differ_and_users_have_their_own_colour(jira):
    types = {t["avatarId"] for t in jira.state.issue_types.values()}
    bodies = {requests.get(f"{jira.url}/secure/viewavatar",
                           params={"size": "xsmall", "avatarId": a,
                                   "avatarType": "issuetype"}).content for a in types}
    assert len(bodies) == len(types)
    alice = requests.get(f"{jira.url}/secure/useravatar",
                         params={"ownerId": jira.state.users["alice"]["key"]}).content
    nobody = requests.get(f"{jira.url}/secure/useravatar", params={"ownerId": "nobody"})
    assert nobody.status_code == 200 and nobody.content != alice  # the default avatar


@pytest.mark.parametrize("path", [
    "/secure/viewavatar?size=xsmall&avatarId=99999&avatarType=issuetype",
    "/secure/viewavatar?size=xsmall&avatarId=abc&avatarType=issuetype",
    "/secure/viewavatar?size=xsmall&avatarId=10303&avatarType=nonsense",
    "/secure/useravatar?ownerId=JIRAUSER10100&avatarId=x",
    "/images/icons/priorities/urgent.svg",
    "/images/icons/priorities/medium.gif",
    "/images/icons/statuses/unknown.png",
])
def test_unknown_images_are_404(jira, path):
    assert requests.get(jira.url + path).status_code == 404


@pytest.mark.parametrize("name", ["highest", "high", "medium", "low", "lowest", "blocker",
                                  "critical", "major", "minor", "trivial"])
def test_every_stock_priority_icon_in_both_formats(jira, name):
    svg = requests.get(f"{jira.url}/images/icons/priorities/{name}.svg")
    png = requests.get(f"{jira.url}/images/icons/priorities/{name}.png")
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert png.headers["Content-Type"] == "image/png"
    assert _image_size(svg) == _image_size(png) == 16
