"""Jira's state in Asana custom fields over real HTTP (issue 17 §6): bridge → Jira simulator
(the widget's re-read) → Asana simulator (custom fields, PUT /tasks)."""

from __future__ import annotations

import threading
import time

import pytest
from bridge_sandbox.asana.seed import PROJECT, TASK_EMPTY, TASK_PLAIN

from bridge.models import (
    AsanaUser,
    AuditEvent,
    FieldOption,
    FieldSync,
    IssueLink,
    TaskFields,
)
from bridge.services import sync, sync_refresh, widget
from bridge.services.context import Context
from bridge.timeutil import utcnow

from .conftest import jira_state
from .helpers import authorize_user, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e

ALL_NEW = {"status": "new", "priority": "new", "assignee": "new", "done": "new"}


@pytest.fixture
def jira10(jira_factory):
    return jira_factory("10.3.0")


@pytest.fixture
def linked(bridge, asana, jira10):
    """Alice (admin of the seeded project) connected; EX-1 linked to a task of it, EX-2
    to a task of it too."""
    instance = oauth2_instance(bridge, jira10)
    authorize_user(bridge, jira10)
    st = jira_state(jira10)
    with bridge.app.app_context():
        alice = AsanaUser.get()
        for task, key in ((TASK_PLAIN, "EX-1"), (TASK_EMPTY, "EX-2")):
            IssueLink.create(task_gid=task, instance=instance, issue_id=st.find_issue(key)["id"],
                             issue_key=key, linked_by=alice)
    return instance


def _fields(asana, task: str) -> dict:
    sim = asana.app.sim
    out = {}
    for setting in sim.field_settings.get(PROJECT, []):
        field = sim.custom_fields[setting["custom_field"]]
        value = sim.task_field_value(task, field["gid"])
        option = next((o for o in field["enum_options"] if o["gid"] == value), None)
        out[field["name"]] = option["name"] if option else None
    return out


def _webhook_reread(bridge, instance, key: str):
    """What a Jira webhook for ``key`` leads to on a worker (services.widget)."""
    with bridge.app.app_context():
        widget.invalidate(instance, issue_key=key)
        return widget.refresh(worker_context(), instance, key)


def _enable(bridge, choices=ALL_NEW, **kw) -> FieldSync:
    with bridge.app.app_context():
        ctx = Context.of_user(bridge.app.config["BRIDGE"], bridge.app.extensions["bridge.cache"],
                              AsanaUser.get())
        return sync.enable(ctx, PROJECT, choices, **kw)


def test_fields_follow_jira_with_one_write_per_change(bridge, asana, jira10, linked):
    row = _enable(bridge, complete_on_done=True)
    assert set(row.fields) == {"status", "priority", "assignee", "done"}
    with bridge.app.app_context():
        assert sync_refresh.reread(worker_context(), FieldSync.get()) == 2
    sim = asana.app.sim
    alice_name = jira_state(jira10).users["alice"]["displayName"]
    assert _fields(asana, TASK_PLAIN) == {"Jira status": "Open", "Jira priority": "High",
                                          "Jira assignee": alice_name, "Jira done": "Not done"}
    writes = len(sim.task_updates)
    assert writes == 2  # one per task
    # A status change in Jira: one write, the changed field only.
    jira_state(jira10).update_issue("EX-1", {"status": "In Progress"})
    assert _webhook_reread(bridge, linked, "EX-1")
    assert len(sim.task_updates) == writes + 1
    last = sim.task_updates[-1]
    assert last["task"] == TASK_PLAIN and len(last["data"]["custom_fields"]) == 1
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Progress"
    import requests  # the simulator's task page (the demo) shows the field too
    page = requests.get(f"{asana.url}/demo/task/{TASK_PLAIN}", timeout=10).text
    assert '<dd class="custom-field" data-field="Jira status">In Progress</dd>' in page
    # Nothing changed in what the fields show (a comment, say): no write.
    jira_state(jira10).update_issue("EX-1", {"summary": "Only the summary changed"})
    assert _webhook_reread(bridge, linked, "EX-1")
    assert len(sim.task_updates) == writes + 1
    # Done: status and category change in one write, and the task is completed.
    jira_state(jira10).update_issue("EX-1", {"status": "Done", "assignee": None})
    _webhook_reread(bridge, linked, "EX-1")
    assert len(sim.task_updates) == writes + 2
    assert _fields(asana, TASK_PLAIN) == {"Jira status": "Done", "Jira priority": "High",
                                          "Jira assignee": "Unassigned", "Jira done": "Done"}
    assert sim.tasks[TASK_PLAIN]["completed"] is True
    assert sim.tasks[TASK_EMPTY]["completed"] is False
    # A value Asana has no option for yet gets one.
    jira_state(jira10).update_issue("EX-1", {"priority": "Lowest", "assignee": "bob"})
    _webhook_reread(bridge, linked, "EX-1")
    assert _fields(asana, TASK_PLAIN)["Jira assignee"] == \
        jira_state(jira10).users["bob"]["displayName"]


