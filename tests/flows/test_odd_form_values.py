"""Signed requests whose form ``values`` have an odd shape answer 400 (a form or a
sentence), never 500 (issue 16 §3), on a bridge connected to a Jira simulator.

A list or an object where a form expects one option id (``values.issuetype`` as
``["3"]``) reached a dictionary key in the create-form's cache and crashed the view. Then
generated values (every shape Asana's schema allows, and odd ones) are thrown at the
four form callbacks, each answer checked against Asana's spec by the host.
"""

from __future__ import annotations

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, PROJECT, TASK_PLAIN, WORKSPACE

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET
from .helpers import authorize_user, oauth1_instance

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.e2e

ODD_CHOICES = [["3"], ["3", "1"], [], {"title": "Bug", "value": "3"}, {"title": "Bug"}, {}]


@pytest.fixture
def connected(bridge, jira_factory, asana):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    asana.app.sim.configure_components(ASANA_CLIENT_ID, bridge_url=bridge.url)
    yield AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, retry_attempts=1)


def _not_a_crash(result):
    assert result.status in (200, 400), (result.status, result.body)
    if result.status == 400 and isinstance(result.body, dict) and "error" in result.body:
        assert result.body["error"].endswith(".")


@pytest.mark.parametrize("odd", ODD_CHOICES, ids=repr)
@pytest.mark.parametrize("field", ["project", "issuetype", "instance"])
def test_one_choice_given_as_a_list_or_an_object_is_not_a_crash(connected, field, odd):
    values = {"project": "EX", "issuetype": "3", "summary": "Odd", field: odd}
    common = {"workspace": WORKSPACE, "user": ALICE}
    rule = {**common, "project": PROJECT, "action_type": "1", "action": "777"}
    _not_a_crash(connected.rule_submit(**rule, values=values, rule_name="r"))
    _not_a_crash(connected.rule_change(**rule, values=values, changed_field=field))
    _not_a_crash(connected.form_change(**common, task=TASK_PLAIN, values=values,
                                       changed_field=field))
    submitted = connected.form_submit(**common, task=TASK_PLAIN, values=values)
    _not_a_crash(submitted)
    if field != "instance" and not (isinstance(odd, dict) and odd.get("value")):
        assert submitted.status == 400  # no choice creates nothing


_text = st.text(max_size=12)
_values = st.dictionaries(
    st.sampled_from(["project", "issuetype", "instance", "summary", "description",
                     "copy_attachments", "jira.priority", "jira.assignee", "x"]),
    st.one_of(st.none(), _text, st.sampled_from(["EX", "SEC", "3", "1", "copy"]),
              st.lists(_text, max_size=3), st.dictionaries(_text, st.one_of(_text, st.none()),
                                                            max_size=3),
              st.integers(), st.booleans(), st.lists(st.lists(_text, max_size=2), max_size=2),
              st.dictionaries(_text, st.dictionaries(_text, _text, max_size=2), max_size=2)),
    max_size=6)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_values, kind=st.sampled_from(["form_change", "form_submit", "rule_change",
                                             "rule_submit"]))
def test_generated_values_on_the_signed_callbacks_are_answered(connected, values, kind):
    common = {"workspace": WORKSPACE, "user": ALICE, "values": values}
    if kind.startswith("form"):
        common["task"] = TASK_PLAIN
    else:
        common.update(project=PROJECT, action_type="1", action="778")
    if kind.endswith("change"):
        common["changed_field"] = next(iter(values), "project")
    if kind == "rule_submit":
        common["rule_name"] = "r"
    _not_a_crash(getattr(connected, kind)(**common))
