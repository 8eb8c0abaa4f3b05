"""asana-jira-bridge: Asana App Components for a self-hosted Jira Server / Data Center.

``create_app`` is the only way to build the Flask app: the CLI, gunicorn (``bridge.wsgi``)
and the tests all go through it, so settings are validated the same way everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the bridge.

    ``config`` replaces the environment (keys with or without the ``BRIDGE_`` prefix);
    without it, settings come from ``BRIDGE_*`` environment variables. Invalid settings
    raise ``bridge.config.ConfigError`` naming the variable.

    One bridge app per process: the database proxy and the sealing key are process-wide
    (peewee models bind to one database), so a second ``create_app`` in the same process
    takes them over. gunicorn workers each build their own.
    """
    # Imported here, not at the top: ``import bridge.jira.urls`` (the CLI, the simulators,
    # scripts) must not pull in Flask, the models and every blueprint.
    from . import config as config_mod
    from . import db, logs, sealing, trust
    from .web import (
        admin,
        bodies,
        callbacks,
        cors,
        errors,
        front,
        health,
        lookup,
        popup,
        webhooks,
        widget,
        widget_cache,
    )

    settings = config_mod.load(config)
    instance = settings.instance_path
    instance.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__, instance_path=str(instance), static_folder="web/static",
                template_folder="web/templates")
    app.config["BRIDGE"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="bridge_session",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        JSON_SORT_KEYS=False,
    )

    secret = settings.secret_key or sealing.load_or_create_secret(instance)
    sealer = sealing.Sealer(secret)
    sealing.install(sealer)
    app.extensions["bridge.sealer"] = sealer
    # Flask's session signing key is derived from, not equal to, the sealing secret.
    app.secret_key = _derive(secret, "flask-session")
    for value in (secret, settings.asana_client_secret, urlsplit(settings.database_url).password,
                  urlsplit(settings.queue_url).password):
        logs.register_secret(value)

    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1,
                                x_prefix=1)

    trust.configure(jira=settings.ca_bundle, asana=settings.asana_ca_bundle)
    db.init_app(app, settings.database_url)
    from . import tasks
    from .services.process_cache import ProcessCache

    # What the app remembers between requests (keyed by its database's row ids): one
    # object for its routes, its WSGI short path and its queue handlers, made with it.
    cache = app.extensions["bridge.cache"] = ProcessCache.for_database(settings.database_url)
    app.extensions["bridge.queue"] = tasks.configure(settings, cache)
    errors.init_app(app)
    bodies.init_app(app)
    cors.init_app(app)
    app.register_blueprint(front.bp)
    app.register_blueprint(health.bp)
    from .services import workers

    health.add_check(app, "queue", workers.health_check)
    app.register_blueprint(popup.bp)
    app.register_blueprint(admin.bp)
    from .web import field_sync

    app.register_blueprint(field_sync.bp)
    from .web import create as create_views

    app.register_blueprint(create_views.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(widget.bp)
    widget_cache.install(app)  # a cached widget skips the rest
    health.install(app)  # outermost: liveness answers before anything else
    return app


def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()
