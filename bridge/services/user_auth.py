"""Signing in: Asana OAuth to learn who is there, then that user's Jira authorization, and
an admin's live check of an OAuth 2.0 client; the HTTP, token revocation and database
writes of each (reference: asana-app-components.md §7.1-§7.2, jira-server.md §1.2, §2.2,
§2.7).

Each kind of flow is an object with ``start`` (the URL to send the browser to) and
``finish`` (what the callback does with the provider's answer). ``take`` uses up a
callback's ``state`` and says which flow it belongs to (``services.pending``: anonymous
Asana sign-ins carry a signed state and keep no row; a known user's flows keep one). The
views (``web.popup``, ``web.admin``, ``web.callbacks``) translate requests and answers;
``audience`` tells them whose pages show a flow's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from .. import pkce
from ..asana import oauth as asana_oauth
from ..asana.client import AsanaClient
from ..errors import BridgeError
from ..jira import oauth1 as jira_oauth1
from ..jira import oauth2 as jira_oauth2
from ..jira.client import JiraClient
from ..jira.errors import JiraError, JiraNeedsReconnect
from ..jira.signing import BearerAuth, oauth1_auth
from ..models import AsanaUser, AsanaWorkspace, JiraInstance, PendingAuth, utcnow
from . import credentials, instances, jira_as_user, pending, webhooks
from .pending import StateMismatch

__all__ = ["AuthContext", "Flow", "SignedIn", "SetupDone", "StateMismatch", "Ticket",
           "WebhookConsented", "instances_of", "jira_flow_for", "take"]

ASANA_CALLBACK_PATH = "/oauth/asana/callback"
POPUP, ADMIN, FIELDS = "popup", "admin", "fields"  # whose pages: popup, admin, /fields


class RequestTokenSpent(BridgeError):
    """OAuth 1.0a: the request token died (10 minutes, §1.4) or was used already."""

    status = 400
    code = "request_token_spent"
    public_message = "The Jira authorization took too long or was already used. Start again."


@dataclass(frozen=True)
class AuthContext:
    """What every flow needs: the settings, the key that signs anonymous states, and the
    browser's id (from the signed session cookie)."""

    settings: object
    state_key: bytes | str
    browser: str


@dataclass(frozen=True)
class Ticket:
    """A used-up ``state``: what the flow's ``finish`` needs."""

    kind: str
    pkce_verifier: str | None
    return_url: str | None = None
    row: PendingAuth | None = None  # a known user's flow


@dataclass(frozen=True)
class SignedIn:
    user: AsanaUser
    me: dict  # Asana's users/me: gid, name, email, workspaces
    return_url: str | None


@dataclass(frozen=True)
class SetupDone:
    instance: JiraInstance
    workspace: AsanaWorkspace
    me: dict  # Jira's /myself for the admin


def asana_redirect_uri(settings) -> str:
    if not settings.public_url:
        raise BridgeError("BRIDGE_PUBLIC_URL is not set on this bridge.", status=503,
                          code="no_public_url")
    return settings.public_url.rstrip("/") + ASANA_CALLBACK_PATH


class Flow:
    kind: str
    audience: str  # POPUP, ADMIN or FIELDS: whose pages answer
    anonymous = False  # True: a signed state, no row (services.pending)


class AsanaSignIn(Flow):
    """Asana OAuth with ``state`` and PKCE S256 (§7.2): who the user is."""

    anonymous = True

    def __init__(self, kind: str, audience: str):
        self.kind, self.audience = kind, audience

    def start(self, ctx: AuthContext, return_url: str | None = None) -> str:
        cfg = ctx.settings
        state, verifier = pending.issue_signed(self.kind, key=ctx.state_key,
                                               browser=ctx.browser, return_url=return_url)
        return asana_oauth.authorize_url(cfg.asana_base_url, cfg.asana_client_id,
                                         asana_redirect_uri(cfg), state,
                                         pkce.challenge(verifier))

    def finish(self, ctx: AuthContext, ticket: Ticket, code: str) -> SignedIn:
        cfg = ctx.settings
        tokens = asana_oauth.exchange_code(cfg.asana_base_url, cfg.asana_client_id,
                                           cfg.asana_client_secret, code,
                                           asana_redirect_uri(cfg), ticket.pkce_verifier,
                                           timeout=cfg.http_timeout)
        try:
            me = AsanaClient(cfg.asana_base_url, tokens.access_token,
                             timeout=cfg.http_timeout).me()
        except BridgeError:
            # The grant will not be stored: do not leave it alive at Asana either.
            if tokens.refresh_token:
                asana_oauth.revoke(cfg.asana_base_url, cfg.asana_client_id,
                                   cfg.asana_client_secret, tokens.refresh_token,
                                   timeout=cfg.http_timeout)
            raise
        return SignedIn(_save_asana_user(me, tokens), me, ticket.return_url)


