"""OAuth out of the views (issue 18 §3): the popup, admin and callback views translate
requests and answers; the calls to Asana and Jira, token revocation and what is stored
are ``services.user_auth``'s, one object per kind of flow. Asana sign-in has its own PKCE
helper (``bridge.pkce``), not Jira's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge import pkce
from bridge.services import user_auth

WEB = Path(__file__).resolve().parents[1] / "bridge" / "web"
# What the views must not reach for: HTTP clients, OAuth dances, credential storage.
NOT_IN_VIEWS = {"bridge.asana.oauth", "bridge.asana.client", "bridge.jira.oauth1",
                "bridge.jira.oauth2", "bridge.jira.client", "bridge.jira.signing",
                "bridge.services.credentials", "bridge.services.pending"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 2:
            base = "bridge." + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("view", ["popup.py", "callbacks.py", "pages.py", "admin.py"])
def test_the_sign_in_views_do_no_oauth_themselves(view):
    banned = NOT_IN_VIEWS - ({"bridge.services.credentials"} if view == "admin.py" else set())
    reached = _imports(WEB / view) & banned  # admin pages read an admin's own credential
    assert not reached, f"{view} imports {sorted(reached)}"


def test_each_kind_of_flow_is_an_object_with_start_and_finish():
    flows = [user_auth.ASANA_FOR_POPUP, user_auth.ASANA_FOR_ADMIN, user_auth.ASANA_FOR_FIELDS,
             user_auth.JIRA_OAUTH1,
             user_auth.JIRA_OAUTH2, user_auth.SETUP_CHECK, user_auth.WEBHOOK_CONSENT]
    assert len({f.kind for f in flows}) == len(flows)
    for flow in flows:
        assert isinstance(flow, user_auth.Flow)
        assert callable(flow.start) and callable(flow.finish)
        assert flow.audience in (user_auth.POPUP, user_auth.ADMIN, user_auth.FIELDS)
    assert [f.anonymous for f in flows] == [True] * 3 + [False] * 4


def test_pkce_is_its_own_module():
    from bridge.jira import oauth2

    assert not hasattr(oauth2, "make_pkce")
    verifier, challenge = pkce.make_pair()
    assert 43 <= len(verifier) <= 128 and pkce.challenge(verifier) == challenge
    # RFC 7636 appendix B
    assert pkce.challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
