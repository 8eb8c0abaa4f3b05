"""Tokens after the dance: use, refresh with rotation, serialised refreshes, revocation,
and the move from OAuth 1.0a to OAuth 2.0 (jira-server.md §1.6, §2.4, §2.6, §6.11)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge.db import database
from bridge.jira import oauth2
from bridge.jira.errors import JiraNeedsReconnect
from bridge.models import IssueLink, JiraCredential, JiraInstance, utcnow
from bridge.services import credentials, instances, jira_as_user
from bridge.services.context import Context

from .conftest import jira_state
from .helpers import authorize_user, oauth1_instance, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e


def _redirect(bridge):
    return f"{bridge.url}/oauth/jira2/callback"


def _token_requests(jira) -> int:
    return sum(1 for r in jira_state(jira).request_log
               if r["path"] == "/rest/oauth2/latest/token")


def test_oauth1_token_reads_jira_then_revocation_marks_reconnect(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        me = worker_context().jira_with(cred).myself()
        assert me["name"] == "alice"
        # The user revokes the bridge on Jira's "View OAuth Access Tokens" page (§1.6).
        jira_state(jira).access_tokens.pop(cred.token)
        with pytest.raises(JiraNeedsReconnect) as err:
            worker_context().jira_with(cred).myself()
        assert err.value.problem == "token_rejected"
        assert JiraCredential.get().state == "needs_reconnect"
        with pytest.raises(JiraNeedsReconnect):
            credentials.get_active(cred.asana_user, cred.instance)


def test_jira_for_acts_as_the_user_and_refuses_who_never_connected(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    with bridge.app.app_context():
        with pytest.raises(jira_as_user.JiraNotConnected) as err:
            worker_context().jira_for(instance, user="1200000000000099")  # no such Asana user
        assert err.value.status == 401
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        user = JiraCredential.get().asana_user
        assert worker_context().jira_for(instance, user=user.gid).myself()["name"] == "alice"
        assert worker_context().jira_for(instance, user=user).timeout == \
            bridge.app.config["BRIDGE"].http_timeout
        JiraCredential.update(state="needs_reconnect").execute()
        with pytest.raises(jira_as_user.JiraNotConnected):
            worker_context().jira_for(instance, user=user)


def test_deleted_application_link_means_reconnect(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    state = jira_state(jira)
    state.delete_applink(state.consumers[instance.consumer_key].applink_id)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        with pytest.raises(JiraNeedsReconnect) as err:
            worker_context().jira_with(cred).myself()
        assert err.value.problem in ("consumer_key_unknown", "token_rejected")
        assert JiraCredential.get().state == "needs_reconnect"


def test_oauth2_refreshes_ahead_of_expiry_and_rotation_kills_the_old_pair(bridge,
                                                                          jira_factory):
    jira = jira_factory("9.12.0")
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        old_access, old_refresh = cred.access_token, cred.refresh_token
        # Still valid for an hour: no refresh.
        worker_context().jira_with(cred).myself()
        assert JiraCredential.get().access_token == old_access
        # One minute left (inside REFRESH_AHEAD): refresh first.
        cred.expires_at = utcnow() + dt.timedelta(minutes=1)
        cred.save()
        client = worker_context().jira_with(JiraCredential.get())
        assert client.myself()["name"] == "alice"
        fresh = JiraCredential.get()
        assert fresh.access_token != old_access and fresh.refresh_token != old_refresh
        assert fresh.expires_at > utcnow() + dt.timedelta(minutes=50)
        # Rotation (§2.4): the old refresh token is dead.
        with pytest.raises(JiraNeedsReconnect) as err:
            oauth2.refresh(instance.base_url, instance.client_id, instance.client_secret,
                           old_refresh, _redirect(bridge))
        assert err.value.problem == "invalid_grant"


@pytest.mark.parametrize("workers", [6])
def test_concurrent_refreshes_hit_jira_once(bridge, jira_factory, workers):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        cred.expires_at = utcnow() - dt.timedelta(seconds=1)
        cred.save()
        cred_id = cred.id
    database.close()
    before = _token_requests(jira)
    tokens, errors = [], []
    barrier = threading.Barrier(workers)
    ctx = Context.background(bridge.app.config["BRIDGE"], bridge.app.extensions["bridge.cache"])

    def worker():
        try:
            database.connect(reuse_if_open=True)
            stale = JiraCredential.get_by_id(cred_id)  # every worker read the expired pair
            barrier.wait()
            client = ctx.jira_with(stale)
            tokens.append(client.auth.token)
            client.myself()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert _token_requests(jira) - before == 1
    assert len(set(tokens)) == 1
    with bridge.app.app_context():
        assert JiraCredential.get().state == "active"


def test_refresh_refused_marks_reconnect(bridge, jira_factory):
    jira = jira_factory("8.22.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        jira_state(jira).oauth2_tokens.clear()  # the user revoked the app in Jira
        cred.expires_at = utcnow()
        cred.save()
        with pytest.raises(JiraNeedsReconnect):
            worker_context().jira_with(JiraCredential.get()).myself()
        assert JiraCredential.get().state == "needs_reconnect"


def test_dead_bearer_token_is_anonymous_to_jira_and_means_reconnect(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        jira_state(jira).oauth2_tokens.clear()  # revoked: Jira now treats it as anonymous
        with pytest.raises(JiraNeedsReconnect):
            worker_context().jira_with(cred).myself()
        assert JiraCredential.get().state == "needs_reconnect"


def test_move_from_oauth1_to_oauth2_keeps_links_and_asks_users_once(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        IssueLink.create(task_gid="1400000000000001", instance=instance, issue_id="10000",
                         issue_key="WEB-1", linked_by=JiraCredential.get().asana_user)
        client = jira_state(jira).add_oauth2_client("Asana bridge", _redirect(bridge))
        moved = instances.save_oauth2_instance(WORKSPACE, instances.probe(jira.url),
                                               client.client_id, client.client_secret)
        assert moved.id == instance.id and moved.auth_mode == "oauth2"
        assert IssueLink.get().instance_id == instance.id
        assert JiraCredential.get().state == "needs_reconnect"
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        cred = JiraCredential.get()
        assert (cred.auth_mode, cred.state) == ("oauth2", "active")
        assert JiraInstance.select().count() == 1 and IssueLink.select().count() == 1
