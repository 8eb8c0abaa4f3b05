"""Tasks and attachments carry what a real Asana answers without ``opt_fields`` (REST OAS
``TaskResponse`` / ``AttachmentResponse``, nulls included); files on other services;
removing an attachment; generated attachments of any size."""

from __future__ import annotations

import hashlib
import resource

import pytest
import requests
from bridge_sandbox.asana import seed
from bridge_sandbox.asana.specs import load_spec
from bridge_sandbox.asana.validator import validate_rest

from .conftest import CLIENT_ID
from .test_oauth import login

API = "/api/1.0"


def _session(sim, **kw):
    token = login(sim.base, **kw)["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    session.base = sim.base + API
    return session


@pytest.fixture
def alice(sim):
    return _session(sim)


@pytest.fixture
def bob(sim):
    return _session(sim, email="bob@example.com", password="bob-password")


def _spec_properties(name):
    schemas = load_spec("asana_oas.yaml")["components"]["schemas"]
    out = set()
    for part in [schemas[name], *schemas[name].get("allOf", [])]:
        if "$ref" in part:
            out |= _spec_properties(part["$ref"].rsplit("/", 1)[-1])
        out |= set(part.get("properties", {}))
    return out


# The properties the spec marks "Opt In" or returns only on a condition the seed never meets
# (approval_status: approval tasks; assignee_section: asked by the assignee).
OPT_IN = {"html_notes", "created_by", "dependencies", "dependents", "is_rendered_as_separator",
          "num_subtasks", "external", "assigned_by"}
CONDITIONAL = {"approval_status", "assignee_section"}


def test_task_without_opt_fields_is_a_full_task_response(bob):
    data = bob.get(bob.base + f"/tasks/{seed.TASK_RICH}").json()["data"]
    validate_rest("TaskResponse", data)
    assert set(data) == _spec_properties("TaskResponse") - OPT_IN - CONDITIONAL
    assert data["assignee"] == {"gid": seed.ALICE, "resource_type": "user",
                                "name": "Alice Andrews"}
    assert data["workspace"] == {"gid": seed.WORKSPACE, "resource_type": "workspace",
                                 "name": "Example Org"}
    assert data["memberships"] == [{
        "project": {"gid": seed.PROJECT, "resource_type": "project", "name": "Website relaunch"},
        "section": {"gid": seed.SECTION, "resource_type": "section", "name": "To do"}}]
    for key in ("due_at", "completed_at", "completed_by", "parent", "start_on", "start_at",
                "actual_time_minutes", "custom_type"):
        assert key in data and data[key] is None, key
    assert data["custom_fields"] == [] and data["tags"] == [] and data["likes"] == []
    assert data["due_on"] == "2026-12-04" and data["completed"] is False
    assert data["resource_subtype"] == "default_task"
    assert data["permalink_url"].endswith(f"/{seed.PROJECT}/{seed.TASK_RICH}")
    assert [f["gid"] for f in data["followers"]] == [seed.ALICE]


def test_task_conditional_and_opt_in_fields(alice, bob):
    mine = alice.get(alice.base + f"/tasks/{seed.TASK_RICH}").json()["data"]
    assert "assignee_section" in mine  # asked by the assignee
    nobody = bob.get(bob.base + f"/tasks/{seed.TASK_EMPTY}").json()["data"]
    validate_rest("TaskResponse", nobody)
    assert nobody["assignee"] is None and nobody["assignee_status"] == "upcoming"
    opted = bob.get(bob.base + f"/tasks/{seed.TASK_RICH}", params={
        "opt_fields": "html_notes,created_by,num_subtasks,assignee.email,memberships.section.name"
    }).json()["data"]
    validate_rest("TaskResponse", opted)
    assert opted["html_notes"].startswith("<body><strong>")
    assert opted["created_by"]["gid"] == seed.ALICE and opted["num_subtasks"] == 0
    assert opted["assignee"]["email"] == "alice@example.com"
    assert opted["memberships"] == [{"section": {"gid": seed.SECTION, "resource_type": "section",
                                                 "name": "To do"}}]


def _get_attachment(session, gid, **params):
    resp = session.get(session.base + f"/attachments/{gid}", params=params)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    validate_rest("AttachmentResponse", data)
    return data


def test_files_on_other_services(alice):
    listed = alice.get(alice.base + "/attachments", params={"parent": seed.TASK_LINKS}).json()
    assert [(a["name"], a["resource_subtype"]) for a in listed["data"]] == [
        ("review-agenda.pdf", "asana"), ("Launch review slides", "gdrive"),
        ("brand-assets.zip", "dropbox"), ("budget.xlsx", "box")]
    for item in listed["data"]:
        validate_rest("AttachmentCompact", item)
    asana, drive, dropbox, box = (_get_attachment(alice, a["gid"]) for a in listed["data"])
    assert asana["host"] == "asana" and asana["size"] == 96_512
    assert asana["download_url"] and "connected_to_app" not in asana
    assert requests.get(asana["download_url"]).status_code == 200
    assert drive["host"] == "gdrive" and drive["download_url"] is None
    assert drive["view_url"].startswith("https://docs.google.com/")
    assert drive["connected_to_app"] is False and "size" not in drive
    assert dropbox["host"] == "dropbox" and dropbox["download_url"] is None
    assert dropbox["view_url"].startswith("https://www.dropbox.com/")
    assert "connected_to_app" not in dropbox and "size" not in dropbox
    assert box["host"] == "box" and box["download_url"] is None
    for data in (asana, drive, dropbox, box):
        assert set(data) >= {"gid", "resource_type", "name", "resource_subtype", "created_at",
                             "download_url", "host", "parent", "permanent_url", "view_url"}
        assert data["parent"]["gid"] == seed.TASK_LINKS
    only = _get_attachment(alice, drive["gid"], opt_fields="host,size")
    assert only == {"gid": drive["gid"], "resource_type": "attachment", "host": "gdrive"}


def test_link_attachments_added_through_the_control(sim, alice):
    made = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_EMPTY}/attachments", json={
        "name": "Checklist", "url": "https://onedrive.live.com/sim/checklist", "host": "onedrive"})
    assert made.status_code == 201, made.text
    data = _get_attachment(alice, made.json()["gid"])
    assert data["host"] == "onedrive" and data["download_url"] is None
    for bad in ({"name": "x", "url": "ftp://x", "host": "gdrive"},
                {"name": "x", "url": "https://x.example", "host": "myspace"},
                {"name": "", "size": 3}, {"name": "x", "size": -1}, {"name": "x", "size": "big"},
                {"name": "x", "url": "javascript:alert(1)"}):
        before = len(sim.sim.attachments)
        resp = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_EMPTY}/attachments", json=bad)
        assert resp.status_code == 400, bad
        assert resp.json()["error"] and len(sim.sim.attachments) == before
    assert requests.post(sim.base + "/_sim/tasks/999/attachments",
                         json={"name": "x", "size": 1}).status_code == 404