def _save_asana_user(me: dict, tokens) -> AsanaUser:
    user = AsanaUser.get_or_none(AsanaUser.gid == str(me["gid"]))
    if user is None:
        user = AsanaUser(gid=str(me["gid"]))
    user.email = (me.get("email") or "").lower()
    user.name = me.get("name") or ""
    user.access_token = tokens.access_token
    user.refresh_token = tokens.refresh_token
    user.token_expires_at = tokens.expires_at
    user.updated_at = utcnow()
    user.save()
    for ws in me.get("workspaces") or []:
        AsanaWorkspace.get_or_create(gid=str(ws["gid"]), defaults={"name": ws.get("name", "")})
    return user


def instances_of(me: dict) -> list[JiraInstance]:
    """The Jira instances connected to any of the signed-in user's workspaces."""
    gids = [str(ws["gid"]) for ws in me.get("workspaces") or []]
    if not gids:
        return []
    return list(JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
                .where(AsanaWorkspace.gid.in_(gids)).order_by(JiraInstance.id))


def _jira2_tokens(ctx: AuthContext, base_url: str, client_id: str, client_secret: str,
                  code: str, verifier: str):
    """Exchange a Jira OAuth 2.0 code and prove the token with ``/myself``; a token that
    will not be stored is revoked rather than left valid in Jira (§2.7)."""
    timeout = ctx.settings.http_timeout
    tokens = jira_oauth2.exchange_code(base_url, client_id, client_secret, code,
                                       jira_as_user.jira2_redirect_uri(ctx.settings), verifier,
                                       timeout=timeout)
    try:
        me = JiraClient(base_url, BearerAuth(tokens.access_token), timeout=timeout).myself()
    except BridgeError:
        jira_oauth2.revoke(base_url, client_id, client_secret, tokens.access_token,
                           timeout=timeout)
        raise
    return tokens, me


class JiraOAuth1(Flow):
    """A user's Jira authorization over the application link (OAuth 1.0a, §1.2). Jira
    has no revocation call for these tokens (only the user's profile page)."""

    kind, audience = "jira1", POPUP

    def start(self, ctx: AuthContext, user: AsanaUser, instance: JiraInstance) -> str:
        state, row = pending.start(self.kind, browser=ctx.browser, asana_user=user,
                                   instance=instance)
        callback = f"{jira_as_user.jira1_callback_url(ctx.settings)}?{urlencode({'state': state})}"
        token, secret = jira_oauth1.fetch_request_token(
            instance.base_url, instance.consumer_key, instance.private_key, callback,
            timeout=ctx.settings.http_timeout)
        row.request_token = token
        row.secret = secret
        row.save()
        return jira_oauth1.authorize_url(instance.base_url, token)

    def finish(self, ctx: AuthContext, ticket: Ticket, oauth_token: str | None,
               verifier: str) -> dict:
        row = ticket.row
        if not row.request_token or oauth_token != row.request_token:
            raise StateMismatch()
        instance, timeout = row.instance, ctx.settings.http_timeout
        try:
            values = jira_oauth1.fetch_access_token(instance.base_url, instance.consumer_key,
                                                    instance.private_key, row.request_token,
                                                    verifier, timeout=timeout)
        except JiraNeedsReconnect:
            raise RequestTokenSpent() from None
        token = values.get("oauth_token", "")
        client = JiraClient(instance.base_url,
                            oauth1_auth(instance.consumer_key, instance.private_key,
                                        token=token), timeout=timeout)
        me = client.myself()
        credentials.save_oauth1(row.asana_user, instance, token,
                                values.get("oauth_token_secret", ""),
                                jira_username=me.get("name", ""))
        return me


class JiraOAuth2(Flow):
    """A user's Jira authorization over an incoming link (OAuth 2.0, code + PKCE, §2.2)."""

    kind, audience = "jira2_user", POPUP

    def start(self, ctx: AuthContext, user: AsanaUser, instance: JiraInstance) -> str:
        verifier, challenge = pkce.make_pair()
        state, _ = pending.start(self.kind, browser=ctx.browser, asana_user=user,
                                 instance=instance, pkce_verifier=verifier)
        return jira_oauth2.authorize_url(instance.base_url, instance.client_id,
                                         jira_as_user.jira2_redirect_uri(ctx.settings), state,
                                         challenge)

    def finish(self, ctx: AuthContext, ticket: Ticket, code: str) -> dict:
        row = ticket.row
        instance = row.instance
        tokens, me = _jira2_tokens(ctx, instance.base_url, instance.client_id,
                                   instance.client_secret, code, row.pkce_verifier)
        credentials.save_oauth2(row.asana_user, instance, tokens,
                                jira_username=me.get("name", ""))
        return me


