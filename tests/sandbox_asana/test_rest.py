"""The REST subset (reference §8), checked over real HTTP and against asana_oas.yaml."""

from __future__ import annotations

import hashlib

import pytest
import requests
from bridge_sandbox.asana import seed
from bridge_sandbox.asana.validator import ResponseInvalid, validate_rest

from .test_oauth import login

API = "/api/1.0"


@pytest.fixture
def alice(sim):
    token = login(sim.base)["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    session.base = sim.base + API
    return session


def get(session, path, **params):
    return session.get(session.base + path, params=params)


def assert_error_shape(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()
    validate_rest("ErrorResponse", body)
    assert isinstance(body["errors"][0]["message"], str) and body["errors"][0]["message"]


def test_users_me(alice):
    resp = get(alice, "/users/me")
    assert resp.status_code == 200
    data = resp.json()["data"]
    validate_rest("UserResponse", data)
    assert data["gid"] == seed.ALICE and data["email"] == "alice@example.com"
    assert {w["gid"] for w in data["workspaces"]} == {seed.WORKSPACE, seed.SIDE_WORKSPACE}
    only = get(alice, "/users/me", opt_fields="email").json()["data"]
    assert only == {"gid": seed.ALICE, "resource_type": "user", "email": "alice@example.com"}


def test_users_by_email_and_workspace_filter(alice):
    bob = get(alice, "/users/bob@example.com").json()["data"]
    assert bob["gid"] == seed.BOB
    assert [w["gid"] for w in bob["workspaces"]] == [seed.WORKSPACE]


def test_workspaces_paginate(alice):
    first = get(alice, "/workspaces", limit=1).json()
    validate_rest("WorkspaceCompact", first["data"][0])
    validate_rest("NextPage", first["next_page"])
    assert len(first["data"]) == 1 and first["next_page"]["offset"]
    second = get(alice, "/workspaces", limit=1, offset=first["next_page"]["offset"]).json()
    assert second["next_page"] is None
    assert {first["data"][0]["gid"], second["data"][0]["gid"]} == {seed.WORKSPACE,
                                                                 seed.SIDE_WORKSPACE}
    full = get(alice, "/workspaces", opt_fields="is_organization,email_domains").json()
    assert "next_page" not in full  # only present when `limit` was given
    assert full["data"][0]["is_organization"] is True


def test_task_html_notes_are_opt_in(alice):
    plain = get(alice, f"/tasks/{seed.TASK_RICH}").json()["data"]
    validate_rest("TaskResponse", plain)
    assert "html_notes" not in plain and plain["notes"].startswith("Login fails")
    rich = get(alice, f"/tasks/{seed.TASK_RICH}",
               opt_fields="name,html_notes,projects.name,workspace.name,assignee.name").json()["data"]
    validate_rest("TaskResponse", rich)
    html = rich["html_notes"]
    assert html.startswith("<body>") and "<strong>" in html and "<a href=" in html
    assert "<ol><li>" in html and "<ul><li>" in html
    assert rich["projects"] == [{"gid": seed.PROJECT, "resource_type": "project",
                                 "name": "Website relaunch"}]
    assert set(rich) == {"gid", "resource_type", "name", "html_notes", "projects", "workspace",
                         "assignee"}


def test_attachments_paginate_with_offset_tokens(alice):
    seen, pages = [], 0
    params = {"parent": seed.TASK_RICH, "limit": 2}
    while True:
        body = get(alice, "/attachments", **params).json()
        pages += 1
        for item in body["data"]:
            validate_rest("AttachmentCompact", item)
            assert set(item) == {"gid", "resource_type", "name", "resource_subtype"}
        seen += [a["gid"] for a in body["data"]]
        if body["next_page"] is None:
            break
        assert body["next_page"]["path"].startswith(f"/attachments?parent={seed.TASK_RICH}")
        assert body["next_page"]["uri"].endswith(body["next_page"]["path"])
        params["offset"] = body["next_page"]["offset"]
    expected = [a["gid"] for a in seed.ATTACHMENTS if a["parent"] == seed.TASK_RICH]
    assert seen == expected and pages == 3


def test_bad_offset_and_limit(alice):
    assert_error_shape(get(alice, "/attachments", parent=seed.TASK_RICH, limit=2,
                           offset="forged"), 400)
    assert_error_shape(get(alice, "/attachments", parent=seed.TASK_RICH, limit=101), 400)
    assert_error_shape(get(alice, "/attachments"), 400)


def _attachment(session, gid):
    resp = get(session, f"/attachments/{gid}")
    assert resp.status_code == 200
    data = resp.json()["data"]
    validate_rest("AttachmentResponse", data)
    return data


def test_download_url_expires_after_two_minutes(alice, sim):
    data = _attachment(alice, "1500000000000002")
    assert data["host"] == "asana" and data["size"] == 3_100
    url = data["download_url"]
    first = requests.get(url)  # no bearer header: it is a storage URL
    assert first.status_code == 200 and len(first.content) == 3_100
    sim.sim.clock.advance(119)
    assert requests.get(url).status_code == 200
    sim.sim.clock.advance(2)
    expired = requests.get(url)
    assert expired.status_code == 403 and b"expired" in expired.content
    fresh = _attachment(alice, "1500000000000002")["download_url"]
    assert fresh != url and requests.get(fresh).status_code == 200


def test_big_attachment_is_streamed(alice):
    data = _attachment(alice, seed.BIG_ATTACHMENT)
    assert data["size"] > 10 * 1024 * 1024
    with requests.get(data["download_url"], stream=True) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Length"] == str(data["size"])
        digest, total, chunks = hashlib.sha256(), 0, 0
        for chunk in resp.iter_content(256 * 1024):
            digest.update(chunk)
            total += len(chunk)
            chunks += 1
    assert total == data["size"] and chunks > 10
    assert digest.hexdigest() == seed.content_digest(seed.BIG_ATTACHMENT, data["size"])


def test_rate_limit_429_with_retry_after(alice, sim):
    sim.sim.rate_limit_per_minute = 3
    for _ in range(3):
        assert get(alice, "/users/me").status_code == 200
    resp = get(alice, "/users/me")
    assert_error_shape(resp, 429)
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    sim.sim.clock.advance(61)
    assert get(alice, "/users/me").status_code == 200


def test_error_shapes(alice, sim):
    assert_error_shape(get(alice, "/tasks/999"), 404)
    assert_error_shape(requests.get(sim.base + API + "/users/me"), 401)
    assert_error_shape(requests.get(sim.base + API + "/users/me",
                                    headers={"Authorization": "Bearer nope"}), 401)
    assert_error_shape(get(alice, "/no/such/route"), 404)


def test_post_external_attachment_connect_to_app(alice, sim):
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")
    resp = alice.post(alice.base + "/attachments", files={
        "parent": (None, seed.TASK_PLAIN), "resource_subtype": (None, "external"),
        "url": (None, "https://jira.example.com/browse/EX-7"), "name": (None, "EX-7 Slow export"),
        "connect_to_app": (None, "true")})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    validate_rest("AttachmentResponse", data)
    assert data["resource_subtype"] == "external" and data["connected_to_app"] is True
    assert [a["gid"] for a in sim.sim.widget_attachments(seed.TASK_PLAIN)] == [data["gid"]]


def test_connect_to_app_needs_widget_url_and_oauth(alice, sim):
    fields = {"parent": (None, seed.TASK_PLAIN), "resource_subtype": (None, "external"),
              "url": (None, "https://jira.example.com/browse/EX-7"), "name": (None, "EX-7"),
              "connect_to_app": (None, "true")}
    assert_error_shape(alice.post(alice.base + "/attachments", files=fields), 400)  # no widget URL
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")
    pat = next(iter(seed.PATS))
    resp = requests.post(sim.base + API + "/attachments", files=fields,
                         headers={"Authorization": "Bearer " + pat})
    assert_error_shape(resp, 400)
    assert "OAuth" in resp.json()["errors"][0]["message"]


def test_upload_file_then_download(alice):
    resp = alice.post(alice.base + "/attachments", files={
        "parent": (None, seed.TASK_EMPTY), "file": ("notes.txt", b"hello asana", "text/plain")})
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["size"] == 11 and data["host"] == "asana"
    assert requests.get(data["download_url"]).content == b"hello asana"


def test_rest_validator_catches_a_broken_task():
    with pytest.raises(ResponseInvalid) as info:
        validate_rest("TaskResponse", {"gid": 123, "name": "x"})
    assert info.value.path == "gid"


def test_comment_on_task(alice, sim):
    resp = alice.post(alice.base + f"/tasks/{seed.TASK_PLAIN}/stories",
                      json={"data": {"text": "Linked to EX-7 <soon>"}})
    assert resp.status_code == 201, resp.text
    story = resp.json()["data"]
    validate_rest("StoryResponse", story)
    assert story["text"] == "Linked to EX-7 <soon>" and story["created_by"]["gid"] == seed.ALICE
    assert story["html_text"] == "<body>Linked to EX-7 &lt;soon&gt;</body>"
    assert sim.sim.stories[seed.TASK_PLAIN][0]["gid"] == story["gid"]
    assert_error_shape(alice.post(alice.base + f"/tasks/{seed.TASK_PLAIN}/stories",
                                  json={"data": {}}), 400)


def test_granular_scopes_are_enforced(sim):
    token = login(sim.base, scope="users:read tasks:read")["access_token"]
    auth = {"Authorization": "Bearer " + token}
    assert requests.get(sim.base + API + "/users/me", headers=auth).status_code == 200
    task = requests.get(sim.base + API + f"/tasks/{seed.TASK_RICH}", headers=auth)
    assert task.status_code == 200
    assert_error_shape(requests.get(sim.base + API + "/attachments", headers=auth,
                                    params={"parent": seed.TASK_RICH}), 403)
