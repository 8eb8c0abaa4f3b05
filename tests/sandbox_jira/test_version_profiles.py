"""The version the simulator plays is read as numbers from the front of its text: a
suffix (a milestone, a release candidate) never changes them. Its digits were once
gathered from the whole part, so "8.22-rc1" played 8.221 and "10.3.0-m0001" played 10.3.1,
with every gate (OAuth 2.0 from 8.22, paged createmeta from 8.4) following."""

from __future__ import annotations

import pytest
from bridge_sandbox.jira.versions import VersionProfile


@pytest.mark.parametrize(("text", "numbers"), [
    ("8.20.0", (8, 20, 0)), ("10.3.19", (10, 3, 19)), ("9.12", (9, 12, 0)), ("11", (11, 0, 0)),
    ("10.3.0-m0001", (10, 3, 0)), ("8.22-rc1", (8, 22, 0)), ("8.21.9-EAP02", (8, 21, 9)),
    ("9.4.0.1", (9, 4, 0)),
])
def test_the_numbers_are_those_the_text_starts_with(text, numbers):
    profile = VersionProfile.parse(text)
    assert profile.numbers == numbers
    assert profile.version == ".".join(map(str, numbers))


def test_a_suffix_does_not_move_a_gate():
    assert not VersionProfile.parse("8.21-rc1").has_oauth2_provider  # not 8.211
    assert VersionProfile.parse("8.22.0-m0003").has_oauth2_provider


@pytest.mark.parametrize("text", ["", "x", "v10.3.0", ".8"])
def test_a_text_without_leading_numbers_is_refused(text):
    with pytest.raises(ValueError, match="not a Jira version"):
        VersionProfile.parse(text)


def test_an_upgrade_in_place_moves_every_gate_and_reset_undoes_it():
    """``/_sim/version`` plays an admin's in-place upgrade (9.12 → 10.3): serverInfo and
    the gates follow, the data stays; garbage changes nothing; ``reset`` goes back."""
    import requests
    from bridge_sandbox.jira import create_jira_simulator, get_state
    from bridge_sandbox.liveserver import LiveServer

    server = LiveServer()
    server.app = create_jira_simulator(version="9.12.0", base_url=server.url)
    server.start()
    try:
        st = get_state(server.app)
        issues = len(st.issues)
        info = requests.get(server.url + "/rest/api/2/serverInfo", timeout=5).json()
        assert info["versionNumbers"] == [9, 12, 0] and not st.profile.signs_webhooks
        answer = requests.post(server.url + "/_sim/version", json={"version": "10.3"}, timeout=5)
        assert answer.json() == {"version": "10.3.0"}
        info = requests.get(server.url + "/rest/api/2/serverInfo", timeout=5).json()
        assert (info["version"], info["versionNumbers"]) == ("10.3.0", [10, 3, 0])
        assert st.profile.signs_webhooks and len(st.issues) == issues
        refused = requests.post(server.url + "/_sim/version", json={"version": "x"}, timeout=5)
        assert refused.status_code == 400 and st.profile.version == "10.3.0"
        st.reset()
        assert st.profile.version == "9.12.0"
    finally:
        server.stop()
