"""``asana-jira-bridge doctor`` names the cause of each classic fault (jira-server.md §6)."""

from __future__ import annotations

import re

import pytest

from bridge.cli import main
from bridge.models import JiraInstance

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e


@pytest.fixture
def doctor(runner, bridge, asana, monkeypatch):
    for key, value in {"PUBLIC_URL": bridge.url, "ASANA_BASE_URL": asana.url,
                       "ASANA_CLIENT_ID": ASANA_CLIENT_ID,
                       "ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET}.items():
        monkeypatch.setenv("BRIDGE_" + key, value)

    def run(*args):
        return runner.invoke(main, ["doctor", *args])

    return run


def test_healthy_oauth1_instance_passes(doctor, bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "[ok  ] signed_call: Jira accepted a request signed" in result.output
    assert "[ok  ] cors: CORS preflight allows http://127.0.0.1:" in result.output
    assert "[ok  ] auth_path: Auth: oauth1" in result.output
    # Plain http on loopback: rule actions cannot be reached by Asana, and doctor says so.
    assert "[warn] rule_actions:" in result.output


def test_proxy_mismatch_shows_both_base_strings_and_names_the_url(doctor, bridge,
                                                                  jira_factory):
    # Jira believes it is https://jira.example.com (a proxy in front), the bridge calls it
    # on its internal address: the base strings differ.
    jira = jira_factory("8.20.0", public_base_url="https://jira.example.com")
    oauth1_instance(bridge, jira)
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] signed_call: signature_invalid: the URL differs" in result.output
    assert f"the bridge signs {jira.url}/plugins/servlet/oauth/request-token" in result.output
    assert "Jira sees https://jira.example.com/plugins/servlet/oauth/request-token" \
        in result.output
    assert "ours: POST&http%3A%2F%2F127.0.0.1" in result.output
    assert "Jira: POST&https%3A%2F%2Fjira.example.com" in result.output
    assert "[warn] base_url: Jira's Base URL setting is https://jira.example.com" \
        in result.output


def test_skewed_clock_is_named(doctor, bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    jira_state(jira).advance(10 * 60)
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] signed_call: timestamp_refused" in result.output
    assert re.search(r"\[FAIL\] clock: The clocks of the bridge and Jira differ by (59\d|60\d) s",
                     result.output)
    assert "Run NTP" in result.output


def test_unknown_consumer_key_is_named(doctor, bridge, jira_factory):
    jira = jira_factory("9.12.0")
    oauth1_instance(bridge, jira, register=False)
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] signed_call: Jira does not know the consumer key" in result.output
    assert "[warn] auth_path:" in result.output  # 9.12 could use OAuth 2.0


def test_unreachable_jira_fails(doctor, bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    with bridge.app.app_context():
        JiraInstance.update(base_url="http://127.0.0.1:9").where(
            JiraInstance.id == instance.id).execute()
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] reachable: http://127.0.0.1:9 cannot be reached" in result.output


def test_oauth2_instance_on_old_jira_fails(doctor, bridge, jira_factory):
    jira = jira_factory("9.12.0")
    instance = oauth2_instance(bridge, jira)
    older = jira_factory("8.20.0")
    with bridge.app.app_context():
        JiraInstance.update(base_url=older.url).where(JiraInstance.id == instance.id).execute()
    result = doctor("--instance", str(instance.id))
    assert result.exit_code == 1
    assert "[FAIL] auth_path: OAuth 2.0 needs Jira 8.22 or later" in result.output
    assert "[FAIL] oauth2: Jira has no OAuth 2.0 provider" in result.output


def test_healthy_oauth2_instance_passes(doctor, bridge, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "[ok  ] oauth2: Jira's OAuth 2.0 provider answers." in result.output


def test_unreachable_bridge_fails_the_cors_check(doctor, monkeypatch):
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "http://127.0.0.1:9")
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] cors: The bridge itself is not reachable" in result.output


def test_a_front_end_that_drops_cors_is_reported(doctor, monkeypatch, jira_factory):
    # Something answers at the public URL, but not with CORS for Asana (here: a Jira).
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", jira_factory("8.20.0").url)
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] cors: The CORS preflight of" in result.output
    assert "did not allow" in result.output


def test_wrong_public_key_in_jira_is_named(doctor, bridge, jira_factory):
    from bridge.jira.keys import generate_key_pair

    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira, register=False)
    jira_state(jira).add_consumer(instance.consumer_key, "Asana",
                                  generate_key_pair().public_pem)  # someone else's key
    result = doctor()
    assert result.exit_code == 1
    assert "the key is wrong: the public key in Jira's application link is not this " \
           "bridge's" in result.output


def test_unknown_instance_id(doctor):
    result = doctor("--instance", "42")
    assert result.exit_code == 1 and "no such Jira instance" in result.output


def test_untrusted_tls_certificate_is_named(doctor, bridge, tmp_path):
    """A Jira behind a certificate the bridge does not trust (self-signed here)."""
    import datetime as dt
    import ssl

    from bridge_sandbox.jira import create_jira_simulator
    from bridge_sandbox.liveserver import LiveServer
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from bridge.services import instances

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with LiveServer(ssl_context=context) as server:
        server.app = create_jira_simulator("9.12.0", base_url=server.url)
        with bridge.app.app_context():
            found = instances.JiraProbe(base_url=server.url, version="9.12.0",
                                        version_numbers=(9, 12, 0), server_title="",
                                        reported_base_url=server.url)
            instances.create_oauth1_instance("1100000000000001", found)
        result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] reachable: 127.0.0.1's certificate (CN=127.0.0.1) is self-signed and not " \
        "in the CAs the bridge trusts (the system trust store" in result.output
    assert "issued by: CN=127.0.0.1" in result.output
