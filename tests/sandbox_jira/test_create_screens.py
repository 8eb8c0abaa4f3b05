"""Create screens with custom fields (issue 9): metadata per version, checks on create,
the user picker, the upload limit and streamed uploads (reference jira-server.md §3.7–§3.9,
docs/jira-server.md §9)."""

from __future__ import annotations

import resource

import pytest
import requests

ALICE = ("alice", "alice")
BOB = ("bob", "bob")
T = "com.atlassian.jira.plugin.system.customfieldtypes:"

SEC_TASK_REQUIRED = {"summary", "issuetype", "project", "components", "customfield_10200",
                "customfield_10201", "customfield_10203", "customfield_10204",
                "customfield_10205", "customfield_10206", "customfield_10207"}

GOOD_SEC_TASK = {
    "project": {"key": "SEC"}, "issuetype": {"id": "3"}, "summary": "Rotate on save",
    "components": [{"name": "Keys"}], "customfield_10200": {"value": "Mobile"},
    "customfield_10201": [{"id": "10211"}, {"value": "Linux"}],
    "customfield_10203": {"name": "alice"}, "customfield_10204": "2027-01-31",
    "customfield_10205": 5, "customfield_10206": "Globex", "customfield_10207": ["crash"],
    "duedate": "2027-02-01", "versions": [{"id": "10100"}], "fixVersions": [{"name": "2026.4"}],
    "environment": "Android 15",
}


def _by_id(metas):
    return {m["fieldId"]: m for m in metas}


def test_paginated_createmeta_has_custom_fields_of_each_kind(jira):
    metas = _by_id(requests.get(jira.rest("issue/createmeta/SEC/issuetypes/3"),
                                auth=ALICE).json()["values"])
    assert {f for f, m in metas.items() if m["required"]} == SEC_TASK_REQUIRED
    team = metas["customfield_10200"]
    assert team["schema"] == {"type": "option", "custom": T + "select", "customId": 10200}
    # a disabled option is not offered
    assert [o["value"] for o in team["allowedValues"]] == ["Platform", "Mobile", "Web"]
    assert team["allowedValues"][0]["self"].endswith("/rest/api/2/customFieldOption/10200")
    assert metas["customfield_10201"]["schema"]["items"] == "option"
    assert metas["customfield_10201"]["operations"] == ["add", "set", "remove"]
    reviewer = metas["customfield_10203"]
    assert reviewer["schema"]["type"] == "user"
    assert "/rest/api/1.0/users/picker?fieldName=customfield_10203" in reviewer["autoCompleteUrl"]
    assert metas["customfield_10204"]["schema"]["type"] == "date"
    assert metas["customfield_10205"]["schema"]["type"] == "number"
    assert metas["customfield_10206"]["schema"]["type"] == "string"
    assert metas["customfield_10207"]["autoCompleteUrl"].endswith(
        "labels/suggest?customFieldId=10207&query=")
    assert [c["name"] for c in metas["components"]["allowedValues"]] == ["Keys", "Audit"]
    assert metas["duedate"]["schema"] == {"type": "date", "system": "duedate"}
    assert metas["priority"]["required"] is False and metas["priority"]["hasDefaultValue"]
    story = _by_id(requests.get(jira.rest("issue/createmeta/SEC/issuetypes/10001"),
                                auth=ALICE).json()["values"])
    region = story["customfield_10202"]
    assert region["required"] is True and region["schema"]["type"] == "option-with-child"
    assert [c["value"] for c in region["allowedValues"][0]["children"]] == ["Berlin", "Paris"]
    # EX offers the same fields as optional: an EX issue needs only a summary
    for type_id in ("1", "3"):
        ex = _by_id(requests.get(jira.rest(f"issue/createmeta/EX/issuetypes/{type_id}"),
                                 auth=BOB).json()["values"])
        assert {f for f, m in ex.items() if m["required"]} == {"summary", "issuetype",
                                                                "project"}
        assert "customfield_10200" in ex and not ex["customfield_10200"]["required"]


