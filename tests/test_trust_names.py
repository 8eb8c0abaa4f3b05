"""Which name ``doctor`` blames when Jira's certificate is refused (issue 17.3): a
certificate made out for the host (a wildcard, another letter case) is not a wrong name,
so the refusal is the CA's."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge import trust

CA = "CN=Example Corp Internal Root CA,O=Example Corp"


def _presented(*names: str) -> trust.Presented:
    return trust.Presented(subject="CN=jira,O=Example Corp", issuer=CA,
                           not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
                           names=names)


@pytest.mark.parametrize("names", [("*.corp.example",), ("JIRA.Corp.Example",),
                                   ("other.example", "*.corp.example")])
def test_a_certificate_made_out_for_the_host_is_blamed_on_its_ca(monkeypatch, names):
    monkeypatch.setattr(trust, "fetch_presented", lambda *a, **k: _presented(*names))
    sentence, _ = trust.refusal_sentence("jira.corp.example", 443, "jira")
    assert "is not signed by a CA the bridge trusts" in sentence, sentence


@pytest.mark.parametrize("names", [("*.example",), ("*.other.example",),
                                   ("corp.example",), ("j*.corp.example",)])
def test_a_certificate_for_another_name_is_named_as_such(monkeypatch, names):
    # RFC 6125 §6.4.3: "*" stands for exactly one whole left-most label.
    monkeypatch.setattr(trust, "fetch_presented", lambda *a, **k: _presented(*names))
    sentence, _ = trust.refusal_sentence("jira.corp.example", 443, "jira")
    assert "is not made out for that name" in sentence, sentence
