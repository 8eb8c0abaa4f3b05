"""What an app remembers belongs to that app (issue 18 §1): two apps in one process, on
two databases whose rows have the same ids, never serve each other's cached widget or
create metadata. Module-wide caches keyed by row ids did: the second app's instance 1 and
user 1 were answered from the first one's memory."""

from __future__ import annotations

import peewee as pw
import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, TASK_PLAIN, TASK_RICH, WORKSPACE

from bridge.models import AsanaUser, IssueLink, IssueSnapshot, JiraInstance
from bridge.services import create_issue, widget
from bridge.services.context import Context
from bridge.web.widget_cache import CachedWidget

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e


def _set_up(bridge, jira) -> JiraInstance:
    """Instance, Alice authorized, EX-1 linked to the task by Alice."""
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        IssueLink.create(task_gid=TASK_PLAIN, instance=instance, issue_id="10000",
                         issue_key="EX-1", linked_by=AsanaUser.get(AsanaUser.gid == ALICE))
    return instance


def _status(bridge, instance: JiraInstance) -> str:
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    answer = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                         attachment="1500000000000042",
                         resource_url=f"{instance.base_url}/browse/EX-1")
    assert answer.status == 200, answer.body
    return answer.body["metadata"]["fields"][0]["text"]


def _short_path(app) -> CachedWidget:
    layer = app.wsgi_app
    while not isinstance(layer, CachedWidget):
        layer = layer.wsgi_app
    return layer


def _project_labels(bridge) -> list[str]:
    with bridge.app.app_context():
        ctx = Context(settings=bridge.app.config["BRIDGE"],
                      cache=bridge.app.extensions["bridge.cache"], workspace=WORKSPACE,
                      user=ALICE, task=TASK_RICH)  # TASK_PLAIN has its one link
        urls = create_issue.Urls("https://x/change", "https://x/submit", "https://x/{field}")
        form = create_issue.build_form(ctx, urls)
    field = next(f for f in form["metadata"]["fields"] if f["id"] == "project")
    return [o["label"] for o in field["options"]]


def test_a_second_app_on_another_database_starts_cold(bridge, make_app, asana, tmp_path,
                                                      jira_factory):
    jira = jira_factory("10.3.0")
    first = _set_up(bridge, jira)
    assert _status(bridge, first) == "Open"
    assert _status(bridge, first) == "Open"  # now from the first app's memory
    # One object per app: the views filled the one the WSGI short path reads.
    cache = bridge.app.extensions["bridge.cache"]
    assert (first.id, "EX-1") in cache.widgets.entries
    assert _short_path(bridge.app).cache is cache
    assert "Renamed (EX)" not in _project_labels(bridge)

    jira_state(jira).update_issue("EX-1", {"status": "Done"})
    jira_state(jira).projects["EX"]["name"] = "Renamed"

    # Another app in this process, on a database of its own: its first rows get the same
    # ids (instance 1, user 1) and its snapshot of EX-1 the same generation (1).
    other = make_app(PUBLIC_URL=bridge.url, ASANA_BASE_URL=asana.url,
                     ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET,
                     DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}",
                     INSTANCE_PATH=str(tmp_path / "other"))
    bridge.app = other
    second = _set_up(bridge, jira)
    with other.app_context():
        assert second.id == first.id
        # The worker's re-read stores the snapshot; this app's memory holds nothing yet.
        assert widget.refresh(worker_context(), JiraInstance.get_by_id(second.id), "EX-1")
    assert _status(bridge, second) == "Done"  # not the first app's "Open"
    assert "Renamed (EX)" in _project_labels(bridge)  # not the first app's projects



