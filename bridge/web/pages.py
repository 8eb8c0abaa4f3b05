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
- ``start_asana_signin``: Asana OAuth (``services.user_auth``), for the popup and for
  admins alike; ``callbacks`` finishes it. ``auth_context`` is what every sign-in flow
  gets from the request.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app, redirect, render_template

from ..services import user_auth
from .errors import describe_failure
from .security import asana_origin, browser_id, public_url, require_app_components, settings

FailurePage = Callable[[str, int, str], object]  # (sentence, status, advice) -> response


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


def auth_context() -> user_auth.AuthContext:
    """The sign-in flows' context for this request: settings, the key that signs
    anonymous states (the app's secret key), and this browser's id."""
    return user_auth.AuthContext(settings=settings(), state_key=current_app.secret_key,
                                 browser=browser_id())


def start_asana_signin(flow: user_auth.AsanaSignIn, return_path: str | None = None):
    """Send the browser to Asana's consent page; ``flow`` says who finishes it."""
    require_app_components()
    public_url()  # 503 with a sentence when BRIDGE_PUBLIC_URL is not set
    return redirect(flow.start(auth_context(), return_path))
