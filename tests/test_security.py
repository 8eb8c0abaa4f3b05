"""Page-security helpers: return URLs, the rate limiter."""

import pytest

from bridge.web.security import _Limiter, safe_return_path


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/jira/connect?jira=x", "/jira/connect?jira=x"), ("https://evil.example/", "/"),
     ("//evil.example/x", "/"), ("/\\\\evil.example", "/"), ("javascript:alert(1)", "/"),
     ("", "/"), (None, "/"), ("relative/path", "/")],
)
def test_only_own_paths_are_accepted_as_return_urls(target, expected):
    assert safe_return_path(target) == expected


def test_limiter_counts_per_key_in_a_window(monkeypatch):
    import bridge.web.security as security

    now = [1000.0]
    monkeypatch.setattr(security.time, "monotonic", lambda: now[0])
    limiter = _Limiter()
    assert all(limiter.hit("a", 3, 60) for _ in range(3))
    assert not limiter.hit("a", 3, 60)
    assert limiter.hit("b", 3, 60)
    now[0] += 61
    assert limiter.hit("a", 3, 60)


def test_limiter_forgets_idle_clients(monkeypatch):
    import bridge.web.security as security

    now = [0.0]
    monkeypatch.setattr(security.time, "monotonic", lambda: now[0])
    limiter = _Limiter()
    for i in range(5000):
        limiter.hit(f"client-{i}", 30, 60)
    now[0] += 120
    for _ in range(limiter.SWEEP_EVERY):
        limiter.hit("fresh", 10**6, 60)
    assert len(limiter) == 1
