"""The three OAuth callbacks: each uses up its ``state``, learns which flow it finishes,
and answers with that flow's pages.

- ``/oauth/asana/callback``: Asana OAuth, started by the user popup, by an admin signing
  in, or by a project admin opening ``/fields``; what follows is the ``asana_signed_in``
  of ``popup``, ``admin`` or ``field_sync``.
- ``/oauth/jira1/callback``: the OAuth 1.0a dance of the popup.
- ``/oauth/jira2/callback``: OAuth 2.0, for a user in the popup, for an admin's live
  check of a client id and secret on ``/setup``, or for an admin's one-time ADMIN consent
  that registers the webhook.

What each flow does (code exchanges, revocation, what is stored) is in
``services.user_auth``; ``services.pending`` keeps every ``state`` single use, expiring,
bound to the browser that started the flow, and valid on any bridge node. A wrong or
reused ``state`` answers 422 on the popup's final page (whoever opened it, an Asana popup
waits for its "error"). Once the flow is known, a failure answers with the page of its
audience (the popup's or the admin pages').

This module sits on top of ``bridge.web``: it imports ``popup``, ``admin`` and
``field_sync``; none of them imports it, nor each other.
"""

from __future__ import annotations

from flask import Blueprint, request

from ..services import user_auth
from ..services.user_auth import ADMIN, FIELDS, Flow, StateMismatch, Ticket
from . import admin, field_sync, popup
from .errors import describe_failure
from .pages import answer_failures_with, auth_context
from .security import rate_limit

bp = Blueprint("callbacks", __name__)

# Before the flow is known (a bad state), answer as the popup does.
answer_failures_with(bp, popup.failure_page)


def _pages(flow: Flow):
    """The view module whose pages show ``flow``'s outcome."""
    return {ADMIN: admin, FIELDS: field_sync}.get(flow.audience, popup)


def _finish(flows: tuple[Flow, ...], step):
    """Use up the state and run ``step(flow, ticket)``; failures answer with the flow's
    own page."""
    flow, ticket = user_auth.take(auth_context(), request.args.get("state"), flows)
    try:
        return step(flow, ticket)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the flow's page
        if flow.audience == ADMIN:  # the admin's form again, refilled (issue 16.11)
            return admin.flow_failed(ticket, exc)
        return _pages(flow).failure_page(*describe_failure(exc))


@bp.get("/oauth/asana/callback")
@rate_limit(limit=30)
def asana_callback():
    return _finish((user_auth.ASANA_FOR_POPUP, user_auth.ASANA_FOR_ADMIN,
                    user_auth.ASANA_FOR_FIELDS), _asana_signed_in)


def _asana_signed_in(flow: user_auth.AsanaSignIn, ticket: Ticket):
    if request.args.get("error"):
        return _pages(flow).asana_denied()
    code = request.args.get("code")
    if not code:
        raise StateMismatch()
    return _pages(flow).asana_signed_in(flow.finish(auth_context(), ticket, code))


@bp.get("/oauth/jira1/callback")
@rate_limit(limit=30)
def jira1_callback():
    return _finish((user_auth.JIRA_OAUTH1,), _jira1_authorized)


def _jira1_authorized(flow: user_auth.JiraOAuth1, ticket: Ticket):
    verifier = request.args.get("oauth_verifier", "")
    if not verifier or verifier == "denied":  # §1.2: Deny redirects with verifier=denied
        if request.args.get("oauth_token") != ticket.row.request_token:
            raise StateMismatch()
        return popup.jira_denied()
    return popup.connected(flow.finish(auth_context(), ticket,
                                       request.args.get("oauth_token"), verifier))


@bp.get("/oauth/jira2/callback")
@rate_limit(limit=30)
def jira2_callback():
    return _finish((user_auth.JIRA_OAUTH2, user_auth.SETUP_CHECK, user_auth.WEBHOOK_CONSENT),
                   _jira2_authorized)


def _jira2_authorized(flow: Flow, ticket: Ticket):
    if request.args.get("error"):
        if flow is user_auth.WEBHOOK_CONSENT:
            return admin.webhook_consent_denied(request.args.get("error", ""))
        return _pages(flow).jira_denied()
    code = request.args.get("code")
    if not code:
        raise StateMismatch()
    done = flow.finish(auth_context(), ticket, code)
    if flow is user_auth.WEBHOOK_CONSENT:
        return admin.webhook_consented(done)
    if flow is user_auth.SETUP_CHECK:
        return admin.setup_done(done)
    return popup.connected(done)
