"""Application links: admin pages and REST (reference jira-server.md §1.1, §2.1, §5.5)."""

from __future__ import annotations

import datetime
import re

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from .conftest import CONSUMER_KEY, PRIVATE_KEY, PUBLIC_KEY, login

ADMIN = ("admin", "admin")
LIST = "/plugins/servlet/applinks/listApplicationLinks"


def _private_key():
    return serialization.load_pem_private_key(PRIVATE_KEY.encode(), password=None)


def certificate_pem() -> str:
    key = _private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def pkcs1_public_pem() -> str:
    return _private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()


def bare_base64() -> str:
    return "".join(line for line in PUBLIC_KEY.splitlines() if not line.startswith("-----"))


def create_generic_link(jira, browser) -> str:
    resp = browser.post(jira.url + LIST, data={"type": "generic", "name": "Asana Bridge",
                                               "url": "https://bridge.example.com"},
                        allow_redirects=False)
    assert resp.status_code == 302
    return resp.headers["Location"]


@pytest.mark.parametrize("key_text", [PUBLIC_KEY, "bare", "certificate"])
def test_admin_ui_creates_generic_link_with_incoming_oauth(jira, key_text):
    key_text = {"bare": bare_base64(), "certificate": certificate_pem()}.get(key_text, key_text)
    browser = login(jira, "admin")
    consumer_page = create_generic_link(jira, browser)
    assert "/plugins/servlet/applinks/auth/conf/oauth/add-consumer-manually/" in consumer_page
    form = browser.get(jira.url + consumer_page)
    assert 'name="publicKey"' in form.text and 'name="consumerName"' in form.text
    saved = browser.post(jira.url + consumer_page, data={
        "key": CONSUMER_KEY, "consumerName": "Asana Bridge", "publicKey": key_text,
        "callback": "https://bridge.example.com/oauth1/callback"}, allow_redirects=False)
    assert saved.status_code == 302, saved.text
    consumer = jira.state.consumers[CONSUMER_KEY]
    assert consumer.callback == "https://bridge.example.com/oauth1/callback"
    # the registered key really verifies RSA-SHA1 signatures
    from oauthlib.oauth1 import SIGNATURE_RSA
    from requests_oauthlib import OAuth1

    resp = requests.post(f"{jira.url}/plugins/servlet/oauth/request-token", auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri="oob"))
    assert resp.status_code == 200, resp.text


def test_admin_ui_refuses_pkcs1_public_key(jira):
    browser = login(jira, "admin")
    consumer_page = create_generic_link(jira, browser)
    resp = browser.post(jira.url + consumer_page, data={
        "key": CONSUMER_KEY, "consumerName": "Asana Bridge", "publicKey": pkcs1_public_pem()})
    assert resp.status_code == 400 and "public key is invalid" in resp.text
    assert CONSUMER_KEY not in jira.state.consumers


def test_applinks_pages_are_admin_only(jira):
    assert login(jira, "bob").get(jira.url + LIST).status_code == 403
    anon = requests.get(jira.url + LIST, allow_redirects=False)
    assert anon.status_code == 302 and "/login.jsp" in anon.headers["Location"]


def test_oauth2_incoming_link_only_from_8_22(jira, jira822):
    assert 'value="oauth2"' not in login(jira, "admin").get(jira.url + LIST).text
    browser = login(jira822, "admin")
    resp = browser.post(jira822.url + LIST, data={
        "type": "oauth2", "name": "Asana", "redirect": "https://bridge.example.com/cb",
        "permission": "WRITE"})
    assert resp.status_code == 200
    client_id = re.search(r'id="client-id">([^<]+)<', resp.text).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', resp.text).group(1)
    assert re.fullmatch(r"[0-9a-f]{32}", client_id)
    assert jira822.state.oauth2_clients[client_id].client_secret == secret
    assert jira822.state.oauth2_clients[client_id].scope == "WRITE"
    # re-viewable later from the link
    listing = browser.get(jira822.url + LIST).text
    link_id = jira822.state.oauth2_clients[client_id].applink_id
    assert f"/plugins/servlet/applinks/oauth2/credentials/{link_id}" in listing
    assert client_id in browser.get(
        f"{jira822.url}/plugins/servlet/applinks/oauth2/credentials/{link_id}").text


def test_rest_registration_of_link_and_consumer(jira):
    resp = requests.put(f"{jira.url}/rest/applinks/3.0/applicationlink", auth=ADMIN, json={
        "name": "Asana Bridge", "rpcUrl": "https://bridge.example.com",
        "displayUrl": "https://bridge.example.com", "typeId": "generic"})
    assert resp.status_code == 201
    href = resp.json()["resources-created"][0]["href"]
    link_id = href.rsplit("/", 1)[1]
    assert requests.get(href, auth=ADMIN).json()["id"] == link_id
    consumer_url = (f"{jira.url}/rest/applinks-oauth/1.0/applicationlink/{link_id}"
                    f"/authentication/consumer")
    body = {"key": CONSUMER_KEY, "name": "Asana Bridge", "description": None,
            "publicKey": bare_base64(), "callback": "https://bridge.example.com/oauth1/callback",
            "outgoing": False, "twoLOAllowed": False, "executingTwoLOUser": None,
            "twoLOImpersonationAllowed": False}
    created = requests.put(consumer_url, auth=ADMIN, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["key"] == CONSUMER_KEY
    listed = requests.get(consumer_url, auth=ADMIN).json()
    assert [c["key"] for c in listed] == [CONSUMER_KEY]
    assert jira.state.consumers[CONSUMER_KEY].applink_id == link_id


def test_rest_consumer_refuses_bad_keys_and_certificates(jira):
    link = jira.state.create_applink("Asana Bridge", "https://bridge.example.com")
    url = (f"{jira.url}/rest/applinks-oauth/1.0/applicationlink/{link['id']}"
           f"/authentication/consumer")
    for key in (pkcs1_public_pem(), certificate_pem(), "not base64!"):
        resp = requests.put(url, auth=ADMIN, json={"key": "k", "name": "n", "publicKey": key})
        assert resp.status_code == 400
        assert resp.json()["errorMessages"] == ["applinks.invalid.consumer.publickey"]


def test_rest_registration_is_admin_only(jira):
    url = f"{jira.url}/rest/applinks/3.0/applicationlink"
    body = {"name": "x", "rpcUrl": "https://x.example.com", "typeId": "generic"}
    assert requests.put(url, auth=("bob", "bob"), json=body).status_code == 403
    assert requests.put(url, json=body).status_code == 401


def test_deleting_a_link_removes_its_consumer(jira):
    consumer = jira.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)
    resp = requests.delete(f"{jira.url}/rest/applinks/latest/applicationlink/"
                           f"{consumer.applink_id}", auth=ADMIN)
    assert resp.status_code == 204
    assert CONSUMER_KEY not in jira.state.consumers