def test_only_a_project_admin_turns_it_on_and_an_existing_field_can_be_chosen(
        bridge, asana, jira10, linked):
    from bridge_sandbox.asana.seed import ALICE, BOB

    asana.app.sim.projects[PROJECT]["members"] = {BOB: "admin"}  # Alice is no admin now
    with pytest.raises(sync.NotProjectAdmin):
        _enable(bridge)
    with bridge.app.app_context():
        assert FieldSync.select().count() == 0
        assert asana.app.sim.custom_fields == {}
    asana.app.sim.projects[PROJECT]["members"] = {ALICE: "admin"}
    row = _enable(bridge, {"status": "new"})
    status_gid = row.fields["status"]["gid"]
    # Turned on again choosing the field that is now on the project: no second field.
    again = _enable(bridge, {"status": status_gid, "done": ""})
    assert again.fields["status"]["gid"] == status_gid and set(again.fields) == {"status"}
    assert len(asana.app.sim.custom_fields) == 1
    with pytest.raises(sync.SyncRefused):
        _enable(bridge, {"status": "1234"})  # not a field of the project


def test_a_lost_token_stops_the_sync_with_an_audit_event(bridge, asana, jira10, linked):
    _enable(bridge, {"status": "new"})
    with bridge.app.app_context():
        sync_refresh.reread(worker_context(), FieldSync.get())
        AsanaUser.update(access_token="revoked-token").execute()
    jira_state(jira10).update_issue("EX-1", {"status": "In Progress"})
    _webhook_reread(bridge, linked, "EX-1")
    with bridge.app.app_context():
        stopped = FieldSync.get()
        assert stopped.state == "stopped" and "no longer valid" in stopped.notice
        assert AuditEvent.get(AuditEvent.action == "field_sync.stopped").outcome == "token_lost"
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "Open"


def test_a_429_pauses_writes_and_nothing_is_lost(bridge, asana, jira10, linked):
    _enable(bridge, {"status": "new"})
    with bridge.app.app_context():
        sync_refresh.reread(worker_context(), FieldSync.get())
    sim = asana.app.sim
    sim.rate_limit_per_minute = 0  # every request now answers 429 with Retry-After
    jira_state(jira10).update_issue("EX-1", {"status": "In Progress"})
    _webhook_reread(bridge, linked, "EX-1")
    with bridge.app.app_context():
        row = TaskFields.get(TaskFields.task_gid == TASK_PLAIN)
        assert row.state == "pending" and row.wanted == {"status": "In Progress"}
        assert FieldSync.get().paused_until is not None
        # While paused, a write does not even ask Asana.
        before = sum(len(w) for w in sim.requests_log.values())
        assert sync.write(worker_context(), row.id) == "deferred"
        assert sum(len(w) for w in sim.requests_log.values()) == before
        # Retry-After has passed: the queued write goes through.
        sim.rate_limit_per_minute = 1500
        FieldSync.update(paused_until=None).execute()
        assert sync.write(worker_context(), row.id) == "written"
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Progress"


def _signed_in(bridge, email="alice@example.com"):
    from .browser import Browser
    from .conftest import asana_consent

    browser = Browser()
    page = asana_consent(browser, browser.get(f"{bridge.url}/fields"), email=email)
    assert page.status_code == 200 and page.url == f"{bridge.url}/fields", page.url
    return browser, page