def test_old_createmeta_before_8_4_has_the_same_fields_keyed_by_id(jira_factory):
    jira = jira_factory("7.13.5")
    body = requests.get(jira.rest("issue/createmeta"), auth=ALICE, params={
        "projectKeys": "SEC", "issuetypeIds": "3", "expand": "projects.issuetypes.fields"}).json()
    [task] = body["projects"][0]["issuetypes"]
    fields = task["fields"]
    assert isinstance(fields, dict)
    assert {f for f, m in fields.items() if m["required"]} == SEC_TASK_REQUIRED
    assert fields["customfield_10200"]["schema"]["customId"] == 10200
    assert requests.get(jira.rest("issue/createmeta/SEC/issuetypes/3"),
                        auth=ALICE).status_code == 404


@pytest.mark.parametrize("version", ["9.12.0", "10.3.19"])
def test_old_form_gone_from_9(jira_factory, version):
    jira = jira_factory(version)
    assert requests.get(jira.rest("issue/createmeta"), auth=ALICE).status_code == 404
    page = requests.get(jira.rest("issue/createmeta/SEC/issuetypes/3"), auth=ALICE,
                        params={"maxResults": 5}).json()
    assert page["isLast"] is False and len(page["values"]) == 5
    assert page["total"] == 19  # 7 base fields, 5 system extras, 7 custom fields


def test_create_enforces_required_fields_with_jira_wording(jira):
    resp = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": {
        "project": {"key": "SEC"}, "issuetype": {"id": "3"}, "summary": "x"}})
    assert resp.status_code == 400
    assert resp.json() == {"errorMessages": [], "errors": {
        "components": "Component/s is required.",
        "customfield_10200": "Team is required.",
        "customfield_10201": "Affected platforms is required.",
        "customfield_10203": "Reviewer is required.",
        "customfield_10204": "Target date is required.",
        "customfield_10205": "Estimate is required.",
        "customfield_10206": "Customer is required.",
        "customfield_10207": "Tags is required."}}
    story = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": {
        "project": {"key": "SEC"}, "issuetype": {"id": "10001"}, "summary": "x"}})
    assert story.json()["errors"] == {"customfield_10202": "Region is required."}
    assert len(jira.state.issues) == 4  # nothing created
    plain = requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "EX"}, "issuetype": {"id": "1"}, "summary": "only a summary"}})
    assert plain.status_code == 201


@pytest.mark.parametrize("field,value,message", [
    ("customfield_10200", {"value": "Purple"}, "Option value 'Purple' is not valid"),
    ("customfield_10200", {"id": "10203"}, "Option id '10203' is not valid"),  # disabled
    ("customfield_10201", [{"id": "1"}], "Option id '1' is not valid"),
    ("customfield_10203", {"name": "nobody"}, "User 'nobody' was not found in the system."),
    ("customfield_10204", "31/01/2027", "Error parsing date string: 31/01/2027"),
    ("customfield_10205", "five", "Operation value must be a number"),
    ("customfield_10207", ["two words"], "The label must not contain spaces."),
    ("components", [{"id": "10000"}], "Component with id '10000' does not exist."),
    ("versions", [{"name": "1.0"}], "Version name '1.0' is not valid"),
    ("duedate", "soon", "Error parsing date string: soon"),
])
def test_create_rejects_bad_values_by_field(jira, field, value, message):
    resp = requests.post(jira.rest("issue"), auth=ALICE,
                         json={"fields": dict(GOOD_SEC_TASK, **{field: value})})
    assert resp.status_code == 400
    assert resp.json()["errors"] == {field: message}


def test_create_with_every_kind_stores_and_returns_the_values(jira):
    resp = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": GOOD_SEC_TASK})
    assert resp.status_code == 201, resp.text
    f = requests.get(jira.rest(f"issue/{resp.json()['key']}"), auth=ALICE).json()["fields"]
    assert f["customfield_10200"]["value"] == "Mobile"
    assert [o["value"] for o in f["customfield_10201"]] == ["macOS", "Linux"]
    assert f["customfield_10203"]["name"] == "alice"
    assert f["customfield_10204"] == "2027-01-31" and f["customfield_10205"] == 5
    assert f["customfield_10206"] == "Globex" and f["customfield_10207"] == ["crash"]
    assert [c["name"] for c in f["components"]] == ["Keys"]
    assert [v["name"] for v in f["fixVersions"]] == ["2026.4"]
    assert f["duedate"] == "2027-02-01" and f["environment"] == "Android 15"
    cascading = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": {
        "project": {"key": "SEC"}, "issuetype": {"id": "10001"}, "summary": "x",
        "customfield_10202": {"value": "Europe", "child": {"value": "Paris"}}}})
    assert cascading.status_code == 201
    got = requests.get(jira.rest(f"issue/{cascading.json()['key']}"),
                       auth=ALICE).json()["fields"]["customfield_10202"]
    assert got["value"] == "Europe" and got["child"]["value"] == "Paris"


