"""WSGI entry point for gunicorn and other servers: ``bridge.wsgi:app``.

Logging is configured here (not in ``create_app``) so that tests and embedding
applications keep control of their own logging.
"""

from . import create_app, logs

app = create_app()
_settings = app.config["BRIDGE"]
logs.configure(_settings.log_level, _settings.log_format)
