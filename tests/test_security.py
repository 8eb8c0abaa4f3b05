"""Page-security helpers: return URLs (the rate limiter: tests/test_limits.py)."""

import pytest

from bridge.web.security import safe_return_path


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/jira/connect?jira=x", "/jira/connect?jira=x"), ("https://evil.example/", "/"),
     ("//evil.example/x", "/"), ("/\\\\evil.example", "/"), ("javascript:alert(1)", "/"),
     ("", "/"), (None, "/"), ("relative/path", "/")],
)
def test_only_own_paths_are_accepted_as_return_urls(target, expected):
    assert safe_return_path(target) == expected


@pytest.mark.parametrize("sent", ["\u00e9t\u00e9", "\u2028", "x" * 64 + "\u00ff"])
def test_a_csrf_token_that_is_not_ascii_is_refused_not_a_500(client, sent):
    # hmac.compare_digest raises TypeError on str with non-ASCII characters: an anonymous
    # POST of such a token to any page with a form answered 500 with a traceback.
    with client.session_transaction() as session:
        session["csrf"] = "a" * 43
    response = client.post("/admin/signout", data={"csrf_token": sent})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
