"""The OAuth 2.0 provider behaves as reference §7.2 describes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    return verifier, challenge.rstrip("=")


def authorize(base, *, decision="allow", email="alice@example.com", password="alice-password",
              state="st-123", challenge=None, redirect_uri=REDIRECT_URI, client_id=CLIENT_ID,
              scope=None):
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
              "state": state}
    if scope:
        params["scope"] = scope
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(base + "/-/oauth_authorize?" + urlencode(params), allow_redirects=False)
    assert page.status_code == 200, page.text
    assert "wants to access your Asana account" in page.text
    form = {**params, "email": email, "password": password, "decision": decision}
    if not challenge:
        form.update(code_challenge="", code_challenge_method="")
    resp = requests.post(base + "/-/oauth_authorize", data=form, allow_redirects=False)
    return resp


def redirect_params(resp):
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(base, code, verifier=None, redirect_uri=REDIRECT_URI, secret=CLIENT_SECRET):
    data = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": secret,
            "redirect_uri": redirect_uri, "code": code}
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(base + "/-/oauth_token", data=data)


def login(base, **kw):
    verifier, challenge = pkce_pair()
    params = redirect_params(authorize(base, challenge=challenge, **kw))
    resp = exchange(base, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_code_pkce_exchange_and_state_echo(sim):
    verifier, challenge = pkce_pair()
    params = redirect_params(authorize(sim.base, challenge=challenge, state="xyz-1"))
    assert params["state"] == "xyz-1" and params["code"]
    resp = exchange(sim.base, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    assert body["data"] == {"id": "1300000000000001", "name": "Alice Andrews",
                            "email": "alice@example.com"}
    me = requests.get(sim.base + "/api/1.0/users/me",
                      headers={"Authorization": "Bearer " + body["access_token"]})
    assert me.status_code == 200 and me.json()["data"]["gid"] == "1300000000000001"
    # the code is single-use
    assert exchange(sim.base, params["code"], verifier).json()["error"] == "invalid_grant"


def test_pkce_wrong_verifier_rejected(sim):
    _, challenge = pkce_pair()
    params = redirect_params(authorize(sim.base, challenge=challenge))
    resp = exchange(sim.base, params["code"], "not-the-verifier")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_pkce_missing_verifier_rejected(sim):
    _, challenge = pkce_pair()
    params = redirect_params(authorize(sim.base, challenge=challenge))
    assert exchange(sim.base, params["code"]).status_code == 400


def test_plain_code_flow_without_pkce(sim):
    params = redirect_params(authorize(sim.base, email="bob@example.com", password="bob-password"))
    body = exchange(sim.base, params["code"]).json()
    assert body["data"]["email"] == "bob@example.com"


def test_deny_redirects_with_access_denied(sim):
    params = redirect_params(authorize(sim.base, decision="deny", state="s-9"))
    assert params == {"error": "access_denied", "state": "s-9"}


def test_wrong_password_stays_on_consent_page(sim):
    resp = authorize(sim.base, password="nope")
    assert resp.status_code == 200 and "Wrong email or password" in resp.text


def test_wrong_redirect_uri_is_a_plain_text_error(sim):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI + "/other",
              "response_type": "code", "state": "s"}
    resp = requests.get(sim.base + "/-/oauth_authorize?" + urlencode(params),
                        allow_redirects=False)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_unknown_client_is_a_plain_text_error(sim):
    params = {"client_id": "999", "redirect_uri": REDIRECT_URI, "response_type": "code",
              "state": "s"}
    resp = requests.get(sim.base + "/-/oauth_authorize?" + urlencode(params),
                        allow_redirects=False)
    assert resp.status_code == 400 and "client_id" in resp.text


def test_missing_state_is_refused(sim):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code"}
    resp = requests.get(sim.base + "/-/oauth_authorize?" + urlencode(params),
                        allow_redirects=False)
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_request"]


def test_plain_pkce_method_is_refused(sim):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "state": "s", "code_challenge": "abc", "code_challenge_method": "plain"}
    resp = requests.get(sim.base + "/-/oauth_authorize?" + urlencode(params),
                        allow_redirects=False)
    assert "error=invalid_request" in resp.headers["Location"]


def test_token_redirect_uri_must_match_authorize(sim):
    params = redirect_params(authorize(sim.base))
    sim.sim.apps[CLIENT_ID].redirect_uris.append("http://127.0.0.1:9/other")
    resp = exchange(sim.base, params["code"], redirect_uri="http://127.0.0.1:9/other")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_wrong_client_secret(sim):
    params = redirect_params(authorize(sim.base))
    resp = exchange(sim.base, params["code"], secret="wrong")
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_token_endpoint_needs_form_encoding(sim):
    resp = requests.post(sim.base + "/-/oauth_token", json={"grant_type": "refresh_token"})
    assert resp.status_code == 400


def _refresh(base, token):
    return requests.post(base + "/-/oauth_token", data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI})


def test_refresh_gives_new_access_token(sim):
    tokens = login(sim.base)
    resp = _refresh(sim.base, tokens["refresh_token"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["access_token"] != tokens["access_token"] and body["expires_in"] == 3600
    assert "refresh_token" not in body  # long-lived, not rotated
    me = requests.get(sim.base + "/api/1.0/users/me",
                      headers={"Authorization": "Bearer " + body["access_token"]})
    assert me.status_code == 200


def test_access_token_expires_after_an_hour(sim):
    tokens = login(sim.base)
    auth = {"Authorization": "Bearer " + tokens["access_token"]}
    assert requests.get(sim.base + "/api/1.0/users/me", headers=auth).status_code == 200
    sim.sim.clock.advance(3601)
    resp = requests.get(sim.base + "/api/1.0/users/me", headers=auth)
    assert resp.status_code == 401 and resp.json()["errors"][0]["message"]
    assert _refresh(sim.base, tokens["refresh_token"]).status_code == 200


def test_revoke_refresh_token(sim):
    tokens = login(sim.base)
    revoke = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    bearer = requests.post(sim.base + "/-/oauth_revoke",
                           data={**revoke, "token": tokens["access_token"]})
    assert bearer.status_code == 400  # bearer tokens are rejected
    ok = requests.post(sim.base + "/-/oauth_revoke",
                       data={**revoke, "token": tokens["refresh_token"]})
    assert ok.status_code == 200
    assert _refresh(sim.base, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    me = requests.get(sim.base + "/api/1.0/users/me",
                      headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert me.status_code == 401
    again = requests.post(sim.base + "/-/oauth_revoke", data={**revoke, "token": "unknown"})
    assert again.status_code == 200  # "revoked or not found"
    assert requests.post(sim.base + "/-/oauth_revoke", data=revoke).status_code == 400


def test_register_app_refuses_plain_http_off_loopback(sim):
    with pytest.raises(ValueError):
        sim.sim.register_app(client_id="2", client_secret="s",
                             redirect_uris=["http://bridge.example.com/cb"])


def test_control_endpoint_registers_app(sim):
    resp = requests.post(sim.base + "/_sim/apps", json={
        "client_id": "42", "client_secret": "s42", "redirect_uris": [REDIRECT_URI],
        "bridge_url": "http://127.0.0.1:9"})
    assert resp.status_code == 201
    assert resp.json()["paths"]["widget"] == "/asana/widget"
    params = {"client_id": "42", "redirect_uri": REDIRECT_URI, "response_type": "code",
              "state": "s"}
    page = requests.get(sim.base + "/-/oauth_authorize?" + urlencode(params))
    assert page.status_code == 200