def test_the_settings_page_turns_it_on_and_shows_a_stop(bridge, asana, jira10, linked):
    browser, page = _signed_in(bridge)
    assert "Website relaunch" in page.text
    form = browser.get(f"{bridge.url}/fields/{PROJECT}")
    assert form.status_code == 200 and "Turn on" in form.text
    saved = browser.submit(form, button="action", button_value="on", status="new",
                           priority="", assignee="", done="new", complete_on_done="on")
    assert saved.status_code == 200 and 'id="saved"' in saved.text, saved.text[:500]
    with bridge.app.app_context():
        row = FieldSync.get()
        assert set(row.fields) == {"status", "done"} and row.complete_on_done
        assert row.enabled_by.email == "alice@example.com"
    names = {f["name"] for f in asana.app.sim.custom_fields.values()}
    assert names == {"Jira status", "Jira done"}
    # Saved again with what the form now shows: the same fields, nothing new made.
    again = browser.submit(browser.get(f"{bridge.url}/fields/{PROJECT}"), button="action",
                           button_value="on")
    assert 'id="saved"' in again.text and len(asana.app.sim.custom_fields) == 2
    # A stopped sync says why on the form.
    with bridge.app.app_context():
        sync.stop(FieldSync.get(), "token_lost", "Writing stopped: test notice.")
    assert "Writing stopped: test notice." in browser.get(f"{bridge.url}/fields/{PROJECT}").text
    # A forged post without the CSRF token changes nothing.
    forged = browser.session.post(f"{bridge.url}/fields/{PROJECT}",
                                  data={"action": "off"}, timeout=15)
    assert forged.status_code in (400, 403)
    with bridge.app.app_context():
        assert FieldSync.select().count() == 1
    off = browser.submit(browser.get(f"{bridge.url}/fields/{PROJECT}"), button="action",
                         button_value="off")
    assert "Turned off" in off.text
    with bridge.app.app_context():
        assert FieldSync.select().count() == 0


def test_the_settings_page_refuses_a_project_editor(bridge, asana, jira10, linked):
    browser, _ = _signed_in(bridge, email="bob@example.com")
    refused = browser.get(f"{bridge.url}/fields/{PROJECT}")
    assert refused.status_code == 403 and "Only an admin of this Asana project" in refused.text


def test_an_older_read_reaching_asana_last_never_wins(bridge, asana, jira10, linked):
    """Two workers read the issue a moment apart (a webhook's re-read and the periodic
    one); the older read's write must not land after the newer one."""
    from bridge.models import IssueSnapshot

    _enable(bridge, {"status": "new"})
    with bridge.app.app_context():
        sync_refresh.reread(worker_context(), FieldSync.get())
        old = IssueSnapshot.get(IssueSnapshot.issue_key == "EX-1")
        old_data, old_generation = dict(old.data), old.generation
    jira_state(jira10).update_issue("EX-1", {"status": "In Progress"})
    assert _webhook_reread(bridge, linked, "EX-1")
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Progress"
    writes = len(asana.app.sim.task_updates)
    with bridge.app.app_context():  # the slow worker's older read arrives now
        assert sync.on_snapshot(worker_context(), linked, "EX-1", old_data,
                                old_generation) == ["superseded"]
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Progress"
    assert len(asana.app.sim.task_updates) == writes


def test_a_429_before_the_task_s_projects_are_known_is_asked_again(bridge, asana, jira10,
                                                                   linked):
    from bridge.models import TaskProjects

    _enable(bridge, {"status": "new"})
    with bridge.app.app_context():
        sync_refresh.reread(worker_context(), FieldSync.get())
        TaskProjects.delete().execute()  # the bridge has not yet asked which projects
    asana.app.sim.rate_limit_per_minute = 0
    jira_state(jira10).update_issue("EX-1", {"status": "In Progress"})
    _webhook_reread(bridge, linked, "EX-1")
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "Open"
    asana.app.sim.rate_limit_per_minute = 1500
    with bridge.app.app_context():
        FieldSync.update(paused_until=None).execute()
        # what the queue runs once Retry-After has passed
        assert "written" in sync.apply_latest(worker_context(), linked.id, "EX-1")
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Progress"


