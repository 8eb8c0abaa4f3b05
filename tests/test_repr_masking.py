"""Secrets do not show in ``repr()`` of settings, token sets and key pairs (as oauthlib's
clients mask theirs): a traceback, a debugger or a failing assertion gives nothing away."""

from __future__ import annotations

import datetime as dt

from bridge import config
from bridge.asana.oauth import AsanaTokens
from bridge.jira.keys import generate_key_pair
from bridge.jira.oauth2 import TokenSet
from bridge.jira.signing import BearerAuth

SECRET = "s3cret-value-that-must-not-show"


def test_settings_mask_secret_values_and_keep_the_others():
    cfg = config.load({"SECRET_KEY": SECRET + "-0123456789", "ASANA_CLIENT_ID": "12345",
                       "ASANA_CLIENT_SECRET": SECRET, "PUBLIC_URL": "https://bridge.example",
                       "DATABASE_URL": f"postgresql://bridge:{SECRET}@db/bridge"})
    shown = repr(cfg)
    assert SECRET not in shown
    assert "'ASANA_CLIENT_SECRET': '***'" in shown and "'SECRET_KEY': '***'" in shown
    assert "'ASANA_CLIENT_ID': '12345'" in shown  # not a secret
    assert "https://bridge.example" in shown
    assert cfg.asana_client_secret == SECRET  # masking is only for display
    assert SECRET not in str(cfg)


def test_token_sets_mask_their_tokens():
    at = dt.datetime(2026, 1, 1)
    jira = TokenSet(access_token=SECRET + "a", refresh_token=SECRET + "r", expires_at=at,
                    scope="WRITE")
    asana = AsanaTokens(access_token=SECRET + "a", refresh_token=SECRET + "r", expires_at=at,
                        user={"name": "Alice"})
    for tokens in (jira, asana):
        assert SECRET not in repr(tokens)
        assert "access_token=***" in repr(tokens) and "refresh_token=***" in repr(tokens)
    assert "scope='WRITE'" in repr(jira) and "'Alice'" in repr(asana)
    assert "refresh_token=None" in repr(AsanaTokens(SECRET, None, at, {}))
    assert jira.access_token == SECRET + "a"


def test_key_pairs_mask_the_private_key_only():
    pair = generate_key_pair(1024)
    shown = repr(pair)
    assert "PRIVATE KEY" not in shown and "private_pem=***" in shown
    assert "BEGIN PUBLIC KEY" in shown


def test_bearer_auth_masks_its_token():
    assert SECRET not in repr(BearerAuth(SECRET))
