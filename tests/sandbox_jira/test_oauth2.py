"""OAuth 2.0 provider (Jira 8.22+) conformance, reference jira-server.md §2."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest
import requests
from oauthlib.oauth2 import InvalidGrantError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from .conftest import login, query_of

REDIRECT = "https://bridge.example.com/oauth2/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(autouse=True)
def _plain_http_loopback(monkeypatch):
    """The simulator runs on http://127.0.0.1; tell oauthlib that is fine in tests."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def client(jira822):
    return jira822.state.add_oauth2_client("Asana Bridge", REDIRECT, "WRITE")


def consent(jira, authorize_url: str, user: str = "alice", approve: bool = True):
    """Follow authorize → 303 consent → Allow like a browser; returns the final redirect."""
    browser = login(jira, user)
    first = browser.get(authorize_url, allow_redirects=False)
    assert first.status_code == 303, first.text
    location = first.headers["Location"]
    assert location.startswith("/plugins/servlet/oauth2/consent?")
    page = browser.get(jira.url + location)
    assert page.status_code == 200 and "would like to access your Jira account" in page.text
    form = query_of(location)
    form["approve" if approve else "deny"] = "Allow" if approve else "Deny"
    return browser.post(f"{jira.url}/plugins/servlet/oauth2/consent", data=form,
                        allow_redirects=False)


def oauth_dance(jira, client, scope="WRITE", user="alice"):
    verifier, challenge = pkce_pair()
    oauth = OAuth2Session(client.client_id, redirect_uri=REDIRECT, scope=[scope])
    url, state = oauth.authorization_url(f"{jira.url}/rest/oauth2/latest/authorize",
                                         code_challenge=challenge, code_challenge_method="S256")
    redirect = consent(jira, url, user=user)
    location = redirect.headers["Location"]
    assert query_of(location)["state"] == state
    token = oauth.fetch_token(f"{jira.url}/rest/oauth2/latest/token",
                              authorization_response=location, include_client_id=True,
                              client_secret=client.client_secret, code_verifier=verifier)
    return oauth, token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_oauth2_is_absent_before_8_22(jira):
    assert requests.get(f"{jira.url}/rest/oauth2/latest/authorize").status_code == 404
    assert requests.post(f"{jira.url}/rest/oauth2/latest/token").status_code == 404


def test_oauth2session_pkce_flow_and_refresh_rotation(jira822, client):
    oauth, token = oauth_dance(jira822, client)
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] == 3600 and token["scope"] == ["WRITE"]
    me = oauth.get(jira822.rest("myself"))
    assert me.status_code == 200 and me.json()["name"] == "alice"
    old_refresh = token["refresh_token"]
    old_access = token["access_token"]
    new = oauth.refresh_token(f"{jira822.url}/rest/oauth2/latest/token",
                              refresh_token=old_refresh, client_id=client.client_id,
                              client_secret=client.client_secret, include_client_id=True,
                              redirect_uri=REDIRECT)
    assert new["refresh_token"] != old_refresh and new["access_token"] != old_access
    # the old pair died with the rotation
    assert requests.get(jira822.rest("myself"), headers=bearer(old_access)).status_code == 401
    reuse = requests.post(f"{jira822.url}/rest/oauth2/latest/token", data={
        "grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": client.client_id,
        "client_secret": client.client_secret, "redirect_uri": REDIRECT})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert requests.get(jira822.rest("myself"), headers=bearer(new["access_token"])).ok


def test_token_response_headers_are_no_store(jira822, client):
    _, token = oauth_dance(jira822, client)
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": client.client_id, "client_secret": client.client_secret,
        "redirect_uri": REDIRECT})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Pragma"] == "no-cache"
    assert set(resp.json()) == {"access_token", "token_type", "expires_in", "refresh_token",
                                "scope"}


def test_http_basic_client_authentication_is_not_accepted(jira822, client):
    verifier, challenge = pkce_pair()
    oauth = OAuth2Session(client.client_id, redirect_uri=REDIRECT, scope=["WRITE"])
    url, _ = oauth.authorization_url(f"{jira822.url}/rest/oauth2/latest/authorize",
                                     code_challenge=challenge, code_challenge_method="S256")
    location = consent(jira822, url).headers["Location"]
    # requests-oauthlib's default sends the client credentials as HTTP Basic; the
    # provider reads only form fields, so client_id is "missing" (reference §2.3)
    with pytest.raises(OAuth2Error) as err:
        oauth.fetch_token(f"{jira822.url}/rest/oauth2/latest/token",
                          authorization_response=location, client_secret=client.client_secret,
                          code_verifier=verifier)
    assert err.value.error == "invalid_request"
    assert "client_id" in err.value.description
    # client_id in the form but the secret only in Basic auth → invalid_client
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/token",
                         data={"grant_type": "authorization_code",
                               "code": _code(jira822, client), "redirect_uri": REDIRECT,
                               "client_id": client.client_id},
                         auth=(client.client_id, client.client_secret))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def _code(jira, client, **extra):
    params = {"client_id": client.client_id, "redirect_uri": REDIRECT, "response_type": "code",
              "scope": "WRITE", "state": "s1", **extra}
    url = requests.Request("GET", f"{jira.url}/rest/oauth2/latest/authorize",
                           params=params).prepare().url
    return query_of(consent(jira, url).headers["Location"])["code"]


