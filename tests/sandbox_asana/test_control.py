"""``/_sim`` control endpoints, rule-action request shapes, the CLI and the page's assets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import bridge_sandbox.asana as asana_pkg
import requests
from bridge_sandbox.asana import seed, signing
from bridge_sandbox.asana.cli import command
from bridge_sandbox.asana.host import AppComponentsHost
from click.testing import CliRunner

from .conftest import CLIENT_ID, CLIENT_SECRET


def test_sign_endpoint_returns_request_the_browser_can_send(sim, fake_bridge):
    requests.post(sim.base + "/_sim/app-components/config",
                  json={"bridge_url": fake_bridge.url}).raise_for_status()
    att = sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                          url="https://jira.example.com/browse/EX-1",
                                          connected_app=CLIENT_ID)
    signed = requests.post(sim.base + "/_sim/app-components/sign", json={
        "kind": "widget", "task": seed.TASK_RICH, "attachment": att["gid"],
        "user": "bob@example.com"}).json()
    assert signed["method"] == "GET"
    assert signed["url"].startswith(fake_bridge.url + "/asana/widget?")
    query = dict(parse_qsl(urlsplit(signed["url"]).query))
    assert query["user"] == seed.BOB and query["workspace"] == seed.WORKSPACE
    assert query["resource_url"] == "https://jira.example.com/browse/EX-1"
    assert signing.verify(CLIENT_SECRET, signed["message"],
                          signed["headers"][signing.HEADER])
    resp = requests.get(signed["url"], headers=signed["headers"])
    assert resp.status_code == 200
    check = requests.post(sim.base + "/_sim/app-components/validate",
                          json={"kind": "widget", "status": 200, "body": resp.json()}).json()
    assert check == {"ok": True}
    broken = resp.json()
    broken["metadata"]["fields"] = []
    check = requests.post(sim.base + "/_sim/app-components/validate",
                          json={"kind": "widget", "status": 200, "body": broken}).json()
    assert check["ok"] is False and check["path"] == "metadata.fields"


def test_sign_post_kind_and_attach_resource(sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    signed = requests.post(sim.base + "/_sim/app-components/sign", json={
        "kind": "form_submit", "task": seed.TASK_PLAIN,
        "url": fake_bridge.url + "/asana/form/submit",
        "values": {"project": "EX", "summary": "Slow"}}).json()
    inner = json.loads(json.loads(signed["body"])["data"])
    assert inner["task"] == seed.TASK_PLAIN and inner["values"]["summary"] == "Slow"
    made = requests.post(signed["url"], data=signed["body"], headers=signed["headers"]).json()
    added = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_PLAIN}/attach-resource", json=made)
    assert added.status_code == 201
    assert [a["url"] for a in sim.sim.widget_attachments(seed.TASK_PLAIN)] == [made["resource_url"]]
    bad = requests.post(sim.base + f"/_sim/tasks/{seed.TASK_PLAIN}/attach-resource",
                        json={"resource_name": "x"})
    assert bad.status_code == 400


def test_widget_only_for_matching_urls_on_installed_projects(sim):
    sim.sim.configure_components(bridge_url="http://127.0.0.1:9")
    sim.sim.add_external_attachment(parent=seed.TASK_PLAIN, name="docs",
                                    url="https://docs.example.com/page")
    sim.sim.add_external_attachment(parent=seed.TASK_PLAIN, name="EX-5",
                                    url="https://jira.example.com/browse/EX-5")
    assert [a["name"] for a in sim.sim.widget_attachments(seed.TASK_PLAIN)] == ["EX-5"]
    sim.sim.configure_components(install_on=[])
    assert sim.sim.widget_attachments(seed.TASK_PLAIN) == []


def test_clock_reset_and_rate_limit_endpoints(sim):
    before = sim.sim.now()
    now = requests.post(sim.base + "/_sim/clock", json={"advance": 300}).json()["now"]
    assert now - before >= 300
    requests.post(sim.base + "/_sim/rate-limit", json={"per_minute": 7})
    assert sim.sim.rate_limit_per_minute == 7
    sim.sim.add_external_attachment(parent=seed.TASK_EMPTY, name="x", url="https://x.example")
    assert requests.post(sim.base + "/_sim/reset").json() == {"ok": True}
    assert sim.sim.rate_limit_per_minute == 1500 and sim.sim.apps == {}
    assert sim.sim.attachments_of(seed.TASK_EMPTY) == []
    assert abs(sim.sim.now() - before) < 60
    state = requests.get(sim.base + "/_sim/state").json()
    assert {t["gid"] for t in state["tasks"]} == {t["gid"] for t in seed.TASKS}


def test_rule_requests_have_the_documented_shape():
    host = AppComponentsHost("https://bridge.example.com", "s", clock=lambda: 0)
    meta = host.prepare("rule_metadata", workspace="1", project="2", user="3", action_type="4")
    assert [k for k, _ in parse_qsl(meta.message)] == [
        "workspace", "project", "action_type", "user", "locale", "expires_at"]  # no `action`
    assert meta.url.startswith("https://bridge.example.com/asana/rule?")
    run = host.prepare("rule_run", workspace="1", project="2", user="3", action_type="4",
                       action="5", target_object="6", idempotency_key="k")
    body = json.loads(run.message)
    assert list(body) == ["expires_at", "user", "workspace", "project", "target_object",
                          "action", "action_type", "idempotency_key"]
    assert body["expires_at"] == "1970-01-01T00:01:00.000Z"
    assert run.url == "https://bridge.example.com/asana/rule/run"
    submit = host.prepare("rule_submit", workspace="1", project="2", user="3", action_type="4",
                          action="5", values={"p": "EX"}, rule_name="Make issue")
    assert json.loads(submit.message)["rule_name"] == "Make issue"
    typeahead = host.prepare("typeahead", field="assignee", workspace="1", user="3", query="a")
    assert "task=" not in typeahead.message


def test_cli_refuses_non_loopback_host():
    result = CliRunner().invoke(command, ["--host", "0.0.0.0"])
    assert result.exit_code != 0 and "loopback" in result.output
    assert "--bridge-url" in CliRunner().invoke(command, ["--help"]).output


def test_page_css_has_all_sixteen_pill_colours():
    css = (Path(asana_pkg.__file__).parent / "static" / "asana.css").read_text()
    colours = set(re.findall(r"\.pill-([a-z-]+)\s*\{", css))
    assert colours == {"none", "red", "orange", "yellow-orange", "yellow", "yellow-green", "green",
                       "blue-green", "aqua", "blue", "indigo", "purple", "magenta", "hot-pink",
                       "pink", "cool-gray"}


def test_index_lists_demo_tasks(sim):
    page = requests.get(sim.base + "/")
    assert page.status_code == 200
    for task in seed.TASKS:
        assert f"/demo/task/{task['gid']}" in page.text
