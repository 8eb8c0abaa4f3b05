"""REST v2 behaviour (reference jira-server.md §3) with Basic auth and sessions."""

from __future__ import annotations

import pytest
import requests

from .conftest import login

ALICE = ("alice", "alice")
BOB = ("bob", "bob")
ADMIN = ("admin", "admin")


@pytest.mark.parametrize("version,numbers,build", [
    ("7.13.5", [7, 13, 5], 713005), ("8.20.0", [8, 20, 0], 820000),
    ("8.22.6", [8, 22, 6], 822006), ("9.12.2", [9, 12, 2], 912002),
    ("10.3.19", [10, 3, 19], 10030019),
])
def test_server_info_per_version(jira_factory, version, numbers, build):
    jira = jira_factory(version)
    info = requests.get(jira.rest("serverInfo")).json()
    assert info["version"] == version and info["versionNumbers"] == numbers
    assert info["deploymentType"] == "Server"
    assert info["buildNumber"] == build
    assert info["baseUrl"] == jira.url
    assert {"buildDate", "serverTime", "scmInfo", "serverTitle"} <= set(info)


def test_latest_alias_and_standard_headers(jira):
    resp = requests.get(f"{jira.url}/rest/api/latest/myself", auth=ALICE)
    assert resp.status_code == 200 and resp.json()["name"] == "alice"
    assert resp.headers["X-AUSERNAME"] == "alice"
    assert resp.headers["X-AREQUESTID"]


def test_myself_anonymous_is_401_with_jira_body(jira):
    resp = requests.get(jira.rest("myself"))
    assert resp.status_code == 401
    assert resp.json() == {"errorMessages": [
        "You are not authenticated. Authentication required to perform this operation."],
        "errors": {}}
    assert resp.headers["X-AUSERNAME"] == "anonymous"


def test_wrong_basic_password_is_401_authenticated_failed(jira):
    resp = requests.get(jira.rest("serverInfo"), auth=("alice", "wrong"))
    assert resp.status_code == 401
    assert resp.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_login_jsp_sets_jsessionid_that_authenticates_rest(jira):
    browser = login(jira, "bob")
    assert browser.get(jira.rest("myself")).json()["name"] == "bob"
    bad = requests.post(f"{jira.url}/login.jsp", data={"os_username": "bob", "os_password": "x"},
                        allow_redirects=False)
    assert bad.status_code == 200 and "JSESSIONID" not in bad.cookies
    assert bad.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_issue_get_shape_and_fields_param(jira):
    resp = requests.get(jira.rest("issue/EX-1"), auth=ALICE,
                        params={"fields": "summary,status,priority,assignee,issuetype,project,"
                                          "updated"})
    issue = resp.json()
    assert issue["key"] == "EX-1" and issue["self"] == f"{jira.url}/rest/api/2/issue/10100"
    f = issue["fields"]
    assert set(f) == {"summary", "status", "priority", "assignee", "issuetype", "project",
                      "updated"}
    assert f["status"]["statusCategory"] == {
        "self": f"{jira.url}/rest/api/2/statuscategory/2", "id": 2, "key": "new",
        "colorName": "blue-gray", "name": "To Do"}
    assert f["assignee"]["name"] == "alice" and f["assignee"]["key"] == "JIRAUSER10100"
    assert set(f["assignee"]["avatarUrls"]) == {"48x48", "24x24", "16x16", "32x32"}
    assert f["updated"] == "2026-11-20T10:15:30.000+0000"
    unassigned = requests.get(jira.rest("issue/EX-3"), auth=ALICE,
                              params={"fields": "assignee,-summary"}).json()
    assert unassigned["fields"] == {"assignee": None}
    by_id = requests.get(jira.rest("issue/10100"), auth=ALICE).json()
    assert by_id["key"] == "EX-1" and "description" in by_id["fields"]


def test_unbrowsable_issue_is_404_like_a_missing_one(jira):
    hidden = requests.get(jira.rest("issue/SEC-1"), auth=BOB)
    missing = requests.get(jira.rest("issue/EX-999"), auth=BOB)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"errorMessages": ["Issue Does Not Exist"],
                                               "errors": {}}
    assert requests.get(jira.rest("issue/SEC-1"), auth=ALICE).status_code == 200


