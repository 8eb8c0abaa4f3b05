"""Only the latest unused setup token claims the bridge (issue 11 §8).

Before, minting a new token (a lost token file and a restart) left the old one valid: a
copy of the old file, in a backup or a support bundle, still made its holder admin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from bridge.services import admins


def test_a_new_token_retires_the_old_one(app):
    instance = Path(app.config["BRIDGE"].instance_path)
    with app.app_context():
        old = admins.ensure_setup_token(instance, ())
        (instance / "setup_token").unlink()  # lost: the next start mints another
        new = admins.ensure_setup_token(instance, ())
        assert new != old
        with pytest.raises(admins.BadSetupToken):
            admins.claim_with_setup_token("mallory@example.com", old, instance)
        assert not admins.is_admin("mallory@example.com", ())
        admins.claim_with_setup_token("alice@example.com", new, instance)
        assert admins.is_admin("alice@example.com", ())
        with pytest.raises(admins.BadSetupToken):  # used once, never again
            admins.claim_with_setup_token("bob@example.com", new, instance)


def test_a_restart_keeps_the_same_token(app):
    instance = Path(app.config["BRIDGE"].instance_path)
    with app.app_context():
        first = admins.ensure_setup_token(instance, ())
        assert admins.ensure_setup_token(instance, ()) == first
        admins.claim_with_setup_token("alice@example.com", first, instance)


def test_cli_mints_a_fresh_token_and_the_old_one_stops_working(app, runner):
    instance = Path(app.config["BRIDGE"].instance_path)
    with app.app_context():
        old = admins.ensure_setup_token(instance, ())
    result = runner.invoke(main, ["admins", "setup-token"])
    assert result.exit_code == 0, result.output
    fresh = (instance / "setup_token").read_text().strip()
    assert fresh != old and f"\n    {fresh}\n" in result.output
    with app.app_context():
        with pytest.raises(admins.BadSetupToken):
            admins.claim_with_setup_token("mallory@example.com", old, instance)
        admins.claim_with_setup_token("alice@example.com", fresh, instance)
    again = runner.invoke(main, ["admins", "setup-token"])
    assert again.exit_code == 1
    assert "already has administrators" in again.output