def _assert_gone(session, gid):
    resp = session.get(session.base + f"/attachments/{gid}")
    assert resp.status_code == 404
    body = resp.json()
    validate_rest("ErrorResponse", body)
    assert gid in body["errors"][0]["message"]


@pytest.mark.parametrize("how", ["control", "rest"])
def test_removed_attachment_is_gone_everywhere(sim, alice, how):
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")
    link = sim.sim.add_external_attachment(parent=seed.TASK_PLAIN, name="EX-7",
                                           url="https://jira.example.com/browse/EX-7",
                                           connected_app=CLIENT_ID)
    file_gid = "1500000000000006"
    stale_url = _get_attachment(alice, file_gid)["download_url"]
    for gid in (link["gid"], file_gid):
        if how == "control":
            resp = requests.delete(sim.base + f"/_sim/attachments/{gid}")
            assert resp.json() == {"removed": gid, "parent": seed.TASK_PLAIN}
        else:
            resp = alice.delete(alice.base + f"/attachments/{gid}")
            assert resp.json() == {"data": {}}
        assert resp.status_code == 200
        _assert_gone(alice, gid)
    listed = alice.get(alice.base + "/attachments", params={"parent": seed.TASK_PLAIN}).json()
    assert listed["data"] == []
    assert sim.sim.widget_attachments(seed.TASK_PLAIN) == []
    assert requests.get(stale_url).status_code == 404
    again = requests.delete(sim.base + f"/_sim/attachments/{file_gid}")
    assert again.status_code == 404


def test_delete_needs_the_delete_scope(sim):
    token = login(sim.base, scope="attachments:read")["access_token"]
    resp = requests.delete(sim.base + API + "/attachments/1500000000000006",
                           headers={"Authorization": "Bearer " + token})
    assert resp.status_code == 403
    assert "1500000000000006" in sim.sim.attachments


def test_generated_attachment_streams_deterministic_bytes(sim, alice):
    size = 5 * 1024 * 1024 + 3
    made = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_PLAIN}/attachments", json={
        "name": "dump.bin", "size": size, "content_type": "application/octet-stream",
        "digest": True}).json()
    assert made["size"] == size and made["host"] == "asana"
    assert made["sha256"] == seed.content_digest(made["gid"], size)
    data = _get_attachment(alice, made["gid"])
    assert data["size"] == size
    body = requests.get(data["download_url"]).content
    assert len(body) == size and hashlib.sha256(body).hexdigest() == made["sha256"]
    # No two 1 MiB blocks are alike, so a receiver that repeats or drops one is caught.
    blocks = {body[i:i + 1024 * 1024] for i in range(0, 5 * 1024 * 1024, 1024 * 1024)}
    assert len(blocks) == 5
    assert requests.get(sim.base + f"/_sim/attachments/{made['gid']}/sha256").json()[
        "sha256"] == made["sha256"]
    uploaded = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_PLAIN}/attachments",
                             files={"file": ("a.txt", b"abc", "text/plain")})
    assert uploaded.status_code == 201 and uploaded.json()["size"] == 3
    assert requests.get(sim.base + f"/_sim/attachments/{uploaded.json()['gid']}/sha256").json()[
        "sha256"] == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.e2e
