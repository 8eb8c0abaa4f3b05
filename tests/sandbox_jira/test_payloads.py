"""Payload fidelity (issue 12, issue 8 §5): what a real Jira sends, nulls included.

Facts: reference jira-server.md §3.3–§3.10, the 8.4.3 WADL examples, the DC 10.3
OpenAPI, and the real payloads cited in docs/jira-server.md §9.
"""

from __future__ import annotations

import pytest
import requests

ALICE = ("alice", "alice")
BOB = ("bob", "bob")
ADMIN = ("admin", "admin")

# Every system field of a real Jira Server 8.x issue payload (jira-server.md §9 "A full
# issue"); archiveddate/archivedby since 8.1.
FULL_ISSUE_FIELDS = {
    "issuetype", "timespent", "project", "fixVersions", "aggregatetimespent", "resolution",
    "resolutiondate", "workratio", "lastViewed", "watches", "created", "priority", "labels",
    "timeestimate", "aggregatetimeoriginalestimate", "versions", "issuelinks", "assignee",
    "updated", "status", "components", "timeoriginalestimate", "description", "timetracking",
    "archiveddate", "attachment", "aggregatetimeestimate", "summary", "creator", "subtasks",
    "reporter", "aggregateprogress", "environment", "duedate", "progress", "comment", "votes",
    "worklog", "archivedby"}
NOT_NAVIGABLE = {"comment", "worklog", "timetracking"}