def _exchange(jira, client, code, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client.client_id, "client_secret": client.client_secret, **extra}
    return requests.post(f"{jira.url}/rest/oauth2/latest/token", data=data)


def test_code_reuse_is_invalid_grant_and_deletes_tokens(jira822, client):
    code = _code(jira822, client)
    first = _exchange(jira822, client, code)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert requests.get(jira822.rest("myself"), headers=bearer(access)).status_code == 200
    second = _exchange(jira822, client, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert requests.get(jira822.rest("myself"), headers=bearer(access)).status_code == 401


def test_pkce_mismatch_and_plain_method(jira822, client):
    verifier, challenge = pkce_pair()
    code = _code(jira822, client, code_challenge=challenge, code_challenge_method="S256")
    bad = _exchange(jira822, client, code, code_verifier=pkce_pair()[0])
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    plain = "p" * 43
    code = _code(jira822, client, code_challenge=plain, code_challenge_method="plain")
    assert _exchange(jira822, client, code, code_verifier=plain).status_code == 200


def test_wrong_client_secret_is_invalid_client_401(jira822, client):
    code = _code(jira822, client)
    resp = _exchange(jira822, client, code, client_secret="nope")
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert set(resp.json()) == {"error", "error_description"}


def test_missing_redirect_uri_on_code_grant_is_invalid_request(jira822, client):
    code = _code(jira822, client)
    resp = _exchange(jira822, client, code, redirect_uri="")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert "redirect_uri" in resp.json()["error_description"]


def test_refresh_without_redirect_uri_is_invalid_grant(jira822, client):
    _, token = oauth_dance(jira822, client)
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": client.client_id, "client_secret": client.client_secret})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    jira822.state.configure(oauth2_refresh_requires_redirect_uri=False)  # plugin 3.1.5
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/token", data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": client.client_id, "client_secret": client.client_secret})
    assert resp.status_code == 200


def test_unsupported_grant_type(jira822, client):
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/token",
                         data={"grant_type": "password", "client_id": client.client_id})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_read_scope_token_gets_403_on_any_non_get(jira822):
    client = jira822.state.add_oauth2_client("Reader", REDIRECT, "READ")
    _, token = oauth_dance(jira822, client, scope="READ")
    headers = bearer(token["access_token"])
    assert requests.get(jira822.rest("search"), params={"jql": "project = EX"},
                        headers=headers).status_code == 200
    post = requests.post(jira822.rest("search"), json={"jql": "project = EX"}, headers=headers)
    assert post.status_code == 403
    assert "does not have write scope" in post.json()["errorMessages"][0]


def test_invalid_bearer_is_anonymous(jira822):
    resp = requests.get(jira822.rest("myself"), headers=bearer("not-a-token"))
    assert resp.status_code == 401
    assert resp.headers["X-AUSERNAME"] == "anonymous"
    # public data is still served to the (anonymous) caller
    assert requests.get(jira822.rest("serverInfo"), headers=bearer("x")).status_code == 200


def test_access_token_expires_after_one_hour(jira822, client):
    _, token = oauth_dance(jira822, client)
    jira822.state.advance(3601)
    assert requests.get(jira822.rest("myself"),
                        headers=bearer(token["access_token"])).status_code == 401


def test_scope_above_the_link_permission_redirects_invalid_scope(jira822, client):
    resp = requests.get(f"{jira822.url}/rest/oauth2/latest/authorize", params={
        "client_id": client.client_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "ADMIN", "state": "abc"}, allow_redirects=False)
    assert resp.status_code == 302
    params = query_of(resp.headers["Location"])
    assert resp.headers["Location"].startswith(REDIRECT)
    assert params["error"] == "invalid_scope" and params["state"] == "abc"


def test_unknown_redirect_uri_and_client_are_shown_on_an_error_page(jira822, client):
    resp = requests.get(f"{jira822.url}/rest/oauth2/latest/authorize", params={
        "client_id": client.client_id, "redirect_uri": "https://evil.example.com/cb",
        "response_type": "code", "scope": "WRITE"}, allow_redirects=False)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "The provided value for the input parameter &#39;redirect_uri&#39; is not valid" \
        in resp.text
    resp = requests.get(f"{jira822.url}/rest/oauth2/latest/authorize", params={
        "client_id": "0" * 32, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "WRITE"}, allow_redirects=False)
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize("extra,error", [
    ({"code_challenge_method": "sha256", "code_challenge": "a" * 43}, "invalid_request"),
    ({"code_challenge_method": "S256", "code_challenge": "short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": ""}, "invalid_request"),
])
def test_authorize_parameter_errors_go_back_by_redirect(jira822, client, extra, error):
    params = {"client_id": client.client_id, "redirect_uri": REDIRECT, "response_type": "code",
              "scope": "WRITE", "state": "st", **extra}
    resp = requests.get(f"{jira822.url}/rest/oauth2/latest/authorize", params=params,
                        allow_redirects=False)
    assert resp.status_code == 302
    assert query_of(resp.headers["Location"])["error"] == error


