"""What the HTML blueprints share: the two kinds of pages, failures as pages, Asana sign-in.

Import order in ``bridge.web`` (arrows point to what a file imports, no file imports one
above it): ``callbacks`` → ``popup``, ``admin`` → ``pages`` → ``errors`` → ``security``.

- ``message_page``: a heading and a sentence (admin pages, and what a browser sees).
- ``popup_done``: the Authentication URL popup's final page. It posts ``"success"`` or
  ``"error"`` to the opener with targetOrigin exactly Asana's origin
  (asana-app-components.md §7.1), so Asana never waits on a popup that failed.
- ``answer_failures_with``: one error handler per blueprint, turning any exception into
  that blueprint's failure page with the sentence ``errors.describe_failure`` gives; the
  exception text itself is logged (by the redacting handler) and never shown.
- ``start_asana_signin``: Asana OAuth with ``state`` and PKCE S256, for the popup and for
  admins alike; ``callbacks`` finishes it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, redirect, render_template

from ..asana import oauth as asana_oauth
from ..jira import oauth2 as jira_oauth2
from ..services import pending
from .errors import describe_failure
from .security import asana_origin, browser_id, public_url, require_app_components, settings

ASANA_CALLBACK_PATH = "/oauth/asana/callback"

FailurePage = Callable[[str, int, str], object]  # (sentence, status, advice) -> response


def asana_redirect_uri() -> str:
    return public_url() + ASANA_CALLBACK_PATH


def popup_done(outcome: str, message: str, status: int = 200):
    """The popup's final page (posts ``outcome`` to the opener)."""
    return render_template("auth_done.html", outcome=outcome, message=message,
                           target_origin=asana_origin()), status


def message_page(heading: str, message: str, *, error: bool = False, advice: str = "",
                 link: str | None = None, link_text: str | None = None, status: int = 200):
    return render_template("message.html", heading=heading, message=message, error=error,
                           advice=advice, link=link, link_text=link_text), status


def answer_failures_with(bp: Blueprint, failure_page: FailurePage) -> None:
    """Every failure inside ``bp`` becomes ``failure_page(sentence, status, advice)``."""

    def _failed(exc: Exception):
        return failure_page(*describe_failure(exc))

    bp.register_error_handler(Exception, _failed)


def start_asana_signin(kind: str, return_path: str | None = None):
    """Send the browser to Asana's consent page; ``kind`` says who finishes the flow."""
    require_app_components()
    cfg = settings()
    verifier, challenge = jira_oauth2.make_pkce()
    state, _ = pending.start(kind, browser=browser_id(), pkce_verifier=verifier,
                             return_url=return_path)
    return redirect(asana_oauth.authorize_url(cfg.asana_base_url, cfg.asana_client_id,
                                              asana_redirect_uri(), state, challenge))