def test_issue_without_fields_has_every_field_nulls_included(jira):
    f = requests.get(jira.rest("issue/EX-3"), auth=BOB).json()["fields"]
    system = {k for k in f if not k.startswith("customfield_")}
    assert system == FULL_ISSUE_FIELDS
    assert f["duedate"] is None and f["environment"] is None and f["timespent"] is None
    assert f["workratio"] == -1 and f["timetracking"] == {}
    assert f["resolution"]["name"] == "Done" and f["resolutiondate"]
    assert f["creator"]["name"] == "bob"
    assert f["watches"] == {"self": f"{jira.url}/rest/api/2/issue/EX-3/watchers",
                            "watchCount": 1, "isWatching": True}
    assert f["votes"] == {"self": f"{jira.url}/rest/api/2/issue/EX-3/votes", "votes": 0,
                          "hasVoted": False}
    assert f["progress"] == {"progress": 0, "total": 0}
    assert f["worklog"] == {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
    # every custom field is present, null when empty
    assert f["customfield_10200"] is None and f["customfield_10201"] is None


def test_full_issue_values(jira):
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert [c["name"] for c in f["components"]] == ["Frontend"]
    assert [v["name"] for v in f["fixVersions"]] == ["2.0"]
    assert [v["name"] for v in f["versions"]] == ["1.0"]
    assert f["duedate"] == "2026-12-15" and f["environment"] == "Firefox 120 on Linux"
    assert f["resolution"] is None
    assert f["votes"]["votes"] == 1 and f["votes"]["hasVoted"] is False
    [link] = f["issuelinks"]
    assert link["type"]["outward"] == "blocks" and link["outwardIssue"]["key"] == "EX-2"
    assert set(link["outwardIssue"]["fields"]) == {"summary", "status", "priority", "issuetype"}
    inward = requests.get(jira.rest("issue/EX-2"), auth=ALICE).json()["fields"]["issuelinks"]
    assert inward[0]["inwardIssue"]["key"] == "EX-1"
    assert f["customfield_10200"]["value"] == "Web"
    assert [o["value"] for o in f["customfield_10201"]] == ["Linux", "Windows"]
    assert f["customfield_10203"]["name"] == "bob"
    assert f["customfield_10205"] == 3.5 and f["customfield_10207"] == ["login", "p1"]


def test_priority_in_an_issue_has_four_keys_and_status_no_color(jira):
    """Real payloads: issue priority is self/iconUrl/name/id; statusColor lives on /priority."""
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert set(f["priority"]) == {"self", "iconUrl", "name", "id"}
    assert "statusColor" not in f["status"]
    full = requests.get(f["priority"]["self"], auth=ALICE).json()
    assert full["statusColor"] == "#f15C75" and full["description"]
    assert full["iconUrl"] == f["priority"]["iconUrl"]


def test_comment_field_with_total(jira):
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    page = f["comment"]
    assert page["total"] == 2 and page["maxResults"] == 2 and page["startAt"] == 0
    first = page["comments"][0]
    assert first["author"]["name"] == "admin" and first["body"]
    assert first["self"] == f"{jira.url}/rest/api/2/issue/10100/comment/10000"
    none = requests.get(jira.rest("issue/EX-2"), auth=ALICE,
                        params={"fields": "comment"}).json()["fields"]
    assert none == {"comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0}}


def test_search_defaults_to_navigable_and_gives_comment_when_asked(jira):
    issue = requests.get(jira.rest("search"), params={"jql": "key = EX-1"},
                         auth=ALICE).json()["issues"][0]
    assert set(issue["fields"]) & NOT_NAVIGABLE == set()
    assert FULL_ISSUE_FIELDS - NOT_NAVIGABLE <= set(issue["fields"])
    asked = requests.get(jira.rest("search"), params={"jql": "key = EX-1",
                                                      "fields": "comment,summary"},
                         auth=ALICE).json()["issues"][0]
    assert set(asked["fields"]) == {"comment", "summary"}
    assert asked["fields"]["comment"]["total"] == 2
    post = requests.post(jira.rest("search"), auth=ALICE, json={
        "jql": "key = EX-1", "fields": ["comment"]}).json()["issues"][0]
    assert post["fields"]["comment"]["total"] == 2


def test_issue_expand_adds_top_level_sections(jira):
    plain = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()
    assert not {"names", "schema", "editmeta", "renderedFields", "changelog"} & set(plain)
    body = requests.get(jira.rest("issue/EX-1"), auth=ALICE, params={
        "expand": "editmeta,schema,names,renderedFields,changelog"}).json()
    assert body["names"]["duedate"] == "Due Date" and body["names"]["customfield_10200"] == "Team"
    assert body["schema"]["status"] == {"type": "status", "system": "status"}
    assert body["schema"]["customfield_10200"] == {
        "type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "customId": 10200}
    assert body["editmeta"]["fields"]["summary"]["required"] is True
    assert "customfield_10200" in body["editmeta"]["fields"]
    rendered = body["renderedFields"]
    assert rendered["description"].startswith("<p>") and "<b>Submit</b>" in rendered["description"]
    assert rendered["created"] == "01/Nov/26 9:00 AM"
    assert rendered["comment"]["comments"][1]["body"].startswith("<p>")
    assert rendered["status"] is None
    changelog = body["changelog"]
    assert changelog["total"] == 1
    [history] = changelog["histories"]
    assert history["author"]["name"] == "admin"
    assert history["items"][0] == {"field": "priority", "fieldtype": "jira", "from": "3",
                                   "fromString": "Medium", "to": "2", "toString": "High"}
    # what was expanded is no longer offered in "expand"
    assert "changelog" not in body["expand"].split(",")
    assert "changelog" in plain["expand"].split(",")


def test_editmeta_is_empty_without_edit_permission(jira):
    jira.state.projects["EX"]["permissionScheme"]["EDIT_ISSUES"] = ["group:jira-administrators"]
    body = requests.get(jira.rest("issue/EX-1"), auth=BOB, params={"expand": "editmeta"}).json()
    assert body["editmeta"] == {"fields": {}}


def test_search_expand_changelog_per_issue(jira):
    jira.state.update_issue("EX-2", {"status": "Done"}, user="alice")
    body = requests.get(jira.rest("search"), auth=ALICE, params={
        "jql": "key = EX-2", "expand": "changelog", "fields": "status"}).json()
    [issue] = body["issues"]
    items = issue["changelog"]["histories"][-1]["items"]
    assert [i["field"] for i in items] == ["status", "resolution"]
    assert items[0]["toString"] == "Done" and items[1]["toString"] == "Done"
    post = requests.post(jira.rest("search"), auth=ALICE, json={
        "jql": "key = EX-2", "expand": ["changelog"], "fields": ["status"]}).json()
    assert post["issues"][0]["changelog"]["total"] == 1
    assert "changelog" not in requests.get(jira.rest("search"), auth=ALICE, params={
        "jql": "key = EX-2"}).json()["issues"][0]


def test_project_keys_only_when_expanded(jira):
    single = requests.get(jira.rest("project/EX"), auth=ALICE).json()
    assert "projectKeys" not in single
    assert single["expand"] == "description,lead,url,projectKeys"
    assert [c["name"] for c in single["components"]] == ["Backend", "Frontend"]
    assert [v["name"] for v in single["versions"]] == ["1.0", "2.0"]
    expanded = requests.get(jira.rest("project/EX"), auth=ALICE,
                            params={"expand": "projectKeys"}).json()
    assert expanded["projectKeys"] == ["EX"]
    listed = requests.get(jira.rest("project"), auth=ALICE).json()
    assert all("projectKeys" not in p and "lead" not in p for p in listed)
    listed = requests.get(jira.rest("project"), auth=ALICE,
                          params={"expand": "projectKeys,lead"}).json()
    assert [p["projectKeys"] for p in listed] == [["EX"], ["SEC"]]
    assert listed[0]["lead"]["name"] == "admin"


def test_mypermissions_has_every_key(jira):
    perms = requests.get(jira.rest("mypermissions"), auth=BOB).json()["permissions"]
    assert len(perms) == 39
    for key in ("BROWSE_PROJECTS", "TRANSITION_ISSUES", "VIEW_DEV_TOOLS", "SYSTEM_ADMIN",
                "USER_PICKER", "MANAGE_SPRINTS_PERMISSION", "DELETE_OWN_WORKLOGS"):
        assert key in perms
    assert all(set(p) == {"id", "key", "name", "type", "description", "havePermission"}
               for p in perms.values())
    assert perms["TRANSITION_ISSUES"] == {
        "id": "46", "key": "TRANSITION_ISSUES", "name": "Transition Issues",
        "type": "PROJECT", "description": "Ability to transition issues.",
        "havePermission": True}
    assert perms["SYSTEM_ADMIN"]["havePermission"] is False
    assert perms["USER_PICKER"]["havePermission"] is True
    admin = requests.get(jira.rest("mypermissions"), auth=ADMIN).json()["permissions"]
    assert admin["SYSTEM_ADMIN"]["havePermission"] is True
    # project and issue context
    alice_sec = requests.get(jira.rest("mypermissions"), auth=ALICE,
                             params={"projectKey": "SEC"}).json()["permissions"]
    assert alice_sec["TRANSITION_ISSUES"]["havePermission"] is True
    assert alice_sec["SET_ISSUE_SECURITY"]["havePermission"] is False
    assert len(alice_sec) == 39
    by_issue = requests.get(jira.rest("mypermissions"), auth=ALICE,
                            params={"issueKey": "EX-1"}).json()["permissions"]
    assert by_issue["DELETE_ALL_COMMENTS"]["havePermission"] is False


@pytest.mark.parametrize("path", ["status/3", "status/In Progress", "priority/2",
                                  "statuscategory/4", "statuscategory/indeterminate",
                                  "issuetype/1", "resolution/10000"])
def test_lookups_by_id_answer(jira, path):
    resp = requests.get(jira.rest(path), auth=ALICE)
    assert resp.status_code == 200, resp.text
    assert resp.json()["self"].startswith(jira.url + "/rest/api/2/")


def test_every_self_link_in_an_issue_answers(jira):
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    links = [f["status"]["self"], f["status"]["statusCategory"]["self"], f["priority"]["self"],
             f["issuetype"]["self"], f["assignee"]["self"], f["project"]["self"]]
    resolved = requests.get(jira.rest("issue/EX-3"), auth=ALICE).json()["fields"]
    links.append(resolved["resolution"]["self"])
    for link in links:
        assert requests.get(link, auth=ALICE).status_code == 200, link


def test_lookup_lists(jira):
    cats = requests.get(jira.rest("statuscategory"), auth=ALICE).json()
    assert [(c["id"], c["key"], c["colorName"]) for c in cats] == [
        (1, "undefined", "medium-gray"), (2, "new", "blue-gray"), (3, "done", "green"),
        (4, "indeterminate", "yellow")]
    assert [s["id"] for s in requests.get(jira.rest("status"), auth=ALICE).json()] == [
        "1", "3", "10001"]
    prios = requests.get(jira.rest("priority"), auth=ALICE).json()
    assert all(set(p) == {"self", "statusColor", "description", "iconUrl", "name", "id"}
               for p in prios)
    assert [t["name"] for t in requests.get(jira.rest("issuetype"), auth=BOB).json()] == [
        "Bug", "Task", "Sub-task"]  # Story is only used by SEC, which bob cannot see
    assert [t["name"] for t in requests.get(jira.rest("issuetype"), auth=ALICE).json()] == [
        "Bug", "Task", "Sub-task", "Story"]
    assert requests.get(jira.rest("issuetype/10001"), auth=BOB).status_code == 404
    assert requests.get(jira.rest("status/99"), auth=ALICE).status_code == 404
    assert requests.get(jira.rest("statuscategory/99"), auth=ALICE).status_code == 404
    assert requests.get(jira.rest("priority/99"), auth=ALICE).status_code == 404
    assert requests.get(jira.rest("issuetype/99"), auth=ALICE).status_code == 404


@pytest.mark.parametrize("issuetype,message", [
    ({"name": "BLARG"}, "issue type is required"),
    ({"id": "99999"}, "issue type is required"),
    (None, "issue type is required"),
])
def test_create_with_unknown_issue_type_wording(jira, issuetype, message):
    fields = {"project": {"key": "EX"}, "summary": "x"}
    if issuetype is not None:
        fields["issuetype"] = issuetype
    resp = requests.post(jira.rest("issue"), auth=BOB, json={"fields": fields})
    assert resp.status_code == 400
    assert resp.json() == {"errorMessages": [], "errors": {"issuetype": message}}


def test_create_with_a_type_outside_the_project(jira):
    resp = requests.post(jira.rest("issue"), auth=ALICE, json={"fields": {
        "project": {"key": "SEC"}, "summary": "x", "issuetype": {"id": "1"}}})
    assert resp.status_code == 400
    assert resp.json()["errors"] == {"issuetype": "valid issue type is required"}


def test_status_change_sets_resolution_and_fires_history(jira):
    jira.state.update_issue("EX-1", {"status": "Done"})
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert f["resolution"]["name"] == "Done" and f["resolutiondate"] == f["updated"]
    jira.state.update_issue("EX-1", {"status": "Open"})
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert f["resolution"] is None and f["resolutiondate"] is None


@pytest.mark.parametrize("version,archiving", [("7.13.5", False), ("8.20.0", True),
                                               ("10.3.19", True)])
def test_archiving_fields_follow_the_version(jira_factory, version, archiving):
    jira = jira_factory(version)
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert ("archiveddate" in f) is archiving and ("archivedby" in f) is archiving