def test_search_jql_subset(jira):
    def keys(jql, auth=ALICE, **kw):
        resp = requests.get(jira.rest("search"), params={"jql": jql, **kw}, auth=auth)
        assert resp.status_code == 200, resp.text
        return [i["key"] for i in resp.json()["issues"]]

    assert keys("key = EX-1") == ["EX-1"]
    assert sorted(keys("issuekey in (EX-1, EX-2)")) == ["EX-1", "EX-2"]
    assert keys("project = EX ORDER BY updated DESC") == ["EX-2", "EX-1", "EX-3"]
    assert keys("project = EX ORDER BY updated") == ["EX-3", "EX-1", "EX-2"]
    assert keys('text ~ "release" AND project = EX ORDER BY updated DESC') == ["EX-2", "EX-3"]
    assert keys(r'text ~ "\"quoted\""') == ["EX-2"]
    assert keys("text ~ 'signing keys'") == ["SEC-1"]
    assert keys("text ~ 'signing keys'", auth=BOB) == []
    assert keys("assignee = currentUser() ORDER BY key", auth=ALICE) == ["EX-1", "SEC-1"]
    assert keys('project = "Example" AND status = "In Progress"') == ["EX-2"]
    assert keys("project = EX AND (key = EX-1 OR key = EX-3) ORDER BY key DESC") == [
        "EX-3", "EX-1"]
    assert keys("project = EX AND assignee is EMPTY") == ["EX-3"]


def test_search_paging_envelope(jira):
    body = requests.get(jira.rest("search"), params={"jql": "project = EX ORDER BY key ASC",
                                                     "maxResults": 2, "startAt": 1,
                                                     "fields": "summary"}, auth=ALICE).json()
    assert body["startAt"] == 1 and body["maxResults"] == 2 and body["total"] == 3
    assert [i["key"] for i in body["issues"]] == ["EX-2", "EX-3"]
    assert set(body["issues"][0]["fields"]) == {"summary"}


def test_search_post_body(jira):
    resp = requests.post(jira.rest("search"), auth=ALICE, json={
        "jql": "project = EX", "startAt": 0, "maxResults": 15, "fields": ["summary", "status"]})
    assert resp.status_code == 200
    assert resp.json()["total"] == 3
    assert set(resp.json()["issues"][0]["fields"]) == {"summary", "status"}