def test_one_writer_per_task_and_a_wish_made_during_a_write_is_written_after_it(
        bridge, asana, jira10, linked):
    _enable(bridge, {"status": "new"})
    with bridge.app.app_context():
        sync_refresh.reread(worker_context(), FieldSync.get())
        row = TaskFields.get(TaskFields.task_gid == TASK_PLAIN)
        # Another worker is writing "In Progress" (claimed the row) ...
        TaskFields.update(state="writing", wanted={"status": "In Progress"}).execute()
        writes = len(asana.app.sim.task_updates)
        # ... a second worker may not write the task meanwhile,
        assert sync.write(worker_context(), row.id) == "busy"
        # ... and a newer read only records its wish.
        newer = {"status": "Done"}
        assert sync.apply(worker_context(), FieldSync.get(), TASK_PLAIN, newer) == "queued"
        assert len(asana.app.sim.task_updates) == writes
        # The first writer finishes: the newer wish is written right after.
        claimed = TaskFields.get_by_id(row.id)
        assert sync._done(claimed, {"status": "In Progress"}, "written") == "again"
        assert sync.write(worker_context(), row.id) == "written"
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "Done"
    assert len(asana.app.sim.task_updates) == writes + 1


def test_workers_needing_the_same_new_option_at_once_make_it_once(
        bridge, asana, jira10, linked, monkeypatch):
    """Two tasks of the project get a status no option has yet, on three workers at once:
    Asana gets one new option, both tasks show it, and the stored option map keeps it."""
    _enable(bridge, {"status": "new"})
    made = sync.AsanaFieldsClient.add_enum_option

    def slow_add(self, field, name):  # widens the window between "missing" and "made"
        time.sleep(0.3)
        return made(self, field, name)

    monkeypatch.setattr(sync.AsanaFieldsClient, "add_enum_option", slow_add)
    tasks = [TASK_PLAIN, TASK_EMPTY, TASK_PLAIN]
    barrier = threading.Barrier(len(tasks))
    outcomes: list = [None] * len(tasks)

    def run(i):
        with bridge.app.app_context():
            barrier.wait()
            try:
                outcomes[i] = sync.apply(worker_context(), FieldSync.get(), tasks[i],
                                         {"status": "In Review"})
            except Exception as exc:  # reported below
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tasks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    sim = asana.app.sim
    with bridge.app.app_context():
        field = FieldSync.get().fields["status"]
    names = [o["name"] for o in sim.custom_fields[field["gid"]]["enum_options"]]
    assert names.count("In Review") == 1, names
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Review"
    assert _fields(asana, TASK_EMPTY)["Jira status"] == "In Review"
    option = next(o for o in sim.custom_fields[field["gid"]]["enum_options"]
                  if o["name"] == "In Review")
    assert field["options"].get("in review") == option["gid"]


def test_a_claim_left_by_a_dead_worker_is_taken_over_without_a_second_option(
        bridge, asana, jira10, linked):
    """A worker claimed "In Review", made it in Asana and died before recording it: the
    next worker takes the stale claim over and finds the option by name."""
    _enable(bridge, {"status": "new"})
    sim = asana.app.sim
    with bridge.app.app_context():
        field_gid = FieldSync.get().fields["status"]["gid"]
        ctx = worker_context()
        sync._fields_client(ctx, AsanaUser.get()).add_enum_option(field_gid, "In Review")
        FieldOption.create(field_gid=field_gid, name="in review",
                           claimed_at=utcnow() - sync.OPTION_LEASE * 2)
        assert sync.apply(ctx, FieldSync.get(), TASK_PLAIN, {"status": "In Review"}) == "written"
    names = [o["name"] for o in sim.custom_fields[field_gid]["enum_options"]]
    assert names.count("In Review") == 1, names
    assert _fields(asana, TASK_PLAIN)["Jira status"] == "In Review"


