"""The simulator's Flask app factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from bridge_sandbox.asana import control, demo, oauth, rest
from bridge_sandbox.asana.clock import SimClock
from bridge_sandbox.asana.state import ACCESS_TOKEN_TTL, DOWNLOAD_URL_TTL, SimState

HERE = Path(__file__).resolve().parent


def get_state(app: Flask) -> SimState:
    """The simulator state of an app made by :func:`create_asana_simulator`."""
    return app.extensions["asana_sim"]


def create_asana_simulator(
    base_url: str | None = None,
    apps: list[dict] | None = None,
    clock: Callable[[], float] | SimClock | None = None,
    rate_limit_per_minute: int = 1500,
    access_token_ttl: int = ACCESS_TOKEN_TTL,
    download_url_ttl: int = DOWNLOAD_URL_TTL,
) -> Flask:
    """Build an Asana simulator.

    ``base_url`` is the simulator's own URL (used in ``download_url``, ``next_page.uri``,
    permalinks); without it the request's host URL is used. ``apps`` are keyword dicts for
    :meth:`SimState.register_app`; they are registered again after every reset. ``clock`` is
    a ``time.time``-like callable (or a :class:`SimClock`) that every expiry reads.

    The state is ``get_state(app)`` (a :class:`SimState`, also ``app.sim``), as with the
    Jira simulator; ``get_state(app).reset()`` restores the seed.
    """
    sim_clock = clock if isinstance(clock, SimClock) else SimClock(clock)
    app = Flask(__name__, template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/_static")
    app.config["MAX_CONTENT_LENGTH"] = 101 * 1024 * 1024
    state = SimState(clock=sim_clock, rate_limit_per_minute=rate_limit_per_minute,
                     access_token_ttl=access_token_ttl, download_url_ttl=download_url_ttl,
                     base_url=base_url)
    initial_apps = [dict(a) for a in (apps or [])]
    original_reset = state.reset

    def reset():
        original_reset()
        for spec in initial_apps:
            state.register_app(**spec)

    state.reset = reset
    reset()
    app.sim = state
    app.extensions["asana_sim"] = state
    app.register_blueprint(oauth.bp)
    app.register_blueprint(rest.bp)
    app.register_blueprint(rest.files)
    app.register_blueprint(control.bp)
    app.register_blueprint(demo.bp)
    return app
