"""Every App Components flow the bridge serves, driven by the programmatic host against the
fake bridge: a 401 as "the user must authenticate", the rule builder (metadata with
``action_type``/``action``, on_change, on_submit), rule runs retried on one idempotency key,
two deliveries at once, and the simulator's own rule controls."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
import requests
from bridge_sandbox.asana import seed
from bridge_sandbox.asana.host import AppComponentsHost, ComponentResponse, check_response
from bridge_sandbox.asana.validator import ResponseInvalid

from .conftest import CLIENT_SECRET

IDS = {"workspace": seed.WORKSPACE, "user": seed.BOB}
EX1 = "https://jira.example.com/browse/EX-1"


@pytest.fixture
def host(sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    return sim.sim.host_for()


def test_401_means_the_user_must_authenticate(host, fake_bridge):
    fake_bridge.app.config["REQUIRE_AUTH"] = True
    resp = host.widget(task=seed.TASK_RICH, attachment="9", resource_url=EX1, **IDS)
    assert resp.status == 401 and resp.outcome == "auth_required"
    assert resp.auth_flow == "required" and resp.auth_url == fake_bridge.url + "/asana/auth"
    assert host.auth_flows == [{"kind": "widget", "auth_url": fake_bridge.url + "/asana/auth",
                                "error": "Connect your Jira account to continue."}]
    for call in (lambda: host.lookup_typeahead(task=seed.TASK_RICH, query="ex", **IDS),
                 lambda: host.form_metadata(task=seed.TASK_RICH, **IDS),
                 lambda: host.rule_metadata(project=seed.PROJECT, action_type="1", **IDS)):
        assert call().outcome == "auth_required"
    assert [f["kind"] for f in host.auth_flows] == ["widget", "lookup_typeahead",
                                                    "form_metadata", "rule_metadata"]


def test_after_the_flow_succeeds_the_call_is_sent_again(host, fake_bridge):
    fake_bridge.app.config["REQUIRE_AUTH"] = True
    seen = []

    def authenticate(url):  # stands for the popup posting "success"
        seen.append(url)
        fake_bridge.app.config["AUTHORIZED"].add(seed.BOB)
        return True

    host.authenticate = authenticate
    resp = host.widget(task=seed.TASK_RICH, attachment="9", resource_url=EX1, **IDS)
    assert resp.status == 200 and resp.outcome == "ok" and resp.auth_flow == "completed"
    assert seen == [fake_bridge.url + "/asana/auth"] and len(resp.attempts) == 2
    assert all(a.kind == "widget" for a in resp.attempts)
    assert host.widget(task=seed.TASK_RICH, attachment="9", resource_url=EX1,
                       **IDS).auth_flow is None
    host.authenticate = lambda url: False  # the user denied
    fake_bridge.app.config["AUTHORIZED"].clear()
    denied = host.form_metadata(task=seed.TASK_RICH, **IDS)
    assert denied.status == 401 and denied.auth_flow == "failed"


def test_a_401_on_a_rule_run_is_an_error_not_a_popup(host, fake_bridge):
    fake_bridge.app.config["RUN_FAILURES"] = 0
    host.sleep = lambda s: None
    host.retry_attempts = 1
    resp = host.rule_run(project=seed.PROJECT, action_type="1", action="2",
                         target_object=seed.TASK_RICH, **IDS)
    assert resp.ok
    fake = ComponentResponse(401, {"error": "x"}, {}, resp.request)
    assert fake.outcome == "error" and not fake.auth_required


@pytest.mark.parametrize("kind,status,body,ctype,problem", [
    ("widget", 401, "<html>login</html>", "text/html", ""),
    ("form_metadata", 404, {"message": "nope"}, "application/json", "error"),
    ("lookup_attach", 500, {"error": ""}, "application/json", "error"),
    ("widget", 418, None, "", ""),
    ("form_submit", 400, {"template": "form_metadata_v0", "metadata": {"title": "x"}},
     "application/json", "metadata.fields"),
])
def test_error_answers_are_checked_against_the_spec(kind, status, body, ctype, problem):
    with pytest.raises(ResponseInvalid) as info:
        check_response(kind, status, body, ctype)
    assert info.value.path == problem


def test_error_answers_the_spec_allows():
    check_response("form_submit", 400, {"error": "Bad signature."}, "application/json")
    check_response("rule_run", 410, "", "text/html")
    check_response("rule_run", 429, "", "")
    check_response("widget", 401, {"error": "Connect Jira."}, "application/json")


def test_rule_builder_flow(host, fake_bridge):
    draft = {"action": "1800000000000001", "action_type": "1700000000000001"}
    new = host.rule_metadata(project=seed.PROJECT, action_type=draft["action_type"], **IDS)
    assert new.status == 200 and [f["id"] for f in new.body["metadata"]["fields"]] == [
        "project", "prefix", "assignee", "copy"]
    query = dict(parse_qsl(new.request.message))
    assert "action" not in query and query["action_type"] == draft["action_type"]
    assert query["project"] == seed.PROJECT and "task" not in query
    meta = new.body["metadata"]
    changed = host.rule_change(project=seed.PROJECT, action_type=draft["action_type"],
                               action=draft["action"], values={"project": "EX"},
                               changed_field="project", url=meta["on_change_callback"], **IDS)
    assert changed.status == 200
    assert "issuetype" in [f["id"] for f in changed.body["metadata"]["fields"]]
    sent = json.loads(changed.request.message)
    assert sent["changed_field"] == "project" and sent["action"] == draft["action"]
    by_id = {f["id"]: f for f in changed.body["metadata"]["fields"]}
    people = host.typeahead(url=by_id["assignee"]["typeahead_url"], query="car", **IDS)
    assert people.body["items"][0]["value"] == "carol"
    assert "task=" not in people.request.message
    refused = host.rule_submit(project=seed.PROJECT, action_type=draft["action_type"],
                               action=draft["action"], values={"project": "EX"},
                               rule_name="Bugs to Jira", url=meta["on_submit_callback"], **IDS)
    assert refused.status == 400
    assert [f.get("error") for f in refused.body["metadata"]["fields"]
            if f["id"] == "issuetype"] == ["Choose a project and an issue type"]
    values = {"project": "EX", "issuetype": "bug", "copy": ["yes"],
              "assignee": {"title": "Carol Jones", "value": "carol"}}
    saved = host.rule_submit(project=seed.PROJECT, action_type=draft["action_type"],
                             action=draft["action"], values=values, rule_name="Bugs to Jira",
                             url=meta["on_submit_callback"], **IDS)
    assert saved.status == 200
    assert json.loads(saved.request.message)["rule_name"] == "Bugs to Jira"
    edit = host.rule_metadata(project=seed.PROJECT, action_type=draft["action_type"],
                              action=draft["action"], **IDS)
    assert dict(parse_qsl(edit.request.message))["action"] == draft["action"]
    assert {f["id"]: f.get("value") for f in edit.body["metadata"]["fields"]}["issuetype"] == "bug"


def test_run_action_two_concurrent_deliveries_of_one_key(host, fake_bridge):
    fake_bridge.app.config["RULES"]["7"] = {"values": {"project": "EX"}}
    fake_bridge.app.config["RUN_SLEEP"] = 0.5
    results = host.rule_run_deliveries(2, project=seed.PROJECT, action_type="1", action="7",
                                       target_object=seed.TASK_RICH, idempotency_key="k-77",
                                       **IDS)
    assert fake_bridge.app.config["RUN_KEYS"] == ["k-77", "k-77"]
    assert fake_bridge.app.config["RUN_MAX_IN_FLIGHT"][0] == 2  # both in the server at once
    assert [r.status for r in results] == [200, 200]
    assert results[0].body == results[1].body  # the careful server made one issue
    assert len(fake_bridge.app.config["RUNS"]) == 1


def test_concurrent_deliveries_each_retry_with_backoff(host, fake_bridge):
    fake_bridge.app.config["RUN_FAILURES"] = 2
    sleeps = []
    host.sleep = sleeps.append
    results = host.rule_run_deliveries(2, project=seed.PROJECT, action_type="1", action="7",
                                       target_object=seed.TASK_RICH, **IDS)
    assert all(r.ok for r in results)
    assert sum(len(r.attempts) for r in results) == 4  # two failures, two successes
    assert len(set(fake_bridge.app.config["RUN_KEYS"])) == 1
    # Which delivery meets the second failure depends on timing: either each waits 1 s
    # once, or one waits 1 s then 2 s (each delivery doubles its own backoff).
    assert sorted(sleeps) in ([1.0, 1.0], [1.0, 2.0])


def test_rule_controls_configure_run_and_attach(sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    base = sim.base + "/_sim"
    draft = requests.post(base + "/rules/new", json={"project": seed.PROJECT}).json()
    assert draft["action_type"] == "1700000000000001" and draft["action"]
    host = sim.sim.host_for()
    meta = host.rule_metadata(project=seed.PROJECT, action_type=draft["action_type"],
                              **IDS).body["metadata"]
    values = {"project": "OPS", "issuetype": "task"}
    assert host.rule_submit(project=seed.PROJECT, action_type=draft["action_type"],
                            action=draft["action"], values=values, rule_name="Ops",
                            url=meta["on_submit_callback"], **IDS).status == 200
    saved = requests.post(base + "/rules", json={
        "action": draft["action"], "project": seed.PROJECT, "user": "bob@example.com",
        "values": values, "rule_name": "Ops"})
    assert saved.status_code == 201 and saved.json()["user"] == seed.BOB
    assert [r["action"] for r in requests.get(base + "/rules").json()["rules"]] == [
        draft["action"]]
    fake_bridge.app.config["RUN_FAILURES"] = 1
    run = requests.post(base + f"/rules/{draft['action']}/run", json={
        "task": seed.TASK_PLAIN, "deliveries": 2, "retry_backoff": 0.01}).json()
    assert [d["status"] for d in run["deliveries"]] == [200, 200]
    assert sum(d["attempts"] for d in run["deliveries"]) == 3
    assert len(run["attached"]) == 1  # one issue, attached once
    widgets = sim.sim.widget_attachments(seed.TASK_PLAIN)
    assert [w["gid"] for w in widgets] == run["attached"]
    calls = [c for c in fake_bridge.app.config["CALLS"] if c["path"] == "/asana/rule/run"]
    body = calls[-1]["payload"]
    assert body["target_object"] == seed.TASK_PLAIN and body["user"] == seed.BOB
    assert body["action"] == draft["action"] and body["project"] == seed.PROJECT
    assert body["idempotency_key"] == run["idempotency_key"]
    retried = requests.post(base + f"/rules/{draft['action']}/run", json={
        "task": seed.TASK_PLAIN, "idempotency_key": run["idempotency_key"]}).json()
    assert retried["attached"] == []  # same key: the same issue, already on the task
    fired_again = requests.post(base + f"/rules/{draft['action']}/run",
                                json={"task": seed.TASK_PLAIN}).json()
    assert len(fired_again["attached"]) == 1  # the rule fired again: a second issue
    gone = requests.delete(base + f"/rules/{draft['action']}")
    assert gone.json() == {"deleted": draft["action"]}
    assert requests.post(base + f"/rules/{draft['action']}/run",
                         json={"task": seed.TASK_PLAIN}).status_code == 404


def test_run_against_a_deleted_action_answers_410_without_retries(host, fake_bridge):
    fake_bridge.app.config["RULES"]["other"] = {"values": {}}
    host.sleep = lambda s: pytest.fail("a 410 is not retried")
    resp = host.rule_run(project=seed.PROJECT, action_type="1", action="deleted",
                         target_object=seed.TASK_RICH, **IDS)
    assert resp.status == 410 and len(resp.attempts) == 1


def test_run_control_reports_a_broken_answer(sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    sim.sim.save_rule(action="55", project=seed.PROJECT, user=seed.BOB, values={})
    host = AppComponentsHost(fake_bridge.url, CLIENT_SECRET)
    assert host.rule_run(project=seed.PROJECT, action_type="1", action="55",
                         target_object=seed.TASK_RICH, **IDS).ok
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")  # nothing listens there
    resp = requests.post(sim.base + "/_sim/rules/55/run", json={
        "task": seed.TASK_RICH, "retry_attempts": 1})
    assert resp.status_code == 502 and "could not be reached" in resp.json()["error"]


def test_viewing_a_task_asks_for_each_widget(sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    for key in ("EX-1", "EX-2"):
        sim.sim.attach_resource(seed.TASK_PLAIN, {"resource_name": key,
                                                  "resource_url": f"https://jira.example.com/browse/{key}"})
    sim.sim.add_external_attachment(parent=seed.TASK_PLAIN, name="docs",
                                    url="https://docs.example.com/page")  # no widget
    seen = sim.sim.view_task(seed.TASK_PLAIN, "bob@example.com")
    assert [r.body["metadata"]["title"].split()[0] for r in seen] == ["EX-1", "EX-2"]
    calls = [c["payload"] for c in fake_bridge.app.config["CALLS"] if c["path"] == "/asana/widget"]
    assert {c["user"] for c in calls} == {seed.BOB}
    assert [c["attachment"] for c in calls] == [a["gid"] for a in
                                                sim.sim.widget_attachments(seed.TASK_PLAIN)]