def test_an_option_made_by_hand_after_set_up_is_used_not_made_again(bridge, asana, jira10,
                                                                    linked):
    """Someone adds "in review" to the status field in Asana after the sync was turned
    on: the bridge's stored option map does not know it, so the first task needing
    "In Review" looks in the field (by name, case-insensitive) before making one."""
    _enable(bridge, {"status": "new"})
    sim = asana.app.sim
    with bridge.app.app_context():
        field_gid = FieldSync.get().fields["status"]["gid"]
    by_hand = sim.add_enum_option(field_gid, {"name": "in review"})
    with bridge.app.app_context():
        assert sync.apply(worker_context(), FieldSync.get(), TASK_PLAIN,
                          {"status": "In Review"}) == "written"
        stored = FieldSync.get().fields["status"]["options"]
    names = [o["name"].lower() for o in sim.custom_fields[field_gid]["enum_options"]]
    assert names.count("in review") == 1, names
    assert sim.task_field_value(TASK_PLAIN, field_gid) == by_hand["gid"]
    assert stored["in review"] == by_hand["gid"]


def _trash(sim, field_gid: str, name: str) -> str:
    """Trash an option by hand in Asana (REST OAS ``EnumOption``: never deleted, disabled:
    tasks keep it, nobody can choose it again); returns its gid."""
    option = next(o for o in sim.custom_fields[field_gid]["enum_options"]
                  if o["name"] == name and o["enabled"])
    option["enabled"] = False
    return option["gid"]


def test_an_option_trashed_in_asana_is_found_or_made_again_once(bridge, asana, jira10,
                                                                 linked):
    """The bridge made "In Review" and keeps its gid (claim and option map); someone then
    trashes it in Asana, so a write with that gid is refused (400). The sync notices the
    gid is no longer a choice, forgets it, makes the option again once and writes."""
    _enable(bridge, {"status": "new"})
    sim = asana.app.sim
    with bridge.app.app_context():
        field_gid = FieldSync.get().fields["status"]["gid"]
        assert sync.apply(worker_context(), FieldSync.get(), TASK_PLAIN,
                          {"status": "In Review"}) == "written"
    trashed = _trash(sim, field_gid, "In Review")
    puts = len(sim.task_updates)
    with bridge.app.app_context():
        assert sync.apply(worker_context(), FieldSync.get(), TASK_EMPTY,
                          {"status": "In Review"}) == "written"
        stored = FieldSync.get().fields["status"]["options"]["in review"]
        claims = [(c.name, c.option_gid) for c in FieldOption.select()]
    made = [o for o in sim.custom_fields[field_gid]["enum_options"]
            if o["name"] == "In Review" and o["enabled"]]
    assert len(made) == 1 and made[0]["gid"] != trashed
    assert sim.task_field_value(TASK_EMPTY, field_gid) == made[0]["gid"]
    assert sim.task_field_value(TASK_PLAIN, field_gid) == trashed  # kept, as Asana does
    assert stored == made[0]["gid"] and claims == [("in review", made[0]["gid"])]
    assert len(sim.task_updates) == puts + 1  # the refused write changed nothing


def test_an_option_trashed_again_at_once_fails_the_write_without_a_loop(
        bridge, asana, jira10, linked, monkeypatch):
    """Made again and trashed again before the write: the write fails (it is not tried
    over and over), with one option made."""
    _enable(bridge, {"status": "new"})
    sim = asana.app.sim
    with bridge.app.app_context():
        field_gid = FieldSync.get().fields["status"]["gid"]
        assert sync.apply(worker_context(), FieldSync.get(), TASK_PLAIN,
                          {"status": "In Review"}) == "written"
    _trash(sim, field_gid, "In Review")
    made = sync.AsanaFieldsClient.add_enum_option
    calls = []

    def made_then_trashed(self, field, name):
        option = made(self, field, name)
        calls.append(_trash(sim, field, name))
        return option

    monkeypatch.setattr(sync.AsanaFieldsClient, "add_enum_option", made_then_trashed)
    puts = []
    update = sync.AsanaFieldsClient.update_task
    monkeypatch.setattr(sync.AsanaFieldsClient, "update_task",
                        lambda self, task, data: puts.append(task) or update(self, task, data))
    with bridge.app.app_context():
        assert sync.apply(worker_context(), FieldSync.get(), TASK_EMPTY,
                          {"status": "In Review"}) == "failed"
    assert len(calls) == 1 and len(puts) == 2
