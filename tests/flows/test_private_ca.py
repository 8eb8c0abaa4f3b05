"""Jira behind a company CA (issue 17.3): ``BRIDGE_CA_BUNDLE`` is used for every call to
Jira, ``doctor`` names the refused certificate, its issuer and the bundle, and nothing
turns verification off.

The Jira simulator is served over TLS with a leaf for 127.0.0.1 signed by a CA this test
makes (``bridge_sandbox.tls``); the system trust store does not know that CA.
"""

from __future__ import annotations

import time

import pytest
import requests
from bridge_sandbox.jira import create_jira_simulator, get_state
from bridge_sandbox.liveserver import LiveServer
from bridge_sandbox.tls import PrivateCA

from bridge import outbound
from bridge.cli import main
from bridge.config import ConfigError, load
from bridge.jira.client import JiraClient
from bridge.jira.errors import JiraMisconfigured
from bridge.services import instances

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def company_ca(tmp_path_factory):
    folder = tmp_path_factory.mktemp("company-ca")
    ca = PrivateCA(folder)
    return ca, ca.issue()


@pytest.fixture(scope="module")
def tls_jira(company_ca):
    _, leaf = company_ca
    server = LiveServer(ssl_context=leaf.server_context())
    server.app = create_jira_simulator(version="10.3.19", base_url=server.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_tls_jira(tls_jira):
    state = get_state(tls_jira.app)
    state.reset()
    state.set_clock(time.time)
    return tls_jira


def test_untrusted_ca_is_refused_with_a_sentence(make_app, fresh_tls_jira):
    app = make_app()
    with app.app_context(), pytest.raises(JiraMisconfigured) as refused:
        instances.probe(fresh_tls_jira.url)
    assert "does not trust Jira's TLS certificate" in refused.value.public_message
    assert "BRIDGE_CA_BUNDLE" in refused.value.public_message


def test_the_bundle_makes_every_jira_call_work(make_app, fresh_tls_jira, company_ca):
    ca, _ = company_ca
    app = make_app(CA_BUNDLE=str(ca.bundle))
    with app.app_context():
        found = instances.probe(fresh_tls_jira.url)
        assert found.version == "10.3.19"
        assert JiraClient(fresh_tls_jira.url).server_info()["version"] == "10.3.19"
    # the admin's one-off session (webhook registration) trusts the same bundle
    from bridge.jira.client import fresh_session

    answer = fresh_session().get(fresh_tls_jira.url + "/rest/api/2/serverInfo", timeout=5)
    assert answer.status_code == 200


def test_the_jira_bundle_is_not_used_for_asana(make_app, company_ca):
    ca, _ = company_ca
    make_app(CA_BUNDLE=str(ca.bundle))
    assert outbound.trust.verify_for("jira") == str(ca.bundle)
    assert outbound.trust.verify_for("asana") != str(ca.bundle)
    make_app(ASANA_CA_BUNDLE=str(ca.bundle))
    assert outbound.trust.verify_for("asana") == str(ca.bundle)
    assert outbound.trust.verify_for("jira") != str(ca.bundle)


@pytest.mark.parametrize("value", ["false", "0", "off", "none", ""])
def test_no_setting_turns_verification_off(make_app, fresh_tls_jira, value, tmp_path):
    if value:
        with pytest.raises(ConfigError, match="BRIDGE_CA_BUNDLE"):
            load({"CA_BUNDLE": value})
    for name in ("VERIFY_TLS", "SSL_VERIFY", "INSECURE", "TLS_VERIFY", "CA_VERIFY"):
        with pytest.raises(ConfigError, match="is not a setting"):
            load({name: "false"})
    app = make_app(**({"CA_BUNDLE": ""} if not value else {}))
    with app.app_context(), pytest.raises(JiraMisconfigured):
        instances.probe(fresh_tls_jira.url)


def test_a_caller_cannot_turn_verification_off_either(make_app, fresh_tls_jira):
    make_app()
    session = outbound.GuardedSession(purpose="jira")
    with pytest.raises(requests.exceptions.SSLError):
        session.get(fresh_tls_jira.url + "/rest/api/2/serverInfo", verify=False, timeout=5)
    session.verify = False
    with pytest.raises(requests.exceptions.SSLError):
        session.get(fresh_tls_jira.url + "/rest/api/2/serverInfo", timeout=5)


def test_a_bundle_that_is_not_pem_is_refused_at_start(tmp_path):
    junk = tmp_path / "bundle.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="BRIDGE_CA_BUNDLE .*not a PEM file|BRIDGE_CA_BUNDLE"
                       ".*holds no certificate"):
        load({"CA_BUNDLE": str(junk)})
    with pytest.raises(ConfigError, match="BRIDGE_CA_BUNDLE names no file"):
        load({"CA_BUNDLE": str(tmp_path / "missing.pem")})


