"""``asana-jira-bridge doctor``: diagnose the classic set-up failures, one check at a time.

Each check returns a ``Finding`` (ok / warn / fail, a sentence, and details). The causes
come from jira-server.md §6 and asana-app-components.md §10: unreachable Jira or broken
TLS, a Cloud URL, the wrong auth path for the version, clock skew (±5 minutes, §1.3),
``signature_invalid`` from a base-URL / proxy mismatch (Jira's base string shown beside
ours), an unknown consumer key, a missing CORS answer for Asana's origin, and rule actions
that cannot work because the bridge is not publicly reachable.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import requests

from .. import trust
from ..errors import BridgeError
from ..jira import oauth1 as jira_oauth1
from ..jira import probes, versions
from ..jira.errors import JiraError, JiraMisconfigured
from ..jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from ..jira.signing import base_string, oauth1_auth
from ..jira.urls import normalize_base_url
from ..models import JiraInstance
from . import jira_upgrades
from .connections import webhook_registration
from .jira_as_user import JIRA1_CALLBACK_PATH

MAX_SKEW = dt.timedelta(minutes=5)  # Jira's timestamp window, jira-server.md §1.3
ASANA_ORIGIN = "https://app.asana.com"


@dataclass
class Finding:
    check: str
    status: str  # "ok", "warn", "fail"
    message: str
    details: list[str] = field(default_factory=list)


def check_instance(instance: JiraInstance, public_url: str | None, *,
                   timeout: float = 8.0) -> list[Finding]:
    findings: list[Finding] = []
    base = instance.base_url
    try:
        normalize_base_url(base)
    except BridgeError as exc:
        return [Finding("url", "fail", exc.public_message)]

    # Reachability, TLS, serverInfo, Date header.
    try:
        answer = probes.server_info(base, timeout=timeout)
    except probes.JiraUnreachable as exc:
        if exc.tls:
            parts = urlsplit(base)
            message, details = trust.refusal_sentence(parts.hostname or "", parts.port or 443,
                                                      "jira", timeout=timeout)
            return [Finding("reachable", "fail", message, details)]
        return [Finding("reachable", "fail", f"{base} cannot be reached from the bridge.",
                        [exc.cause])]
    if answer.redirected:
        return [Finding("reachable", "fail", f"{base} redirects to "
                        f"{answer.location or '?'}: register Jira's own Base "
                        "URL (scheme, host, port and context path).")]
    info = answer.json
    try:
        numbers = versions.from_numbers(info["versionNumbers"])
    except (ValueError, KeyError, TypeError):
        return [Finding("reachable", "fail", f"{base} answers, but not like a Jira Server "
                        f"(serverInfo gave HTTP {answer.status}).")]
    findings.append(Finding("reachable", "ok", f"{base} answers: Jira {info.get('version')} "
                            f"({info.get('deploymentType', '?')})."))
    if str(info.get("deploymentType", "")).lower() == "cloud":
        findings.append(Finding("deployment", "fail", "This is Jira Cloud; use Asana's Jira "
                                "Cloud integration instead."))
        return findings
    findings.extend(_version_change(instance, info, numbers))
    reported = str(info.get("baseUrl", "")).rstrip("/")
    if reported and reported != base:
        findings.append(Finding("base_url", "warn",
                                f"Jira's Base URL setting is {reported}, the bridge uses {base}.",
                                ["OAuth 1.0a signatures are checked against the URL Jira "
                                 "sees; if they differ, expect signature_invalid."]))

    supports_oauth2 = versions.at_least(numbers, OAUTH2_FIRST_VERSION)
    recommended = "oauth2" if supports_oauth2 else "oauth1"
    if instance.auth_mode == recommended:
        findings.append(Finding("auth_path", "ok", f"Auth: {instance.auth_mode} (recommended "
                                f"for Jira {'.'.join(map(str, numbers))})."))
    elif instance.auth_mode == "oauth2" and not supports_oauth2:
        findings.append(Finding("auth_path", "fail", "OAuth 2.0 needs Jira 8.22 or later; "
                                "this Jira needs an application link (OAuth 1.0a)."))
    else:
        findings.append(Finding("auth_path", "warn", "This Jira supports OAuth 2.0 incoming "
                                "links (recommended); the instance uses OAuth 1.0a. Move it "
                                "with the bridge's /setup page; issue links stay."))

    findings.append(_clock(answer.date))
    if instance.auth_mode == "oauth1":
        findings.append(_signed_call(instance, public_url, timeout))
    else:
        findings.append(_oauth2_provider(instance, timeout))
    return findings


def _version_change(instance: JiraInstance, info: dict, numbers) -> list[Finding]:
    """Jira upgraded in place since the bridge stored its version: store the new one
    (``services.jira_upgrades``) and say what the upgrade asks of the admin."""
    change = jira_upgrades.record(instance, str(info.get("version", "")), numbers,
                                  actor="doctor")
    if change is None:
        return []
    steps = jira_upgrades.notices(instance, webhook_registration(instance))
    return [Finding("version", "warn" if steps else "ok",
                    f"Jira was upgraded from {change.before or '?'} to {change.after} since "
                    "the bridge last read its version; the bridge uses the new one now.",
                    [f"{n.sentence} Next: {n.step_text} (admin pages)." for n in steps])]


def _clock(raw: str | None) -> Finding:
    if not raw:
        return Finding("clock", "warn", "Jira sent no Date header; clock skew not checked.")
    try:
        jira_time = email.utils.parsedate_to_datetime(raw)
        if jira_time.tzinfo is None:  # "-0000" or no zone: HTTP dates are GMT (RFC 9110)
            jira_time = jira_time.replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return Finding("clock", "warn", f"Jira's Date header is unreadable: {raw!r}.")
    skew = jira_time - dt.datetime.now(dt.UTC)
    seconds = abs(skew.total_seconds())
    if abs(skew) > MAX_SKEW:
        return Finding("clock", "fail", f"The clocks of the bridge and Jira differ by "
                       f"{seconds:.0f} s; Jira refuses OAuth 1.0a requests beyond 300 s "
                       "(timestamp_refused). Run NTP on both machines.")
    if seconds > 60:
        return Finding("clock", "warn", f"Clock skew of {seconds:.0f} s (limit 300 s).")
    return Finding("clock", "ok", f"Clock skew {seconds:.0f} s.")


def _signed_call(instance: JiraInstance, public_url: str | None, timeout: float) -> Finding:
    """POST request-token signed with our key: proves consumer key, key pair and URL."""
    callback = (public_url or "http://localhost") + JIRA1_CALLBACK_PATH
    url = instance.base_url + jira_oauth1.REQUEST_TOKEN_PATH
    auth = oauth1_auth(instance.consumer_key, instance.private_key, callback_uri=callback)
    ours = base_string("POST", url, auth)
    try:
        jira_oauth1.fetch_request_token(instance.base_url, instance.consumer_key,
                                        instance.private_key, callback, timeout=timeout)
    except JiraMisconfigured as exc:
        if exc.problem == "consumer_key_unknown":
            return Finding("signed_call", "fail", f"Jira does not know the consumer key "
                           f"{instance.consumer_key!r}: the application link is missing or "
                           "its Incoming Authentication has another key.")
        details = []
        if exc.problem == "signature_invalid":
            details = [f"ours: {ours}", f"Jira: {exc.jira_base_string or '(not sent)'}"]
            cause = _mismatch_cause(ours, exc.jira_base_string)
            return Finding("signed_call", "fail", f"signature_invalid: {cause}", details)
        return Finding("signed_call", "fail", f"{exc.problem}: {exc.advice}")
    except JiraError as exc:
        return Finding("signed_call", "fail", exc.public_message)
    return Finding("signed_call", "ok", "Jira accepted a request signed with the bridge's "
                   "RSA-SHA1 key (consumer key and public key match).")


def _split_base_string(base: str) -> tuple[str, str, dict[str, str]]:
    """RFC 5849 §3.4.1: METHOD&url&params, each percent-encoded once more."""
    method, _, rest = base.partition("&")
    url, _, params = rest.partition("&")
    return method, unquote(url), dict(parse_qsl(unquote(params), keep_blank_values=True))


_PER_REQUEST = {"oauth_nonce", "oauth_timestamp", "oauth_signature"}


def _mismatch_cause(ours: str, theirs: str | None) -> str:
    """Name what differs between the base string we signed and the one Jira rebuilt.

    The nonce and timestamp differ between any two requests, so they are left out.
    """
    if not theirs:
        return ("Jira rebuilt another base string (it did not send it). Usually the base URL "
                "differs from what Jira sees, or the public key in Jira is not this bridge's.")
    our_method, our_url, our_params = _split_base_string(ours)
    their_method, their_url, their_params = _split_base_string(theirs)
    if our_url != their_url or our_method != their_method:
        return (f"the URL differs: the bridge signs {our_url} but Jira sees {their_url}. The "
                "registered base URL does not match the URL Jira reports for itself (reverse "
                "proxy without proxyName/proxyPort/scheme in server.xml, http vs https, or a "
                "context path).")
    ours_kept = {k: v for k, v in our_params.items() if k not in _PER_REQUEST}
    theirs_kept = {k: v for k, v in their_params.items() if k not in _PER_REQUEST}
    if ours_kept != theirs_kept:
        return "the parameters differ: a proxy is rewriting the query string or the body."
    return ("the URL and parameters agree, so the key is wrong: the public key in Jira's "
            "application link is not this bridge's. Paste it again from /jira/connect.")


def _oauth2_provider(instance: JiraInstance, timeout: float) -> Finding:
    try:
        status = probes.oauth2_authorize_status(instance.base_url, timeout=timeout)
    except probes.JiraUnreachable:
        return Finding("oauth2", "fail", "The OAuth 2.0 authorize endpoint cannot be reached.")
    if status == 404:
        return Finding("oauth2", "fail", "Jira has no OAuth 2.0 provider (it arrived in 8.22).")
    return Finding("oauth2", "ok", "Jira's OAuth 2.0 provider answers.")


def check_cors(public_url: str | None, asana_origin: str = ASANA_ORIGIN, *,
               timeout: float = 8.0) -> Finding:
    """Asana's browser calls need CORS for Asana's origin (§4.3)."""
    if not public_url:
        return Finding("cors", "fail", "BRIDGE_PUBLIC_URL is not set; cannot check CORS.")
    target = public_url + "/asana/widget"
    try:
        response = requests.options(target, headers={
            "Origin": asana_origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-asana-request-signature"},
            timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return Finding("cors", "fail", f"The bridge itself is not reachable at {public_url}.")
    allowed = response.headers.get("Access-Control-Allow-Origin")
    if allowed not in (asana_origin, "*") or response.status_code >= 400:
        return Finding("cors", "fail", f"The CORS preflight of {target} did not allow "
                       f"{asana_origin} (HTTP {response.status_code}); a proxy may strip it.")
    return Finding("cors", "ok", f"CORS preflight allows {asana_origin}.")


def check_rule_actions(public_url: str | None) -> Finding:
    """Rule actions are posted by Asana's servers, so only a public https URL works."""
    if not public_url:
        return Finding("rule_actions", "fail", "BRIDGE_PUBLIC_URL is not set: OAuth callbacks "
                       "and rule actions need it.")
    parts = urlsplit(public_url)
    if parts.scheme != "https":
        return Finding("rule_actions", "warn", "The public URL is not https: Asana calls only "
                       "https endpoints, so rule actions (and App Components in the Asana web "
                       "app) will not work.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except OSError:
        return Finding("rule_actions", "warn", f"{parts.hostname} does not resolve here.")
    private = [a for a in addresses if not ipaddress.ip_address(a).is_global]
    if private and len(private) == len(addresses):
        return Finding("rule_actions", "warn", f"{parts.hostname} resolves to a private "
                       "address. Widgets, lookups and forms work for users on your network "
                       "(their browsers call the bridge), but rule actions need an endpoint "
                       "Asana's servers can reach.")
    return Finding("rule_actions", "ok", "The public URL can receive Asana's rule actions.")
