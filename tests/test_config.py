"""Settings are read in one place, validated at start, and errors name the variable."""

import os

import pytest

from bridge import config, create_app
from bridge.config import ConfigError


def test_defaults_put_sqlite_in_the_instance_folder(tmp_path):
    cfg = config.load({"INSTANCE_PATH": str(tmp_path)})
    assert cfg.database_url == f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    assert cfg.asana_base_url == "https://app.asana.com"
    assert cfg.max_issues_per_task == 1
    assert cfg.app_components_enabled is False


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://x@h/db", "BRIDGE_DATABASE_URL must start with sqlite:///"),
        ("DATABASE_URL", "postgresql:///nohost", "BRIDGE_DATABASE_URL a PostgreSQL URL needs"),
        ("MAX_ISSUES_PER_TASK", "0", "BRIDGE_MAX_ISSUES_PER_TASK must be between 1 and 50"),
        ("MAX_ISSUES_PER_TASK", "many", "BRIDGE_MAX_ISSUES_PER_TASK must be a whole number"),
        ("PUBLIC_URL", "ftp://bridge", "BRIDGE_PUBLIC_URL must be an http(s) URL"),
        ("ADMINS", "alice@example.com,bob", "BRIDGE_ADMINS must be comma-separated email"),
        ("LOG_FORMAT", "xml", "BRIDGE_LOG_FORMAT must be one of text, json"),
        ("SECRET_KEY", "short", "BRIDGE_SECRET_KEY must be at least 32 characters"),
        ("TRUST_PROXY", "maybe", "BRIDGE_TRUST_PROXY must be true or false"),
    ],
)
def test_invalid_setting_error_names_the_variable(tmp_path, key, value, fragment):
    with pytest.raises(ConfigError) as err:
        config.load({"INSTANCE_PATH": str(tmp_path), key: value})
    assert fragment in str(err.value)


def test_asana_client_id_without_secret_is_refused_at_start(tmp_path):
    with pytest.raises(ConfigError, match="BRIDGE_ASANA_CLIENT_SECRET .* is required"):
        create_app({"INSTANCE_PATH": str(tmp_path), "ASANA_CLIENT_ID": "1234"})


def test_asana_client_id_needs_the_public_url(tmp_path):
    with pytest.raises(ConfigError, match="BRIDGE_PUBLIC_URL is required"):
        config.load({"INSTANCE_PATH": str(tmp_path), "ASANA_CLIENT_ID": "1",
                     "ASANA_CLIENT_SECRET": "s3cr3t-s3cr3t"})


def test_asana_client_id_with_secret_enables_app_components(tmp_path):
    cfg = config.load({"INSTANCE_PATH": str(tmp_path), "ASANA_CLIENT_ID": "1",
                       "ASANA_CLIENT_SECRET": "s3cr3t-s3cr3t",
                       "PUBLIC_URL": "https://bridge.example.com"})
    assert cfg.app_components_enabled


def test_unknown_bridge_setting_in_a_mapping_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="BRIDGE_DATABSE_URL is not a setting"):
        config.load({"INSTANCE_PATH": str(tmp_path), "DATABSE_URL": "sqlite:///x"})


def test_environment_is_read_with_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("BRIDGE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("BRIDGE_MAX_ISSUES_PER_TASK", "3")
    monkeypatch.setenv("BRIDGE_ADMINS", "Alice@Example.com, bob@example.com")
    cfg = config.load()
    assert cfg.max_issues_per_task == 3
    assert cfg.admins == ("alice@example.com", "bob@example.com")
    assert cfg.sources["MAX_ISSUES_PER_TASK"] == "environment"


def test_secret_file_must_be_private(tmp_path):
    secret_file = tmp_path / "asana-secret"
    secret_file.write_text("from-a-file-secret\n")
    os.chmod(secret_file, 0o644)
    base = {"INSTANCE_PATH": str(tmp_path), "ASANA_CLIENT_ID": "1",
            "ASANA_CLIENT_SECRET_FILE": str(secret_file),
            "PUBLIC_URL": "https://bridge.example.com"}
    with pytest.raises(ConfigError, match="BRIDGE_ASANA_CLIENT_SECRET_FILE: .* chmod 600"):
        config.load(base)
    os.chmod(secret_file, 0o600)
    assert config.load(base).asana_client_secret == "from-a-file-secret"


def test_secret_and_secret_file_together_are_ambiguous(tmp_path):
    secret_file = tmp_path / "k"
    secret_file.write_text("x" * 40)
    os.chmod(secret_file, 0o600)
    with pytest.raises(ConfigError, match="either BRIDGE_SECRET_KEY or BRIDGE_SECRET_KEY_FILE"):
        config.load({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "y" * 40,
                     "SECRET_KEY_FILE": str(secret_file)})


def test_https_public_url_makes_session_cookie_secure(make_app):
    assert make_app(PUBLIC_URL="https://bridge.example.com").config["SESSION_COOKIE_SECURE"]
    plain = make_app(PUBLIC_URL="http://127.0.0.1:8080")
    assert not plain.config["SESSION_COOKIE_SECURE"]
    assert plain.config["SESSION_COOKIE_HTTPONLY"]
    assert plain.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_max_content_length_is_enforced(make_app):
    app = make_app(MAX_CONTENT_LENGTH="2048")
    app.add_url_rule("/echo", "echo", lambda: str(len(__import__("flask").request.get_data())),
                     methods=["POST"])
    assert app.test_client().post("/echo", data=b"x" * 2000).status_code == 200
    response = app.test_client().post("/echo", data=b"x" * 4096)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