def test_consent_requires_login_and_deny_returns_access_denied(jira822, client):
    url = requests.Request("GET", f"{jira822.url}/plugins/servlet/oauth2/consent", params={
        "client_id": client.client_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "WRITE", "state": "q"}).prepare().url
    anon = requests.get(url, allow_redirects=False)
    assert anon.status_code == 302 and anon.headers["Location"].startswith("/login.jsp")
    authorize = url.replace("/plugins/servlet/oauth2/consent", "/rest/oauth2/latest/authorize")
    denied = consent(jira822, authorize, approve=False)
    params = query_of(denied.headers["Location"])
    assert params["error"] == "access_denied" and params["state"] == "q"


def test_revoke_endpoint_kills_the_pair(jira822, client):
    _, token = oauth_dance(jira822, client)
    resp = requests.post(f"{jira822.url}/rest/oauth2/latest/revoke", data={
        "token": token["refresh_token"], "token_type_hint": "refresh_token",
        "client_id": client.client_id, "client_secret": client.client_secret})
    assert resp.status_code == 200
    assert requests.get(jira822.rest("myself"),
                        headers=bearer(token["access_token"])).status_code == 401
    again = requests.post(f"{jira822.url}/rest/oauth2/latest/revoke", data={
        "token": token["refresh_token"], "client_id": client.client_id,
        "client_secret": client.client_secret})
    assert again.status_code == 200  # already-invalid tokens are fine
    bad_hint = requests.post(f"{jira822.url}/rest/oauth2/latest/revoke", data={
        "token": "x", "token_type_hint": "id_token", "client_id": client.client_id,
        "client_secret": client.client_secret})
    assert bad_hint.status_code == 400 and bad_hint.json()["error"] == "unsupported_token_type"


def test_user_revokes_on_authorized_applications_page(jira822, client):
    _, token = oauth_dance(jira822, client, user="bob")
    browser = login(jira822, "bob")
    page = browser.get(f"{jira822.url}/plugins/servlet/oauth2/authorized-applications")
    assert "Asana Bridge" in page.text
    browser.post(f"{jira822.url}/plugins/servlet/oauth2/authorized-applications",
                 data={"client_id": client.client_id})
    assert requests.get(jira822.rest("myself"),
                        headers=bearer(token["access_token"])).status_code == 401


def test_access_token_is_an_hs256_jwt_with_only_an_id(jira822, client):
    import jwt

    _, token = oauth_dance(jira822, client)
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert set(claims) == {"id"}
    assert jwt.get_unverified_header(token["access_token"])["alg"] == "HS256"


def test_metadata_endpoint(jira822):
    meta = requests.get(
        f"{jira822.url}/rest/oauth2/latest/.well-known/oauth-authorization-server").json()
    assert meta["token_endpoint"] == f"{jira822.url}/rest/oauth2/latest/token"
    assert "client_secret_post" in meta["token_endpoint_auth_methods_supported"]


def test_invalid_grant_on_unknown_code(jira822, client):
    resp = _exchange(jira822, client, "nonsense")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    with pytest.raises(InvalidGrantError):
        OAuth2Session(client.client_id, redirect_uri=REDIRECT).fetch_token(
            f"{jira822.url}/rest/oauth2/latest/token", code="nonsense", include_client_id=True,
            client_secret=client.client_secret)


def test_access_token_works_as_basic_password(jira822, client):
    _, token = oauth_dance(jira822, client, user="bob")
    resp = requests.get(jira822.rest("myself"), auth=("bob", token["access_token"]))
    assert resp.status_code == 200 and resp.json()["name"] == "bob"
    wrong_user = requests.get(jira822.rest("myself"), auth=("alice", token["access_token"]))
    assert wrong_user.status_code == 401


def test_read_scope_caps_mypermissions(jira822):
    client = jira822.state.add_oauth2_client("Reader", REDIRECT, "READ")
    _, token = oauth_dance(jira822, client, scope="READ")
    perms = requests.get(jira822.rest("mypermissions"),
                         headers=bearer(token["access_token"])).json()["permissions"]
    assert perms["BROWSE_PROJECTS"]["havePermission"] is True
    assert perms["CREATE_ISSUES"]["havePermission"] is False


def test_authorization_code_lifetime(jira822, client):
    code = _code(jira822, client)
    jira822.state.advance(61)  # max.client.delay.seconds = 60 in plugin 3.1.5
    resp = _exchange(jira822, client, code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_https_redirect_requirement_when_enforced(jira822):
    jira822.state.configure(oauth2_enforce_https=True)
    with pytest.raises(ValueError):
        jira822.state.add_oauth2_client("Dev", "http://127.0.0.1:5000/cb")
    browser = login(jira822, "admin")
    resp = browser.post(f"{jira822.url}/plugins/servlet/applinks/listApplicationLinks", data={
        "type": "oauth2", "name": "Dev", "redirect": "http://127.0.0.1:5000/cb",
        "permission": "WRITE"})
    assert resp.status_code == 400 and "HTTPS" in resp.text
