"""``rotate-key`` re-seals every secret in one transaction: all or nothing."""

import os
import stat

import pytest

from bridge import create_app, sealing
from bridge.cli import main
from bridge.models import AsanaUser, AsanaWorkspace, JiraInstance


def _seed(settings):
    app = create_app(settings)
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1")
        JiraInstance.create(workspace=ws, base_url="https://j", auth_mode="oauth2",
                            client_id="c", client_secret="secret-one")
        AsanaUser.create(gid="u1", access_token="asana-tok", refresh_token="asana-ref")
        AsanaUser.create(gid="u2", access_token="asana-tok-2")
    app.extensions["bridge.db"].close()


def _read_back(settings):
    app = create_app(settings)
    try:
        with app.app_context():
            return (JiraInstance.get().client_secret,
                    [(u.access_token, u.refresh_token) for u in AsanaUser.select()
                     .order_by(AsanaUser.gid)])
    finally:
        app.extensions["bridge.db"].close()


@pytest.fixture
def instance_key_settings(settings, runner, monkeypatch):
    """Settings whose key lives in the instance folder (the default set-up)."""
    monkeypatch.delenv("BRIDGE_SECRET_KEY")
    del settings["SECRET_KEY"]
    runner.invoke(main, ["init-db"])
    return settings


def test_rotation_with_instance_key_replaces_the_key_file(runner, instance_key_settings):
    settings = instance_key_settings
    _seed(settings)
    key_file = os.path.join(settings["INSTANCE_PATH"], "secret_key")
    old_secret = open(key_file).read().strip()
    before = _read_back(settings)

    result = runner.invoke(main, ["rotate-key", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Re-sealed 4 secrets" in result.output

    new_secret = open(key_file).read().strip()
    assert new_secret != old_secret
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert _read_back(settings) == before
    with pytest.raises(sealing.SealingError):
        _read_back({**settings, "SECRET_KEY": old_secret})


def test_rotation_with_env_key_writes_new_key_file(runner, settings, tmp_path):
    runner.invoke(main, ["init-db"])
    _seed(settings)
    before = _read_back(settings)
    new_key_file = tmp_path / "new-key"
    result = runner.invoke(main, ["rotate-key", "--yes", "--new-key-file", str(new_key_file)])
    assert result.exit_code == 0, result.output
    assert "set BRIDGE_SECRET_KEY_FILE" in result.output
    new_secret = new_key_file.read_text().strip()
    assert _read_back({**settings, "SECRET_KEY": new_secret}) == before
    with pytest.raises(sealing.SealingError):
        _read_back(settings)


def test_rotation_is_all_or_nothing(runner, settings, tmp_path):
    runner.invoke(main, ["init-db"])
    _seed(settings)
    # One value sealed with a third key: the rotation must stop and change nothing.
    stranger = sealing.Sealer("a-third-key-nobody-configured-0123456789")
    app = create_app(settings)
    db = app.extensions["bridge.db"]
    with app.app_context():
        db.execute_sql(
            f"UPDATE asana_user SET access_token = {db.param} WHERE gid = {db.param}",
            (stranger.seal("x", "asana_user.access_token"), "u2"))
        raw_before = db.execute_sql(
            "SELECT gid, access_token, refresh_token FROM asana_user ORDER BY gid").fetchall()
    db.close()

    result = runner.invoke(main, ["rotate-key", "--yes",
                                  "--new-key-file", str(tmp_path / "k2")])
    assert result.exit_code == 1
    assert "nothing changed" in result.output and "asana_user row" in result.output
    with app.app_context():
        raw_after = db.execute_sql(
            "SELECT gid, access_token, refresh_token FROM asana_user ORDER BY gid").fetchall()
        assert JiraInstance.get().client_secret == "secret-one"
    db.close()
    assert raw_after == raw_before