@pytest.fixture
def doctor_env(runner, bridge, asana, monkeypatch):
    for key, value in {"PUBLIC_URL": bridge.url, "ASANA_BASE_URL": asana.url,
                       "ASANA_CLIENT_ID": ASANA_CLIENT_ID,
                       "ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET}.items():
        monkeypatch.setenv("BRIDGE_" + key, value)
    return monkeypatch


def _register(bridge, jira):
    from bridge.models import JiraInstance
    from bridge.services.instances import JiraProbe

    with bridge.app.app_context():
        found = JiraProbe(base_url=jira.url, version="10.3.19", version_numbers=(10, 3, 19),
                          server_title="Company Jira", reported_base_url=jira.url)
        client = get_state(jira.app).add_oauth2_client("Asana bridge",
                                                       f"{bridge.url}/oauth/jira2/callback")
        instance = instances.save_oauth2_instance("1200000000000001", found, client.client_id,
                                                  client.client_secret)
        assert JiraInstance.get_by_id(instance.id)
        return instance


def test_doctor_names_certificate_issuer_and_bundle(runner, doctor_env, bridge,
                                                    fresh_tls_jira, company_ca):
    ca, leaf = company_ca
    _register(bridge, fresh_tls_jira)
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "[FAIL] reachable:" in result.output
    assert f"certificate: {leaf.subject}" in result.output
    assert f"issued by: {ca.subject}" in result.output
    assert "trusted CAs: the system trust store" in result.output
    assert "set BRIDGE_CA_BUNDLE" in result.output

    doctor_env.setenv("BRIDGE_CA_BUNDLE", str(ca.bundle))
    result = runner.invoke(main, ["doctor"])
    assert "[ok  ] reachable:" in result.output, result.output
    assert "Jira 10.3.19" in result.output


def _serve(leaf):
    server = LiveServer(ssl_context=leaf.server_context())
    server.app = create_jira_simulator(version="10.3.19", base_url=server.url)
    return server


@pytest.mark.parametrize("case", ["other_ca", "wrong_name", "expired"])
def test_doctor_says_what_is_wrong_with_the_certificate(runner, doctor_env, bridge,
                                                        company_ca, tmp_path, case):
    ca, _ = company_ca
    bundle = ca.bundle
    if case == "other_ca":
        other = PrivateCA(tmp_path / "other", name="Someone Else Root CA")
        bundle = other.bundle
        leaf = ca.issue(stem="leaf-other")
    elif case == "wrong_name":
        leaf = ca.issue(names=("jira.example.internal",), stem="leaf-name")
    else:
        leaf = ca.issue(valid_days=-1, stem="leaf-expired")
    doctor_env.setenv("BRIDGE_CA_BUNDLE", str(bundle))
    with _serve(leaf) as jira:
        _register(bridge, jira)
        result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert f"trusted CAs: {bundle} (BRIDGE_CA_BUNDLE)" in result.output
    assert f"certificate: {leaf.subject}" in result.output
    expected = {"other_ca": f"issued by {ca.subject}) is not signed by a CA the bridge trusts",
                "wrong_name": "is not made out for that name (it names jira.example.internal)",
                "expired": "expired on"}[case]
    assert expected in result.output