def test_one_gigabyte_attachment_is_never_held_in_memory(sim, alice):
    size = 1024 ** 3
    made = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_RICH}/attachments",
                         json={"name": "disk-image.iso", "size": size}).json()
    url = _get_attachment(alice, made["gid"])["download_url"]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    digest, total = hashlib.sha256(), 0
    with requests.get(url, stream=True) as resp:
        assert resp.headers["Content-Length"] == str(size)
        for chunk in resp.iter_content(1024 * 1024):
            digest.update(chunk)
            total += len(chunk)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert total == size
    assert digest.hexdigest() == seed.content_digest(made["gid"], size)
    assert grew < 64 * 1024, f"peak memory grew by {grew} KiB while streaming 1 GiB"


def test_new_tasks(sim, alice):
    made = requests.post(sim.base + "/_sim/tasks", json={
        "name": "Bench 1", "notes": "a < b", "assignee": "bob@example.com",
        "due_on": "2027-01-05"})
    assert made.status_code == 201, made.text
    gid = made.json()["gid"]
    data = alice.get(alice.base + f"/tasks/{gid}", params={
        "opt_fields": "name,notes,html_notes,assignee,memberships.project.name,due_on"}).json()
    validate_rest("TaskResponse", data["data"])
    assert data["data"]["html_notes"] == "<body>a &lt; b</body>"
    assert data["data"]["assignee"]["gid"] == seed.BOB and data["data"]["due_on"] == "2027-01-05"
    assert data["data"]["memberships"][0]["project"]["gid"] == seed.PROJECT
    full = alice.get(alice.base + f"/tasks/{gid}").json()["data"]
    validate_rest("TaskResponse", full)
    assert sim.sim.add_task(name="In Alice's side workspace",
                            workspace=seed.SIDE_WORKSPACE) in sim.sim.tasks
    for bad in ({"name": ""}, {"name": "x", "due_on": "soon"}, {"name": "x", "workspace": "9"},
                {"name": "x", "projects": ["9"]}):
        before = len(sim.sim.tasks)
        resp = requests.post(sim.base + "/_sim/tasks", json=bad)
        assert resp.status_code in (400, 404) and resp.json()["error"], bad
        assert len(sim.sim.tasks) == before


def test_host_for_another_bridge_address(sim):
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")
    host = sim.sim.host_for(CLIENT_ID, bridge_url="http://127.0.0.1:10", validate=False)
    assert host.bridge_url == "http://127.0.0.1:10" and host.validate is False
    assert host.prepare("form_metadata", workspace="1", task="2", user="3").url.startswith(
        "http://127.0.0.1:10/asana/form?")


def test_download_url_serves_byte_ranges(sim, alice):
    size = 2 * 1024 * 1024 + 10
    made = sim.sim.add_generated(parent=seed.TASK_PLAIN, name="r.bin", size=size)
    url = _get_attachment(alice, made["gid"])["download_url"]
    whole = requests.get(url)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    body = whole.content
    for header, status, part in [
            ("bytes=0-9", 206, body[0:10]),
            ("bytes=1048570-1048589", 206, body[1048570:1048590]),  # across a block edge
            ("bytes=2097150-", 206, body[2097150:]),
            ("bytes=-4", 206, body[-4:]),
            ("bytes=0-99999999", 206, body)]:
        resp = requests.get(url, headers={"Range": header})
        assert resp.status_code == status and resp.content == part, header
        first = len(body) - len(part) if header.startswith("bytes=-") else int(
            header[6:].split("-")[0])
        assert resp.headers["Content-Range"] == f"bytes {first}-{first + len(part) - 1}/{size}"
    for header in ("bytes=99999999-", "bytes=5-1", "bytes=-0"):
        resp = requests.get(url, headers={"Range": header})
        assert resp.status_code == 416 and resp.headers["Content-Range"] == f"bytes */{size}"
    assert requests.get(url, headers={"Range": "bytes=0-1,5-6"}).content == body  # ignored
    upload = sim.sim.add_upload(parent=seed.TASK_PLAIN, name="u.txt", content=b"0123456789",
                                content_type="text/plain")
    small = _get_attachment(alice, upload["gid"])["download_url"]
    assert requests.get(small, headers={"Range": "bytes=3-5"}).content == b"345"