def test_field_not_on_the_screen_is_refused(jira):
    resp = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": {
        "project": {"key": "SEC"}, "issuetype": {"id": "10001"}, "summary": "x",
        "customfield_10202": {"value": "Europe"}, "customfield_10200": {"value": "Web"}}})
    assert resp.json()["errors"] == {"customfield_10200": (
        "Field 'customfield_10200' cannot be set. It is not on the appropriate screen, "
        "or unknown.")}


def test_user_picker(jira):
    body = requests.get(jira.rest("user/picker"), auth=BOB, params={"query": "al"}).json()
    assert body["total"] == 1 and body["header"] == "Showing 1 of 1 matching users"
    [alice] = body["users"]
    assert alice["name"] == "alice" and alice["key"] == "JIRAUSER10100"
    assert alice["html"] == ("<strong>Al</strong>ice Able - <strong>al</strong>ice@example.com "
                             "(<strong>al</strong>ice)")
    assert alice["avatarUrl"].startswith(jira.url + "/secure/useravatar")
    many = requests.get(jira.rest("user/picker"), auth=BOB,
                        params={"query": "a", "maxResults": 1}).json()
    assert many["total"] == 2 and len(many["users"]) == 1
    excluded = requests.get(jira.rest("user/picker"), auth=BOB,
                            params={"query": "a", "exclude": "admin"}).json()
    assert [u["name"] for u in excluded["users"]] == ["alice"]
    assert requests.get(jira.rest("user/picker"), params={"query": "a"}).status_code == 401
    jira.state.global_grants["USER_PICKER"] = ["group:jira-administrators"]
    assert requests.get(jira.rest("user/picker"), auth=BOB,
                        params={"query": "a"}).status_code == 403
    found = requests.get(jira.rest("user/search"), auth=BOB, params={"username": "bo"}).json()
    assert [u["name"] for u in found] == ["bob"] and found[0]["locale"]


def test_attachment_meta_reads_the_limit(jira):
    assert requests.get(jira.rest("attachment/meta"), auth=BOB).json() == {
        "enabled": True, "uploadLimit": 10485760}
    jira.state.configure(upload_limit=2 * 1024 ** 3)
    assert requests.get(jira.rest("attachment/meta"), auth=BOB).json()["uploadLimit"] == \
        2 * 1024 ** 3


def _chunks(total: int, chunk: int = 1 << 20):
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        part = block[:min(chunk, total - sent)]
        sent += len(part)
        yield part


def _multipart(total: int, boundary: str = "simjiraboundary"):
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    yield from _chunks(total)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_streamed_upload_is_written_to_disk_not_memory(jira):
    """A 200 MB chunked upload: the simulator's peak RSS grows far less than the file."""
    import os

    size = 200 * 1024 ** 2
    jira.state.configure(upload_limit=size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, same process
    resp = requests.post(jira.rest("issue/EX-1/attachments"), auth=BOB,
                         data=_multipart(size),
                         headers={"X-Atlassian-Token": "no-check",
                                  "Content-Type": "multipart/form-data; "
                                                  "boundary=simjiraboundary"})
    assert resp.status_code == 200, resp.text
    [att] = resp.json()
    assert att["size"] == size
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 64 * 1024, f"peak RSS grew by {grown} KiB"
    stored = jira.state.attachments[att["id"]]
    assert os.path.getsize(stored["path"]) == size
    download = requests.get(att["content"], auth=BOB, stream=True)
    assert sum(len(c) for c in download.iter_content(1 << 20)) == size


def test_oversize_upload_is_404_and_not_kept(jira):
    import os

    jira.state.configure(upload_limit=1000)
    before = set(os.listdir(jira.state.attachment_dir()))
    resp = requests.post(jira.rest("issue/EX-1/attachments"), auth=BOB,
                         files=[("file", ("ok.txt", b"x" * 10)),
                                ("file", ("big.bin", b"y" * 5000))],
                         headers={"X-Atlassian-Token": "no-check"})
    assert resp.status_code == 404
    assert set(os.listdir(jira.state.attachment_dir())) == before
    assert not [a for a in jira.state.attachments.values() if a["issue"] == "EX-1"]
