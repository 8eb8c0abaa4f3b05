"""The request's one ``Context`` (``services.context``): built once, it reads the acting
user's row and credential once however many services ask, and it is what the signed
blueprint hands every view."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana.seed import ALICE, TASK_PLAIN, WORKSPACE

from bridge.db import database
from bridge.services import create_issue
from bridge.services.context import Context

from .helpers import authorize_user, oauth2_instance
from .test_create_service import _urls

pytestmark = pytest.mark.e2e


def _selects(monkeypatch, fn) -> dict[str, int]:
    """Run ``fn`` and count the SELECTs it sends, by table."""
    seen: list[str] = []
    db = database.obj
    send = db.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return send(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", spy)
    try:
        fn()
    finally:
        monkeypatch.undo()
    counts: dict[str, int] = {}
    for sql in seen:
        if sql.startswith("SELECT") and ' FROM "' in sql:
            table = sql.split(' FROM "', 1)[1].split('"', 1)[0]
            counts[table] = counts.get(table, 0) + 1
    return counts


def test_a_submit_reads_the_acting_users_row_and_credential_once(bridge, jira_factory,
                                                                 monkeypatch):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    urls = _urls(bridge)
    values = {"project": "EX", "issuetype": "1", "summary": "Once", "description": "d"}
    with bridge.app.app_context():
        settings = bridge.app.config["BRIDGE"]

        def ctx():
            return Context(settings=settings, cache=bridge.app.extensions["bridge.cache"],
                           workspace=WORKSPACE, user=ALICE, task=TASK_PLAIN)

        create_issue.build_form(ctx(), urls, values)  # metadata cached, as on a real submit
        counts = _selects(monkeypatch, lambda: create_issue.submit(ctx(), urls, values))
    assert counts.get("asana_user") == 1
    assert counts.get("jira_credential") == 1


def test_a_context_without_a_user_is_not_connected(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    instance = oauth2_instance(bridge, jira)
    with bridge.app.app_context():
        ctx = Context.background(bridge.app.config["BRIDGE"],
                                 bridge.app.extensions["bridge.cache"])
        assert ctx.asana_user() is None and ctx.instances() == []
        with pytest.raises(create_issue.JiraNotConnected):
            ctx.jira_for(instance)
