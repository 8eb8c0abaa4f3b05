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