def test_a_snapshot_deleted_and_made_again_is_not_taken_for_the_one_before(bridge,
                                                                          jira_factory):
    """A snapshot row deleted (a purge) and made again starts a new life: its first
    generation must not match the one remembered from its earlier life."""
    jira = jira_factory("10.3.0")
    instance = _set_up(bridge, jira)
    assert _status(bridge, instance) == "Open"
    assert _status(bridge, instance) == "Open"  # now from memory
    jira_state(jira).update_issue("EX-1", {"status": "Done"})
    with bridge.app.app_context():
        assert IssueSnapshot.delete().execute() == 1
        # The worker's re-read stores the new snapshot; this app's memory is untouched.
        assert widget.refresh(worker_context(), JiraInstance.get_by_id(instance.id), "EX-1")
    assert _status(bridge, instance) == "Done"  # not the earlier life's "Open"


@pytest.mark.parametrize("between", [False, True], ids=["alone", "another-added-between"])
def test_an_instance_added_again_is_not_taken_for_the_one_removed(bridge, jira_factory,
                                                                  between):
    """Remove the instance with a widget in memory (its base URL still mapped to its id
    in this process's ``Instances``), add it again and link the same key: the widget is
    the new instance's, at once. On SQLite the instance alone gets the same id again, so
    the new snapshot must not be taken for the removed one's; with another instance added
    in between (SQLite), and always on PostgreSQL, it gets a new id, and the remembered id
    must not answer "not an issue of a Jira connected to this workspace" (a 404)."""
    from bridge.services import instances

    jira = jira_factory("10.3.0")
    first = _set_up(bridge, jira)
    assert _status(bridge, first) == "Open"
    assert _status(bridge, first) == "Open"  # now from memory
    jira_state(jira).update_issue("EX-1", {"status": "Done"})
    if between:  # another workspace's instance takes the next id
        oauth2_instance(bridge, jira, workspace="1100000000000777")
    with bridge.app.app_context():
        instances.remove(JiraInstance.get_by_id(first.id))
    again = _set_up(bridge, jira)
    sqlite = isinstance(bridge.app.extensions["bridge.db"], pw.SqliteDatabase)
    assert (again.id == first.id) == (sqlite and not between)
    with bridge.app.app_context():
        assert widget.refresh(worker_context(), JiraInstance.get_by_id(again.id), "EX-1")
    assert _status(bridge, again) == "Done"  # not the removed instance's "Open", nor a 404


def test_another_jira_under_a_removed_ones_id_gets_its_own_create_form(bridge, jira_factory):
    """The create form's projects are remembered per user and instance. On SQLite a Jira
    added after the last one was removed gets the removed one's id: its form must list its
    own projects, not those remembered from the Jira before."""
    from bridge.services import instances

    old, new = jira_factory("10.3.0"), jira_factory("9.12.0")
    jira_state(old).projects["EX"]["name"] = "Before"
    jira_state(new).projects["EX"]["name"] = "After"
    first = _set_up(bridge, old)
    assert "Before (EX)" in _project_labels(bridge)
    with bridge.app.app_context():
        instances.remove(JiraInstance.get_by_id(first.id))
    again = _set_up(bridge, new)
    sqlite = isinstance(bridge.app.extensions["bridge.db"], pw.SqliteDatabase)
    assert (again.id == first.id) == sqlite
    labels = _project_labels(bridge)
    assert "After (EX)" in labels and "Before (EX)" not in labels


def test_a_new_authorization_as_another_jira_account_gets_its_own_create_form(
        bridge, jira_factory):
    """The create form's projects are remembered per credential: Alice re-authorizing the
    same Jira as bob (who may create in EX only) sees bob's projects at once, not those
    remembered from her alice authorization for ``META_TTL``."""
    jira = jira_factory("10.3.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)  # Jira account alice: EX and SEC
    assert [label.rsplit(" ", 1)[-1] for label in _project_labels(bridge)] == ["(EX)", "(SEC)"]
    authorize_user(bridge, jira, user="bob")  # the same Asana user, another Jira account
    with bridge.app.app_context():
        cred, = JiraInstance.get_by_id(instance.id).credentials
        assert cred.jira_username == "bob"
    assert [label.rsplit(" ", 1)[-1] for label in _project_labels(bridge)] == ["(EX)"]
