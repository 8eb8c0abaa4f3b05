"""Remote issue links on the Jira simulator (WADL 7.6.1 ``issue/{issueIdOrKey}/remotelink``,
DC 10.3 OpenAPI createOrUpdateRemoteIssueLink / deleteRemoteIssueLinkByGlobalId)."""

from __future__ import annotations

import requests

ALICE = ("alice", "alice")
BOB = ("bob", "bob")

LINK = {"globalId": "asana-task=1201", "application": {"type": "com.asana", "name": "Asana"},
        "relationship": "tracked in",
        "object": {"url": "https://app.asana.com/0/0/1201", "title": "Write the docs",
                   "icon": {"url16x16": "https://bridge.example.com/static/asana-16.svg",
                            "title": "Asana task"}}}


def test_create_read_update_and_delete_by_global_id(jira):
    made = requests.post(jira.rest("issue/EX-1/remotelink"), json=LINK, auth=ALICE)
    assert made.status_code == 201, made.text
    link_id = made.json()["id"]
    assert made.json() == {"id": link_id,
                           "self": f"{jira.url}/rest/api/2/issue/EX-1/remotelink/{link_id}"}
    listed = requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE).json()
    assert listed == [{"id": link_id, "self": made.json()["self"],
                       "globalId": "asana-task=1201",
                       "application": {"type": "com.asana", "name": "Asana"},
                       "relationship": "tracked in",
                       "object": {"url": "https://app.asana.com/0/0/1201",
                                  "title": "Write the docs", "summary": None,
                                  "icon": LINK["object"]["icon"]}}]
    # The same globalId again updates the link instead of adding one.
    renamed = {**LINK, "object": {**LINK["object"], "title": "Write the guide"}}
    again = requests.post(jira.rest("issue/EX-1/remotelink"), json=renamed, auth=ALICE)
    assert again.status_code == 200 and again.json()["id"] == link_id
    one = requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE,
                       params={"globalId": "asana-task=1201"}).json()
    assert one["object"]["title"] == "Write the guide"
    assert len(requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE).json()) == 1
    by_id = requests.get(jira.rest(f"issue/EX-1/remotelink/{link_id}"), auth=ALICE)
    assert by_id.json()["globalId"] == "asana-task=1201"
    gone = requests.delete(jira.rest("issue/EX-1/remotelink"), auth=ALICE,
                           params={"globalId": "asana-task=1201"})
    assert gone.status_code == 204 and gone.content == b""
    assert requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE).json() == []
    again = requests.delete(jira.rest("issue/EX-1/remotelink"), auth=ALICE,
                            params={"globalId": "asana-task=1201"})
    assert again.status_code == 404


def test_bad_bodies_are_refused_and_change_nothing(jira):
    no_title = {**LINK, "object": {"url": "https://app.asana.com/0/0/1"}}
    refused = requests.post(jira.rest("issue/EX-1/remotelink"), json=no_title, auth=ALICE)
    assert refused.status_code == 400
    assert refused.json() == {"errorMessages": [], "errors": {"title": "'title' is required."}}
    extra = requests.post(jira.rest("issue/EX-1/remotelink"), json={**LINK, "color": "red"},
                          auth=ALICE)
    assert extra.status_code == 400 and "color" in extra.json()["errors"]
    not_json = requests.post(jira.rest("issue/EX-1/remotelink"), data="x", auth=ALICE,
                             headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE).json() == []


def test_permissions_link_issues_browse_and_linking_off(jira):
    # Without Link Issues in the project's scheme: 403, nothing made; reading still works.
    jira.state.projects["EX"]["permissionScheme"]["LINK_ISSUES"] = ["group:jira-administrators"]
    refused = requests.post(jira.rest("issue/EX-1/remotelink"), json=LINK, auth=ALICE)
    assert refused.status_code == 403 and refused.json()["errorMessages"]
    assert requests.get(jira.rest("issue/EX-1/remotelink"), auth=ALICE).json() == []
    assert requests.post(jira.rest("issue/EX-1/remotelink"), json=LINK,
                         auth=("admin", "admin")).status_code == 201
    refused = requests.delete(jira.rest("issue/EX-1/remotelink"), auth=ALICE,
                              params={"globalId": LINK["globalId"]})
    assert refused.status_code == 403
    # An issue the user cannot browse is missing (404), like everywhere else.
    hidden = requests.get(jira.rest("issue/SEC-1/remotelink"), auth=BOB)
    assert hidden.status_code == 404
    assert requests.get(jira.rest("issue/EX-1/remotelink")).status_code == 401
    # Issue linking turned off: 403 for everyone, reads included.
    jira.state.configure(issue_linking_enabled=False)
    assert requests.get(jira.rest("issue/EX-1/remotelink"),
                        auth=("admin", "admin")).status_code == 403


def test_the_control_page_shows_remote_links(jira):
    requests.post(jira.rest("issue/EX-2/remotelink"), json=LINK, auth=ALICE)
    page = requests.get(f"{jira.url}/_sim/issues").text
    cell = page.split('id="remote-links-EX-2"')[1].split("</td>")[0]
    assert 'href="https://app.asana.com/0/0/1201"' in cell and "Write the docs" in cell
    assert 'src="https://bridge.example.com/static/asana-16.svg"' in cell
    hostile = {**LINK, "globalId": "x", "object": {"url": "javascript:alert(1)",
                                                  "title": "<b>bad</b>"}}
    requests.post(jira.rest("issue/EX-3/remotelink"), json=hostile, auth=ALICE)
    cell = requests.get(f"{jira.url}/_sim/issues").text.split(
        'id="remote-links-EX-3"')[1].split("</td>")[0]
    assert "javascript:" not in cell and "<b>bad</b>" not in cell