class SetupCheck(Flow):
    """An admin proves an OAuth 2.0 client id and secret by authorizing their own Jira
    account once; only then is the instance saved."""

    kind, audience = "setup_check", ADMIN

    def start(self, ctx: AuthContext, admin: AsanaUser, workspace: dict, found,
              client_id: str, client_secret: str) -> str:
        verifier, challenge = pkce.make_pair()
        state, _ = pending.start(
            self.kind, browser=ctx.browser, asana_user=admin, secret=client_secret,
            pkce_verifier=verifier,
            payload={"workspace": workspace["gid"], "workspace_name": workspace["name"],
                     "base_url": found.base_url, "client_id": client_id})
        return jira_oauth2.authorize_url(found.base_url, client_id,
                                         jira_as_user.jira2_redirect_uri(ctx.settings), state,
                                         challenge)

    def finish(self, ctx: AuthContext, ticket: Ticket, code: str) -> SetupDone:
        row = ticket.row
        base_url, client_id = row.payload["base_url"], row.payload["client_id"]
        tokens, me = _jira2_tokens(ctx, base_url, client_id, row.secret, code,
                                   row.pkce_verifier)
        found = instances.probe(base_url, timeout=ctx.settings.http_timeout)
        instance = instances.save_oauth2_instance(
            row.payload["workspace"], found, client_id, row.secret,
            workspace_name=row.payload.get("workspace_name", ""), actor=row.asana_user.email)
        credentials.save_oauth2(row.asana_user, instance, tokens,
                                jira_username=me.get("name", ""))
        return SetupDone(instance, AsanaWorkspace.get_by_id(instance.workspace_id), me)


@dataclass(frozen=True)
class WebhookConsented:
    instance: JiraInstance
    error: BridgeError | None = None  # Jira refused the registration
    updated: bool = False  # the webhook the bridge had registered was updated in place


class WebhookConsent(Flow):
    """An admin's one-time ADMIN-scope consent (jira-server.md §2.1): the token registers
    the instance's webhook once and is revoked whatever happened (``services.webhooks``);
    it is never stored."""

    kind, audience = "webhook_consent", ADMIN

    def start(self, ctx: AuthContext, admin: AsanaUser, instance: JiraInstance) -> str:
        verifier, challenge = pkce.make_pair()
        state, _ = pending.start(self.kind, browser=ctx.browser, asana_user=admin,
                                 instance=instance, pkce_verifier=verifier)
        return jira_oauth2.authorize_url(instance.base_url, instance.client_id,
                                         jira_as_user.jira2_redirect_uri(ctx.settings), state,
                                         challenge, scope=jira_oauth2.ADMIN_SCOPE)

    def finish(self, ctx: AuthContext, ticket: Ticket, code: str) -> WebhookConsented:
        row = ticket.row
        instance = JiraInstance.get_by_id(row.instance_id)
        tokens, me = _jira2_tokens(ctx, instance.base_url, instance.client_id,
                                   instance.client_secret, code, row.pkce_verifier)
        try:
            updated = webhooks.register_with_consent(
                instance, jira_as_user.public_url(ctx.settings), tokens.access_token,
                str(me.get("name", "")), timeout=ctx.settings.http_timeout,
                actor=row.asana_user.email if row.asana_user else "")
        except JiraError as exc:
            return WebhookConsented(instance, exc)
        return WebhookConsented(instance, updated=updated)


ASANA_FOR_POPUP = AsanaSignIn("user_auth", POPUP)
ASANA_FOR_ADMIN = AsanaSignIn("admin_signin", ADMIN)
ASANA_FOR_FIELDS = AsanaSignIn("fields_signin", FIELDS)
JIRA_OAUTH1 = JiraOAuth1()
JIRA_OAUTH2 = JiraOAuth2()
SETUP_CHECK = SetupCheck()
WEBHOOK_CONSENT = WebhookConsent()


def jira_flow_for(instance: JiraInstance) -> JiraOAuth1 | JiraOAuth2:
    return JIRA_OAUTH1 if instance.auth_mode == "oauth1" else JIRA_OAUTH2


def take(ctx: AuthContext, state: str | None, flows: tuple[Flow, ...]) -> tuple[Flow, Ticket]:
    """Use up ``state`` for one of ``flows`` (those a callback finishes), for this browser
    only; ``StateMismatch`` otherwise."""
    by_kind = {flow.kind: flow for flow in flows}
    anonymous = tuple(f.kind for f in flows if f.anonymous)
    if anonymous and state and "." in state:  # signed states have dots, random ones none
        used = pending.consume_signed(state, anonymous, key=ctx.state_key,
                                      browser=ctx.browser)
        return by_kind[used.kind], Ticket(used.kind, used.pkce_verifier, used.return_url)
    row = pending.consume(state, tuple(f.kind for f in flows if not f.anonymous),
                          browser=ctx.browser)
    return by_kind[row.kind], Ticket(row.kind, row.pkce_verifier, row.return_url, row)