@pytest.mark.parametrize("jql,message", [
    ("key = ABC-1", "An issue with key 'ABC-1' does not exist for field 'key'."),
    ("key = x", "The issue key 'x' for field 'key' is invalid."),
    ("issuekey in (EX-1, SEC-1)", "An issue with key 'SEC-1' does not exist for field "
                                  "'issuekey'."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
])
def test_search_errors_are_400_with_jira_messages(jira, jql, message):
    resp = requests.get(jira.rest("search"), params={"jql": jql}, auth=BOB)
    assert resp.status_code == 400
    assert resp.json() == {"errorMessages": [message], "errors": {}}


def test_search_syntax_error(jira):
    resp = requests.get(jira.rest("search"), params={"jql": 'text ~ "unclosed'}, auth=BOB)
    assert resp.status_code == 400
    assert resp.json()["errorMessages"][0].startswith("Error in the JQL Query:")


def test_issue_picker_sections_and_highlighting(jira):
    requests.get(jira.rest("issue/EX-2"), auth=ALICE)  # history
    body = requests.get(jira.rest("issue/picker"), params={"query": "release"}, auth=ALICE).json()
    sections = {s["id"]: s for s in body["sections"]}
    assert set(sections) == {"hs", "cs"}
    assert [i["key"] for i in sections["hs"]["issues"]] == ["EX-2"]
    assert [i["key"] for i in sections["cs"]["issues"]] == ["EX-3"]
    item = sections["hs"]["issues"][0]
    assert item["summary"] == "Write <b>release</b> notes for 2.0"
    assert item["summaryText"] == "Write release notes for 2.0"
    assert item["img"].startswith("/secure/viewavatar")
    by_key = requests.get(jira.rest("issue/picker"), params={"query": "EX-1"}, auth=BOB).json()
    cs = next(s for s in by_key["sections"] if s["id"] == "cs")
    assert cs["issues"][0]["keyHtml"] == "<b>EX-1</b>"
    secret = requests.get(jira.rest("issue/picker"), params={"query": "signing"}, auth=BOB).json()
    assert all(not s["issues"] for s in secret["sections"])


def test_project_list_shows_only_visible_projects(jira):
    assert [p["key"] for p in requests.get(jira.rest("project"), auth=BOB).json()] == ["EX"]
    assert [p["key"] for p in requests.get(jira.rest("project"), auth=ALICE).json()] == [
        "EX", "SEC"]
    assert requests.get(jira.rest("project/SEC"), auth=BOB).status_code == 404


def test_old_createmeta_exists_before_9(jira):
    body = requests.get(jira.rest("issue/createmeta"), auth=ALICE, params={
        "projectKeys": "EX", "expand": "projects.issuetypes.fields"}).json()
    assert body["expand"] == "projects"
    [project] = body["projects"]
    task = next(t for t in project["issuetypes"] if t["name"] == "Task")
    assert task["fields"]["summary"]["required"] is True
    assert task["fields"]["summary"]["fieldId"] == "summary"


@pytest.mark.parametrize("version", ["9.12.0", "10.3.0"])
def test_old_createmeta_gone_from_9(jira_factory, version):
    jira = jira_factory(version)
    gone = requests.get(jira.rest("issue/createmeta"), auth=ALICE)
    # the path now matches GET /issue/{issueIdOrKey} with the "key" createmeta
    assert gone.status_code == 404
    assert gone.json() == {"errorMessages": ["Issue Does Not Exist"], "errors": {}}
    assert requests.get(jira.rest("issue/createmeta/EX/issuetypes"), auth=ALICE).ok


def test_new_createmeta_absent_on_7_13(jira_factory):
    jira = jira_factory("7.13.5")
    assert requests.get(jira.rest("issue/createmeta/EX/issuetypes"), auth=ALICE
                        ).status_code == 404
    assert requests.get(jira.rest("issue/createmeta"), auth=ALICE).status_code == 200


def test_new_createmeta_pagination_and_fields_array(jira):
    page = requests.get(jira.rest("issue/createmeta/EX/issuetypes"), auth=ALICE,
                        params={"maxResults": 2}).json()
    assert page["total"] == 3 and page["isLast"] is False and len(page["values"]) == 2
    rest = requests.get(jira.rest("issue/createmeta/10000/issuetypes"), auth=ALICE,
                        params={"startAt": 2}).json()
    assert rest["isLast"] is True and len(rest["values"]) == 1
    fields = requests.get(jira.rest("issue/createmeta/EX/issuetypes/3"), auth=ALICE).json()
    assert isinstance(fields["values"], list)
    summary = next(f for f in fields["values"] if f["fieldId"] == "summary")
    assert summary["required"] is True and summary["schema"]["system"] == "summary"
    hidden = requests.get(jira.rest("issue/createmeta/SEC/issuetypes"), auth=BOB)
    assert hidden.status_code == 400


def test_create_issue_and_field_errors(jira):
    resp = requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "EX"}, "issuetype": {"id": "3"}, "summary": "From the bridge",
        "description": "h1. Wiki", "priority": {"name": "High"}, "assignee": {"name": "alice"},
        "labels": ["asana"]}})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body == {"id": body["id"], "key": "EX-4",
                    "self": f"{jira.url}/rest/api/2/issue/{body['id']}"}
    created = requests.get(jira.rest("issue/EX-4"), auth=BOB).json()["fields"]
    assert created["reporter"]["name"] == "bob" and created["priority"]["name"] == "High"
    missing = requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "EX"}, "issuetype": {"id": "3"}}})
    assert missing.status_code == 400
    assert missing.json() == {"errorMessages": [],
                              "errors": {"summary": "You must specify a summary of the issue."}}
    unknown = requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "EX"}, "issuetype": {"id": "3"}, "summary": "x",
        "customfield_1": "y"}})
    assert "customfield_1" in unknown.json()["errors"]


def test_create_issue_permissions(jira):
    hidden = requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "SEC"}, "issuetype": {"id": "3"}, "summary": "x"}})
    assert hidden.status_code == 400
    assert hidden.json()["errors"]["project"] == "valid project is required"
    anonymous = requests.post(jira.rest("issue"), json={"fields": {}})
    assert anonymous.status_code == 401


def test_attachments(jira):
    url = jira.rest("issue/EX-1/attachments")
    no_token = requests.post(url, auth=BOB, files={"file": ("a.txt", b"hello")})
    assert no_token.status_code == 403 and no_token.text == "XSRF check failed"
    ok = requests.post(url, auth=BOB, files=[("file", ("a.txt", b"hello", "text/plain")),
                                             ("file", ("b.bin", b"\x00\x01"))],
                       headers={"X-Atlassian-Token": "no-check"})
    assert ok.status_code == 200, ok.text
    atts = ok.json()
    assert [a["filename"] for a in atts] == ["a.txt", "b.bin"]
    assert atts[0]["size"] == 5 and atts[0]["mimeType"] == "text/plain"
    assert atts[0]["author"]["name"] == "bob"
    content = requests.get(atts[0]["content"], auth=BOB)
    assert content.content == b"hello"
    assert requests.get(atts[0]["content"], auth=("bob", "bob")).ok
    meta = requests.get(jira.rest("attachment/meta"), auth=BOB).json()
    assert meta == {"enabled": True, "uploadLimit": 10485760}
    jira.state.configure(upload_limit=3)
    too_big = requests.post(url, auth=BOB, files={"file": ("a.txt", b"hello")},
                            headers={"X-Atlassian-Token": "no-check"})
    assert too_big.status_code == 404
    assert requests.get(jira.rest("attachment/meta"), auth=BOB).json()["uploadLimit"] == 3


