"""Attacks on the create and rule callbacks over real HTTP: a signed message replayed on
another callback's path (issue 16 §5), an ``idempotency_key`` reused for another task
(§7), and Jira's throttling reaching Asana with its ``Retry-After`` (issue 18 §4)."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, PROJECT, TASK_EMPTY, TASK_PLAIN, WORKSPACE

from bridge.models import IssueLink, RuleAction

from .conftest import ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance

pytestmark = pytest.mark.e2e
READY = {"project": "EX", "issuetype": "3", "summary": "Half typed", "description": ""}


@pytest.fixture
def ready(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    return jira


def _host(bridge, **kw) -> AppComponentsHost:
    return AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, validate=False, **kw)


def _replay(host, kind: str, path: str, **kw):
    """The exact signed message of ``kind`` posted to ``path`` instead."""
    signed = host.prepare(kind, url=f"{host.bridge_url}{path}", **kw)
    return host.send(signed)


def _issues(jira, summary: str) -> int:
    return sum(1 for i in jira_state(jira).issues.values() if i.get("summary") == summary)


def test_a_signed_on_change_posted_as_a_submit_is_refused(bridge, ready):
    host = _host(bridge)
    answer = _replay(host, "form_change", "/asana/form/submit", workspace=WORKSPACE,
                     task=TASK_PLAIN, user=ALICE, values=READY, changed_field="summary")
    assert answer.status == 400, answer.body
    assert set(answer.body) == {"error"} and "changed_field" in answer.body["error"]
    assert _issues(ready, "Half typed") == 0
    with bridge.app.app_context():
        assert IssueLink.select().count() == 0
    # The same values, submitted as Asana submits them, do create the issue.
    made = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, values=READY)
    assert made.status == 200, made.body
    assert _issues(ready, "Half typed") == 1


def test_a_submit_posted_as_an_on_change_is_refused(bridge, ready):
    host = _host(bridge)
    answer = _replay(host, "form_submit", "/asana/form/change", workspace=WORKSPACE,
                     task=TASK_PLAIN, user=ALICE, values=READY)
    assert answer.status == 400 and "no changed_field" in answer.body["error"]


def _rule(bridge, asana):
    draft = asana.app.sim.new_rule_action(project=PROJECT)
    common = {"workspace": WORKSPACE, "project": PROJECT, "user": ALICE,
              "action_type": draft["action_type"]}
    return common, draft["action"]


def test_rule_callbacks_replayed_on_each_other_are_refused(bridge, asana, ready):
    host = _host(bridge)
    common, action = _rule(bridge, asana)
    values = {"project": "EX", "issuetype": "3"}
    # an on-change of the rule form, posted as the rule's submit: nothing saved
    answer = _replay(host, "rule_change", "/asana/rule/submit", **common, action=action,
                     values=values, changed_field="issuetype")
    assert answer.status == 400 and "changed_field" in answer.body["error"]
    answer = _replay(host, "rule_submit", "/asana/rule/change", **common, action=action,
                     values=values, rule_name="r")
    assert answer.status == 400 and "no changed_field" in answer.body["error"]
    with bridge.app.app_context():
        assert RuleAction.select().count() == 0
    # a run, posted as the rule's submit: nothing saved either
    answer = _replay(host, "rule_run", "/asana/rule/submit", **common, action=action,
                     target_object=TASK_PLAIN, idempotency_key="k-1")
    assert answer.status == 400 and "idempotency_key" in answer.body["error"]
    with bridge.app.app_context():
        assert RuleAction.select().count() == 0


def _saved_rule(bridge, asana, host):
    common, action = _rule(bridge, asana)
    saved = host.rule_submit(**common, action=action, values={"project": "EX", "issuetype": "3"},
                             rule_name="To Jira")
    assert saved.status == 200, saved.body
    return common, action


def test_an_idempotency_key_reused_for_another_task_is_refused(bridge, asana, ready):
    host = _host(bridge, retry_attempts=1)
    common, action = _saved_rule(bridge, asana, host)
    first = host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                          idempotency_key="key-1")
    assert first.status == 200 and first.body["action_result"] == "resources_created"
    other = host.rule_run(**common, action=action, target_object=TASK_EMPTY,
                          idempotency_key="key-1")
    assert other.status == 409, other.body
    assert set(other.body) == {"error"} and "idempotency_key" in other.body["error"]
    assert _issues(ready, "Write the onboarding checklist") == 0
    with bridge.app.app_context():
        assert [link.task_gid for link in IssueLink.select()] == [TASK_PLAIN]
    again = host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                          idempotency_key="key-1")  # Asana's own retry: the first answer
    assert again.status == 200 and again.body == first.body


def _throttle(jira):
    """Jira's rate limiter with alice's bucket empty: her next call gets 429 and a
    Retry-After of about a minute."""
    state = jira_state(jira)
    state.configure(rate_limit={"limit": 1, "interval_seconds": 60, "fill_rate": 1})
    with state.lock:
        state.buckets["alice"] = (0.0, state.clock())


def test_jira_throttling_reaches_asana_with_retry_after(bridge, asana, ready):
    host = _host(bridge, retry_attempts=1)
    common, action = _saved_rule(bridge, asana, host)
    _throttle(ready)
    for answer in (host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                    values={**READY, "summary": "Throttled"}),
                   host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                                 idempotency_key="key-throttled")):
        assert answer.status in (429, 503), (answer.status, answer.body)
        assert set(answer.body) == {"error"} and answer.body["error"]
        assert int(answer.headers["Retry-After"]) > 0
    assert _issues(ready, "Throttled") == 0


# -- the copy checkbox (issue 16 §9) ------------------------------------------------------------

def test_the_copy_label_fits_by_construction():
    from bridge.services.create_issue import copy_label

    def files(n, size, links):
        return ([{"host": "asana", "size": size // max(n, 1)}] * n
                + [{"host": "gdrive", "view_url": "https://drive.example/x"}] * links)

    for n, size, links in ((9999, 1099 * 1024**3, 9999), (1, 1, 1), (0, 0, 1), (3, 10, 0)):
        label = copy_label(files(n, size, links))
        assert len(label) <= 80 and "…" not in label, label
    assert copy_label(files(2, 2048, 1)) == \
        "Copy 2 files (2 KB) to Jira; list 1 link in the description"


def test_the_tasks_own_jira_link_is_not_a_linked_file(make_app, bridge, asana, jira_factory):
    from bridge_sandbox.asana.seed import TASK_RICH

    from .conftest import ADMIN_EMAIL, ASANA_CLIENT_ID

    bridge.app = make_app(PUBLIC_URL=bridge.url, ASANA_BASE_URL=asana.url,
                          ASANA_CLIENT_ID=ASANA_CLIENT_ID,
                          ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET, ADMINS=ADMIN_EMAIL,
                          MAX_ISSUES_PER_TASK="3")
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    host = _host(bridge)
    sim = asana.app.sim
    linked = host.lookup_attach(workspace=WORKSPACE, task=TASK_RICH, user=ALICE, query="EX-1")
    sim.attach_resource(TASK_RICH, linked.body)  # the task's own Jira link
    sim.add_external_attachment(parent=TASK_RICH, name="EX-2 pasted",
                                url=f"{jira.url}/browse/EX-2")  # an issue URL pasted by hand
    sim.add_linked_file(parent=TASK_RICH, name="Spec", url="https://drive.example/spec",
                        host="gdrive")
    form = host.form_metadata(workspace=WORKSPACE, task=TASK_RICH, user=ALICE)
    box = {f["id"]: f for f in form.body["metadata"]["fields"]}["copy_attachments"]
    assert box["options"][0]["label"] == \
        "Copy 5 files (12.7 MB) to Jira; list 1 link in the description"
    values = {f["id"]: f.get("value") for f in form.body["metadata"]["fields"]
              if f["type"] != "static_text"}
    values.update(project="EX", issuetype="3")
    made = host.form_submit(workspace=WORKSPACE, task=TASK_RICH, user=ALICE, values=values)
    assert made.status == 200, made.body
    issue = jira_state(jira).issues[made.body["resource_url"].rsplit("/", 1)[1]]
    listed = issue["description"].split("Files linked in Asana:\n", 1)[1].split("\n")
    assert listed == ["* [Spec|https://drive.example/spec]"]
