"""Shared fixtures: a bridge app on the database under test, and a clean environment.

The database under test is SQLite (a fresh file per test) unless
``BRIDGE_TEST_DATABASE_URL`` names a PostgreSQL database, in which case every test starts
from an empty schema there. ``.ci/run`` runs the whole suite once each way.
"""

from __future__ import annotations

import os

import pytest
import upstream

TEST_DATABASE_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL", "")
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


def pytest_report_header(config):
    return f"bridge database under test: {TEST_DATABASE_URL or 'sqlite (temporary files)'}"


def pytest_collection_modifyitems(config, items):
    """On the PostgreSQL pass, run the tests that touch the database, not the others
    (simulators, signing, parsing): running those twice would prove nothing more."""
    if not TEST_DATABASE_URL:
        return
    keep, drop = [], []
    for item in items:
        (keep if "database_url" in getattr(item, "fixturenames", ()) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _upstream_layer(request):
    """Tests marked ``upstream`` need the upstream documents beside the repository
    (tests/upstream.py); without them they are skipped, never an error."""
    if request.node.get_closest_marker("upstream") and not upstream.available():
        pytest.skip(upstream.REASON)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Report every upstream skip at one place, so pytest's summary shows one line with
    the count and the reason instead of one line per test module."""
    report = yield
    if report.skipped and item.get_closest_marker("upstream") \
            and isinstance(report.longrepr, tuple) and report.longrepr[2].endswith(
                upstream.REASON):
        report.longrepr = (upstream.__file__, 1, report.longrepr[2])
    return report


@pytest.fixture(autouse=True)
def _clean_bridge_env(monkeypatch):
    """Settings leaking from the developer's shell must not change test outcomes."""
    for key in list(os.environ):
        if key.startswith("BRIDGE_") and key != "BRIDGE_TEST_DATABASE_URL" \
                and key != "BRIDGE_SHARED_DIR":
            monkeypatch.delenv(key)


@pytest.fixture
def database_url(tmp_path):
    if TEST_DATABASE_URL:
        _drop_everything(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path / 'bridge.sqlite3'}"


def _drop_everything(url):
    from bridge.db import open_database
    from bridge.models import ALL_MODELS, SchemaVersion
    from bridge.queue import sql_table_names

    db = open_database(url)
    with db.bind_ctx([*ALL_MODELS, SchemaVersion]):
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    for table in sql_table_names():
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    db.close_all() if hasattr(db, "close_all") else db.close()


@pytest.fixture
def settings(tmp_path, database_url):
    """The minimal settings of a bridge under test (extend in a test with ``dict(...)``)."""
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
    }


@pytest.fixture
def make_app(settings):
    """Build a bridge app with the schema migrated; extra settings override the defaults."""
    from bridge import create_app, migrations

    made = []

    def make(**overrides):
        app = create_app({**settings, **overrides})
        with app.app_context():
            migrations.migrate(app.extensions["bridge.db"])
        app.extensions["bridge.db"].close()
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["bridge.cache"].close()
        storage = getattr(app.extensions.get("bridge.queue"), "storage", None)
        queue_db = getattr(storage, "database", None)
        if queue_db is not None:
            queue_db.close_all() if hasattr(queue_db, "close_all") else queue_db.close()
        db = app.extensions["bridge.db"]
        if hasattr(db, "close_all"):
            db.close_all()
        elif not db.is_closed():
            db.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(settings, monkeypatch):
    """A click runner whose commands see the test's settings in the environment."""
    from click.testing import CliRunner

    for key, value in settings.items():
        monkeypatch.setenv("BRIDGE_" + key, value)
    return CliRunner()