def test_attachment_permission_and_visibility(jira):
    hidden = requests.post(jira.rest("issue/SEC-1/attachments"), auth=BOB,
                           files={"file": ("a.txt", b"x")},
                           headers={"X-Atlassian-Token": "no-check"})
    assert hidden.status_code == 404
    no_perm = requests.post(jira.rest("issue/SEC-1/attachments"), auth=ALICE,
                            files={"file": ("a.txt", b"x")},
                            headers={"X-Atlassian-Token": "no-check"})
    assert no_perm.status_code == 403


def test_mypermissions_scoping(jira):
    def perms(auth, **params):
        resp = requests.get(jira.rest("mypermissions"), auth=auth, params=params)
        return resp.status_code, resp.json().get("permissions", {})

    status, all_perms = perms(BOB)
    assert status == 200 and all_perms["CREATE_ISSUES"]["havePermission"] is True
    assert all_perms["CREATE_ISSUES"]["id"] == "11"
    assert all_perms["ADMINISTER"]["havePermission"] is False
    assert perms(BOB, projectKey="SEC")[0] == 404
    assert perms(ALICE, projectKey="SEC")[1]["CREATE_ATTACHMENTS"]["havePermission"] is False
    assert perms(ADMIN, issueKey="SEC-1")[1]["CREATE_ATTACHMENTS"]["havePermission"] is True
    # ?permissions= (Cloud only) is ignored: everything comes back
    assert len(perms(BOB, permissions="CREATE_ISSUES")[1]) == len(all_perms)
    assert perms(BOB, projectId="abc")[0] == 400
    assert requests.get(jira.rest("mypermissions")).status_code == 401


def test_unknown_rest_path_is_jersey_404(jira):
    resp = requests.get(jira.rest("nothing/here"), auth=BOB)
    assert resp.status_code == 404
    assert resp.json() == {"message": f"null for uri: {jira.rest('nothing/here')}",
                           "status-code": 404}


def test_context_path_from_base_url(jira_factory):
    from bridge_sandbox.jira import create_jira_simulator
    from bridge_sandbox.liveserver import LiveServer

    server = LiveServer()
    server.app = create_jira_simulator("8.20.0", base_url=server.url + "/jira")
    with server:
        info = requests.get(server.url + "/jira/rest/api/2/serverInfo").json()
        assert info["baseUrl"] == server.url + "/jira"
        assert requests.get(server.url + "/rest/api/2/serverInfo").status_code == 404
        issue = requests.get(server.url + "/jira/rest/api/2/issue/EX-1", auth=BOB).json()
        assert issue["self"].startswith(server.url + "/jira/rest/api/2/issue/")


def test_base_url_none_follows_the_request_host_and_fixture_dict():
    import json

    from bridge_sandbox.jira import create_jira_simulator, get_state
    from bridge_sandbox.jira.state import FIXTURE_DIR

    fixture = json.loads((FIXTURE_DIR / "default.json").read_text())
    fixture["serverTitle"] = "Custom"
    app = create_jira_simulator("9.12.0", fixture=fixture)
    client = app.test_client()
    info = client.get("/rest/api/2/serverInfo", base_url="http://jira.local:8080").json
    assert info["baseUrl"] == "http://jira.local:8080" and info["serverTitle"] == "Custom"
    assert get_state(app).base_url == "http://127.0.0.1"  # outside a request


def test_user_lookup_and_search(jira):
    me = requests.get(jira.rest("issue/EX-1"), auth=BOB).json()["fields"]["assignee"]
    resp = requests.get(me["self"], auth=BOB)
    assert resp.status_code == 200 and resp.json()["name"] == "alice"
    assert requests.get(jira.rest("user"), params={"username": "nobody"},
                        auth=BOB).status_code == 404
    found = requests.get(jira.rest("user/search"), params={"username": "ali"}, auth=BOB).json()
    assert [u["name"] for u in found] == ["alice"]
