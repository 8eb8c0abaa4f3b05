"""Custom fields on the Asana simulator (REST OAS: custom fields, enum options, custom field
settings, PUT /tasks, memberships), over real HTTP and against the in-repo schemas."""

from __future__ import annotations

import requests
from bridge_sandbox.asana import seed
from bridge_sandbox.asana.validator import validate_rest

from .test_oauth import login

API = "/api/1.0"


def _session(sim):
    token = login(sim.base)["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    session.base = sim.base + API
    return session


def _post(s, path, data):
    return s.post(s.base + path, json={"data": data})


def test_an_enum_field_on_a_project_and_a_task_value(sim):
    alice = _session(sim)
    made = _post(alice, "/custom_fields", {
        "workspace": seed.WORKSPACE, "name": "Jira status", "resource_subtype": "enum",
        "enum_options": [{"name": "To Do"}, {"name": "Done", "color": "green"}]})
    assert made.status_code == 201, made.text
    field = made.json()["data"]
    validate_rest("CustomFieldResponse", field)
    assert [o["name"] for o in field["enum_options"]] == ["To Do", "Done"]
    assert field["enum_options"][0]["color"] == "none"
    for option in field["enum_options"]:
        validate_rest("EnumOption", option)
    # The same name twice in a workspace is refused.
    again = _post(alice, "/custom_fields", {"workspace": seed.WORKSPACE, "name": "jira STATUS",
                                            "resource_subtype": "enum"})
    assert again.status_code == 400
    added = _post(alice, f"/custom_fields/{field['gid']}/enum_options",
                  {"name": "In Progress", "color": "yellow"})
    assert added.status_code == 201 and added.json()["data"]["enabled"] is True
    in_progress = added.json()["data"]["gid"]
    bad_color = _post(alice, f"/custom_fields/{field['gid']}/enum_options",
                      {"name": "X", "color": "mauve"})
    assert bad_color.status_code == 400
    # Not on the project yet: a task cannot take a value.
    put = alice.put(alice.base + f"/tasks/{seed.TASK_PLAIN}",
                    json={"data": {"custom_fields": {field["gid"]: in_progress}}})
    assert put.status_code == 400
    setting = _post(alice, f"/projects/{seed.PROJECT}/addCustomFieldSetting",
                    {"custom_field": field["gid"], "is_important": True})
    assert setting.status_code == 200, setting.text
    assert setting.json()["data"]["custom_field"]["gid"] == field["gid"]
    listed = alice.get(alice.base + f"/projects/{seed.PROJECT}/custom_field_settings").json()
    assert [s["custom_field"]["name"] for s in listed["data"]] == ["Jira status"]
    put = alice.put(alice.base + f"/tasks/{seed.TASK_PLAIN}",
                    json={"data": {"custom_fields": {field["gid"]: in_progress},
                                   "completed": True}})
    assert put.status_code == 200, put.text
    task = alice.get(alice.base + f"/tasks/{seed.TASK_PLAIN}").json()["data"]
    validate_rest("TaskResponse", task)
    [value] = task["custom_fields"]
    assert value["enum_value"]["gid"] == in_progress and value["display_value"] == "In Progress"
    assert task["completed"] is True and task["completed_at"]
    # A bad option changes nothing.
    bad = alice.put(alice.base + f"/tasks/{seed.TASK_PLAIN}",
                    json={"data": {"custom_fields": {field["gid"]: "999"}, "completed": False}})
    assert bad.status_code == 400
    task = alice.get(alice.base + f"/tasks/{seed.TASK_PLAIN}").json()["data"]
    assert task["completed"] is True
    assert task["custom_fields"][0]["display_value"] == "In Progress"
    assert len(sim.sim.task_updates) == 1


def test_memberships_say_who_administers_a_project(sim):
    alice = _session(sim)
    found = alice.get(alice.base + "/memberships",
                      params={"parent": seed.PROJECT, "member": seed.ALICE}).json()["data"]
    assert [(m["member"]["gid"], m["access_level"]) for m in found] == [(seed.ALICE, "admin")]
    every = alice.get(alice.base + "/memberships", params={"parent": seed.PROJECT}).json()
    assert {m["access_level"] for m in every["data"]} == {"admin", "editor"}
    assert alice.get(alice.base + "/memberships").status_code == 400


def test_writes_past_the_rate_limit_get_429_with_retry_after(sim):
    alice = _session(sim)
    sim.sim.rate_limit_per_minute = 3
    answers = [alice.put(alice.base + f"/tasks/{seed.TASK_PLAIN}",
                         json={"data": {"name": f"n{i}"}}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_trashed_enum_option_stays_on_tasks_but_cannot_be_chosen(sim):
    """REST OAS ``EnumOption``: an option is never deleted; trashing it in the web app
    sets ``enabled`` false: "no longer selectable but, if the enum option value was
    previously set within a task, the task will retain the value". Choosing it is a bad
    request (``BadRequest``: 400 with an ``ErrorResponse``), and changes nothing."""
    alice = _session(sim)
    field = _post(alice, "/custom_fields", {
        "workspace": seed.WORKSPACE, "name": "Jira status", "resource_subtype": "enum",
        "enum_options": [{"name": "To Do"}, {"name": "Done"}]}).json()["data"]
    to_do, done = (o["gid"] for o in field["enum_options"])
    _post(alice, f"/projects/{seed.PROJECT}/addCustomFieldSetting",
          {"custom_field": field["gid"], "is_important": True})
    for task in (seed.TASK_PLAIN, seed.TASK_EMPTY):
        put = alice.put(alice.base + f"/tasks/{task}",
                        json={"data": {"custom_fields": {field["gid"]: done}}})
        assert put.status_code == 200, put.text
    next(o for o in sim.sim.custom_fields[field["gid"]]["enum_options"]
         if o["gid"] == done)["enabled"] = False  # trashed by hand in Asana
    listed = alice.get(alice.base + f"/custom_fields/{field['gid']}").json()["data"]
    assert [(o["name"], o["enabled"]) for o in listed["enum_options"]] == [
        ("To Do", True), ("Done", False)]
    task = alice.get(alice.base + f"/tasks/{seed.TASK_PLAIN}").json()["data"]
    [value] = task["custom_fields"]
    assert value["enum_value"]["gid"] == done and value["enum_value"]["enabled"] is False
    # Choosing it again, even on a task that holds it, is refused; nothing changes.
    for task_gid in (seed.TASK_PLAIN, seed.TASK_EMPTY):
        bad = alice.put(alice.base + f"/tasks/{task_gid}",
                        json={"data": {"custom_fields": {field["gid"]: done},
                                       "completed": True}})
        assert bad.status_code == 400
        validate_rest("ErrorResponse", bad.json())
        assert done in bad.json()["errors"][0]["message"]
    assert sim.sim.tasks[seed.TASK_EMPTY]["completed"] is False
    ok = alice.put(alice.base + f"/tasks/{seed.TASK_EMPTY}",
                   json={"data": {"custom_fields": {field["gid"]: to_do}}})
    assert ok.status_code == 200, ok.text
