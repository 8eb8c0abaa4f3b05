"""OAuth 1.0a provider conformance (reference jira-server.md §1) over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_RSA, Client
from requests_oauthlib import OAuth1, OAuth1Session
from requests_oauthlib.oauth1_session import TokenRequestDenied

from .conftest import (
    CALLBACK,
    CONSUMER_KEY,
    PRIVATE_KEY,
    PUBLIC_KEY,
    VECTORS,
    authorize_oauth1,
    query_of,
)

REQUEST_TOKEN = "/plugins/servlet/oauth/request-token"
ACCESS_TOKEN = "/plugins/servlet/oauth/access-token"


def problem_of(resp) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(resp.text).items()}


def assert_problem(resp, problem: str, status: int):
    assert resp.status_code == status, resp.text
    body = problem_of(resp)
    assert body["oauth_problem"] == problem
    header = resp.headers["WWW-Authenticate"]
    assert header.startswith("OAuth realm=")
    assert f'oauth_problem="{problem}"' in header
    return body


def session(callback=CALLBACK, **kw) -> OAuth1Session:
    return OAuth1Session(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                         callback_uri=callback, **kw)


def fetch_request_token(jira, oauth=None) -> tuple[OAuth1Session, dict]:
    oauth = oauth or session()
    return oauth, oauth.fetch_request_token(jira.url + REQUEST_TOKEN)


def api_auth(tokens: dict, **kw) -> OAuth1:
    return OAuth1(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                  resource_owner_key=tokens["oauth_token"],
                  resource_owner_secret=tokens["oauth_token_secret"], **kw)


def test_full_dance_with_requests_oauthlib_then_read_issue(jira, oauth1_tokens):
    tokens = oauth1_tokens("alice")
    assert tokens["oauth_expires_in"] == "157680000"  # 5 years (§1.4)
    assert tokens["oauth_session_handle"]
    assert int(tokens["oauth_authorization_expires_in"]) == 157680000 + 30 * 86400
    resp = requests.get(jira.rest("issue/EX-1"), auth=api_auth(tokens),
                        params={"fields": "summary,status"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["key"] == "EX-1"
    assert set(resp.json()["fields"]) == {"summary", "status"}
    assert resp.headers["X-AUSERNAME"] == "alice"
    me = requests.get(jira.rest("myself"), auth=api_auth(tokens)).json()
    assert me["name"] == "alice"


def test_request_token_response_and_callback_confirmed(jira, consumer):
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    body = problem_of(resp)
    assert set(body) == {"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"}
    assert body["oauth_callback_confirmed"] == "true"


def test_jira_package_completes_dance_and_reads_issue(jira, consumer):
    from jira import JIRA

    oauth, rt = fetch_request_token(jira)
    redirect = authorize_oauth1(jira, rt["oauth_token"], user="bob")
    oauth.parse_authorization_response(redirect.headers["Location"])
    tokens = oauth.fetch_access_token(jira.url + ACCESS_TOKEN)
    client = JIRA(jira.url, oauth={"access_token": tokens["oauth_token"],
                                   "access_token_secret": tokens["oauth_token_secret"],
                                   "consumer_key": CONSUMER_KEY, "key_cert": PRIVATE_KEY,
                                   "signature_method": SIGNATURE_RSA})
    issue = client.issue("EX-2")
    assert issue.fields.summary == "Write release notes for 2.0"
    assert issue.fields.status.statusCategory.key == "indeterminate"
    assert client.current_user() == "bob"
    assert client.server_info()["deploymentType"] == "Server"


def test_hmac_sha1_is_refused_with_signature_method_rejected(jira, consumer):
    oauth = OAuth1Session(CONSUMER_KEY, client_secret="x", signature_method=SIGNATURE_HMAC_SHA1,
                          callback_uri=CALLBACK)
    with pytest.raises(TokenRequestDenied) as err:
        oauth.fetch_request_token(jira.url + REQUEST_TOKEN)
    assert err.value.status_code == 400
    assert_problem(err.value.response, "signature_method_rejected", 400)


def test_jira_package_with_hmac_is_refused_then_falls_back_to_rsa(jira, oauth1_tokens):
    """pycontribs/jira >= 3.5.1 tries HMAC-SHA1 first and falls back to RSA (reference §1.7)."""
    from jira import JIRA

    tokens = oauth1_tokens()
    jira.state.request_log.clear()
    client = JIRA(jira.url, oauth={"access_token": tokens["oauth_token"],
                                   "access_token_secret": tokens["oauth_token_secret"],
                                   "consumer_key": CONSUMER_KEY, "key_cert": PRIVATE_KEY,
                                   "signature_method": SIGNATURE_HMAC_SHA1})
    assert client.issue("EX-1").key == "EX-1"
    refused = [r for r in jira.state.request_log if r["status"] == 400]
    assert refused, "the HMAC-signed attempt must have been refused"
    assert all(r["auth"] == "anonymous" for r in refused)


def test_get_on_token_endpoints_is_an_empty_200(jira, consumer):
    for path in (REQUEST_TOKEN, ACCESS_TOKEN):
        resp = requests.get(jira.url + path)
        assert resp.status_code == 200 and resp.text == ""


def test_deny_redirects_with_verifier_denied_and_access_is_refused(jira, consumer):
    oauth, rt = fetch_request_token(jira)
    redirect = authorize_oauth1(jira, rt["oauth_token"], approve=False)
    params = query_of(redirect.headers["Location"])
    assert redirect.headers["Location"].startswith("https://bridge.example.com/oauth1/callback")
    assert params["state"] == "xyz"
    assert params["oauth_verifier"] == "denied"
    oauth.parse_authorization_response(redirect.headers["Location"])
    with pytest.raises(TokenRequestDenied) as err:
        oauth.fetch_access_token(jira.url + ACCESS_TOKEN)
    assert_problem(err.value.response, "permission_denied", 401)


def test_verifier_is_six_alphanumeric_chars(jira, consumer):
    _, rt = fetch_request_token(jira)
    redirect = authorize_oauth1(jira, rt["oauth_token"])
    verifier = query_of(redirect.headers["Location"])["oauth_verifier"]
    assert len(verifier) == 6 and verifier.isalnum()


def test_access_token_before_approval_is_permission_unknown(jira, consumer):
    oauth, rt = fetch_request_token(jira)
    oauth._client.client.verifier = "abcdef"
    with pytest.raises(TokenRequestDenied) as err:
        oauth.fetch_access_token(jira.url + ACCESS_TOKEN, verifier="abcdef")
    assert_problem(err.value.response, "permission_unknown", 401)


def test_request_token_expires_after_ten_minutes(jira, consumer):
    oauth, rt = fetch_request_token(jira)
    redirect = authorize_oauth1(jira, rt["oauth_token"])
    oauth.parse_authorization_response(redirect.headers["Location"])
    # expiry is checked before the timestamp window (AccessTokenServlet order, §1.2)
    jira.state.advance(601)
    with pytest.raises(TokenRequestDenied) as err:
        oauth.fetch_access_token(jira.url + ACCESS_TOKEN)
    assert_problem(err.value.response, "token_expired", 401)


def test_wrong_and_missing_verifier(jira, consumer):
    oauth, rt = fetch_request_token(jira)
    authorize_oauth1(jira, rt["oauth_token"])
    with pytest.raises(TokenRequestDenied) as err:
        oauth.fetch_access_token(jira.url + ACCESS_TOKEN, verifier="zzzzzz")
    assert_problem(err.value.response, "token_rejected", 401)
    # no verifier at all on an OAuth 1.0a token
    auth = OAuth1(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                  resource_owner_key=rt["oauth_token"],
                  resource_owner_secret=rt["oauth_token_secret"])
    resp = requests.post(jira.url + ACCESS_TOKEN, auth=auth)
    body = assert_problem(resp, "parameter_absent", 400)
    assert body["oauth_parameters_absent"] == "oauth_verifier"


def test_timestamp_outside_five_minutes_is_refused_with_400(jira, consumer):
    jira.state.advance(301)
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK))
    body = assert_problem(resp, "timestamp_refused", 400)
    low, high = (int(x) for x in body["oauth_acceptable_timestamps"].split("-"))
    assert high - low == 600
    jira.state.advance(-301 + 299)
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK))
    assert resp.status_code == 200


def test_replayed_nonce_is_refused(jira, oauth1_tokens):
    tokens = oauth1_tokens()
    client = Client(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                    resource_owner_key=tokens["oauth_token"],
                    resource_owner_secret=tokens["oauth_token_secret"])
    uri, headers, _ = client.sign(jira.rest("myself"), "GET")
    first = requests.get(uri, headers=headers)
    assert first.status_code == 200
    second = requests.get(uri, headers=headers)  # signed once, sent twice (pitfall §6.5)
    assert_problem(second, "nonce_used", 401)


def test_revoked_token_gets_token_rejected(jira, oauth1_tokens):
    from .conftest import login

    tokens = oauth1_tokens("alice")
    browser = login(jira, "alice")
    page = browser.get(f"{jira.url}/plugins/servlet/oauth/users/access-tokens")
    assert "Asana Bridge" in page.text and "Revoke Access" in page.text
    revoke = browser.post(f"{jira.url}/plugins/servlet/oauth/users/access-tokens",
                          data={"token": tokens["oauth_token"]}, allow_redirects=False)
    assert revoke.status_code == 302
    resp = requests.get(jira.rest("myself"), auth=api_auth(tokens))
    assert_problem(resp, "token_rejected", 401)


def test_other_users_cannot_revoke_a_token(jira, oauth1_tokens):
    from .conftest import login

    tokens = oauth1_tokens("alice")
    resp = login(jira, "bob").post(f"{jira.url}/plugins/servlet/oauth/users/access-tokens",
                                   data={"token": tokens["oauth_token"]}, allow_redirects=False)
    assert resp.status_code == 400
    assert requests.get(jira.rest("myself"), auth=api_auth(tokens)).status_code == 200


def test_unknown_consumer_key(jira, consumer):
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        "no-such-consumer", signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
        callback_uri=CALLBACK))
    assert_problem(resp, "consumer_key_unknown", 401)


def test_deleted_link_makes_api_calls_consumer_key_unknown(jira, oauth1_tokens):
    tokens = oauth1_tokens()
    link_id = jira.state.consumers[CONSUMER_KEY].applink_id
    jira.state.delete_applink(link_id)
    resp = requests.get(jira.rest("myself"), auth=api_auth(tokens))
    assert_problem(resp, "consumer_key_unknown", 401)


def test_bad_callback_is_parameter_rejected(jira, consumer):
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
        callback_uri="ftp://example.com/cb"))
    body = assert_problem(resp, "parameter_rejected", 400)
    assert body["oauth_parameters_rejected"] == "oauth_callback"


def test_signature_from_another_key_is_signature_invalid(jira):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pub = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    jira.state.add_consumer(CONSUMER_KEY, "Asana Bridge", other_pub)
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK))
    body = assert_problem(resp, "signature_invalid", 401)
    assert body["oauth_signature_method"] == "RSA-SHA1"
    assert body["oauth_signature_base_string"].startswith(
        "POST&" + requests.utils.quote(jira.url + REQUEST_TOKEN, safe=""))


def test_proxy_mismatch_gives_signature_invalid_with_base_string(jira_factory):
    proxied = jira_factory("8.20.0", public_base_url="https://jira.example.com")
    proxied.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)
    resp = requests.post(proxied.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK))
    body = assert_problem(resp, "signature_invalid", 401)
    assert body["oauth_signature_base_string"].startswith(
        "POST&https%3A%2F%2Fjira.example.com%2Fplugins%2Fservlet%2Foauth%2Frequest-token&")
    assert 'realm="https://jira.example.com"' in resp.headers["WWW-Authenticate"]


def test_shared_vector_signature_verifies_against_public_base_url(jira_factory):
    """The independent RFC 5849 vector verifies when the simulator's base URL matches."""
    case = VECTORS["cases"][0]
    assert case["url"] == "https://jira.example.com/plugins/servlet/oauth/request-token"
    proxied = jira_factory("8.20.0", public_base_url="https://jira.example.com")
    proxied.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)
    ts = int(case["oauth_params"]["oauth_timestamp"])
    proxied.state.set_clock(lambda: float(ts))
    params = dict(case["oauth_params"], oauth_signature=case["oauth_signature"])
    header = "OAuth " + ", ".join(f'{k}="{requests.utils.quote(v, safe="")}"'
                                  for k, v in params.items())
    resp = requests.post(proxied.url + REQUEST_TOKEN, headers={"Authorization": header})
    assert resp.status_code == 200, resp.text
    assert "oauth_token=" in resp.text


def test_oauth_params_in_query_string_are_accepted(jira, oauth1_tokens):
    tokens = oauth1_tokens()
    resp = requests.get(jira.rest("myself"), auth=api_auth(tokens, signature_type="query"))
    assert resp.status_code == 200 and resp.json()["name"] == "alice"


def test_oauth_params_in_form_body_are_accepted(jira, consumer):
    resp = requests.post(jira.url + REQUEST_TOKEN, auth=OAuth1(
        CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY, callback_uri=CALLBACK,
        signature_type="body"), headers={"Content-Type": "application/x-www-form-urlencoded"},
        data={})
    assert resp.status_code == 200, resp.text


def test_no_callback_means_oauth_1_0_and_consumer_callback_is_used(jira):
    jira.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY,
                            callback="https://bridge.example.com/consumer-cb")
    oauth = OAuth1Session(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY)
    rt = oauth.fetch_request_token(jira.url + REQUEST_TOKEN)
    assert "oauth_callback_confirmed" not in rt
    redirect = authorize_oauth1(jira, rt["oauth_token"])
    assert redirect.headers["Location"].startswith("https://bridge.example.com/consumer-cb?")
    # OAuth 1.0 token: no verifier check at access-token time
    tokens = OAuth1Session(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                           resource_owner_key=rt["oauth_token"],
                           resource_owner_secret=rt["oauth_token_secret"]
                           ).fetch_access_token(jira.url + ACCESS_TOKEN, verifier="unused")
    assert tokens["oauth_token"]


def test_oob_without_consumer_callback_shows_verifier_page(jira, consumer):
    _, rt = fetch_request_token(jira, session(callback="oob"))
    resp = authorize_oauth1(jira, rt["oauth_token"])
    assert resp.status_code == 200
    assert 'id="oauth-verifier"' in resp.text


def test_authorize_page_requires_login(jira, consumer):
    _, rt = fetch_request_token(jira)
    resp = requests.get(f"{jira.url}/plugins/servlet/oauth/authorize",
                        params={"oauth_token": rt["oauth_token"]}, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login.jsp?os_destination=")


def test_request_token_cannot_be_used_as_access_token(jira, consumer):
    _, rt = fetch_request_token(jira)
    resp = requests.get(jira.rest("myself"), auth=api_auth(rt))
    assert_problem(resp, "token_rejected", 401)


def test_access_token_expires_after_five_years(jira, oauth1_tokens):
    tokens = oauth1_tokens()
    jira.state.access_tokens[tokens["oauth_token"]].created -= 157_680_001
    resp = requests.get(jira.rest("myself"), auth=api_auth(tokens))
    assert_problem(resp, "token_expired", 401)


def test_incomplete_oauth_params_are_processed_anonymously(jira, consumer):
    resp = requests.get(jira.rest("myself"), params={"oauth_consumer_key": CONSUMER_KEY})
    assert resp.status_code == 401
    assert resp.headers["X-AUSERNAME"] == "anonymous"
    assert resp.headers["WWW-Authenticate"].startswith("OAuth realm=")
    assert "oauth_problem" not in resp.headers["WWW-Authenticate"]


def test_oauth_version_above_1_0_is_version_rejected(jira):
    """``oauth_version`` max 1.0 (reference §1.3)."""
    jira.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)
    client = Client(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                    callback_uri=CALLBACK)
    uri, headers, _ = client.sign(jira.url + REQUEST_TOKEN, "POST")
    headers["Authorization"] = headers["Authorization"].replace('oauth_version="1.0"',
                                                                'oauth_version="2.0"')
    assert_problem(requests.post(uri, headers=headers), "version_rejected", 400)


def test_session_handle_renews_the_access_token(jira, oauth1_tokens):
    tokens = oauth1_tokens()
    oauth = OAuth1Session(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                          resource_owner_key=tokens["oauth_token"],
                          resource_owner_secret=tokens["oauth_token_secret"])
    # requests-oauthlib has no session-handle support: add the parameter to the query
    renewed = oauth.post(jira.url + ACCESS_TOKEN,
                         params={"oauth_session_handle": tokens["oauth_session_handle"]})
    assert renewed.status_code == 200, renewed.text
    fresh = problem_of(renewed)
    assert fresh["oauth_token"] != tokens["oauth_token"]
    assert fresh["oauth_session_handle"] == tokens["oauth_session_handle"]
    assert_problem(requests.get(jira.rest("myself"), auth=api_auth(tokens)),
                   "token_rejected", 401)
    assert requests.get(jira.rest("myself"), auth=api_auth(fresh)).status_code == 200


def test_two_legged_requests_are_permission_denied(jira, consumer):
    client = Client(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                    resource_owner_key="")
    uri, headers, _ = client.sign(jira.rest("myself"), "GET")
    if 'oauth_token=""' not in headers["Authorization"]:
        headers["Authorization"] += ', oauth_token=""'
    assert_problem(requests.get(uri, headers=headers), "permission_denied", 401)


def test_signed_search_with_quoted_jql_verifies(jira, oauth1_tokens):
    """Query encoding round trip of the base string (pitfall §6.6)."""
    tokens = oauth1_tokens()
    jql = 'text ~ "release notes" AND project = EX ORDER BY updated DESC'
    resp = requests.get(jira.rest("search"), params={"jql": jql, "fields": "summary"},
                        auth=api_auth(tokens))
    assert resp.status_code == 200, resp.text
    assert [i["key"] for i in resp.json()["issues"]] == ["EX-2"]
    form = requests.post(jira.rest("search"), json={"jql": "key = EX-1"}, auth=api_auth(tokens))
    assert form.status_code == 200  # JSON bodies are not part of the signature


def test_deactivated_user_gets_a_bare_401(jira, oauth1_tokens):
    tokens = oauth1_tokens("bob")
    jira.state.users["bob"]["active"] = False
    resp = requests.get(jira.rest("myself"), auth=api_auth(tokens))
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'OAuth realm="{jira.url}"'


def test_context_path_is_part_of_the_signed_url():
    from bridge_sandbox.jira import create_jira_simulator, get_state
    from bridge_sandbox.liveserver import LiveServer

    server = LiveServer()
    server.app = create_jira_simulator("8.20.0", base_url=server.url + "/jira")
    get_state(server.app).add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)
    with server:
        oauth = session()
        rt = oauth.fetch_request_token(server.url + "/jira" + REQUEST_TOKEN)
        assert rt["oauth_token"]
        assert get_state(server.app).request_tokens[rt["oauth_token"]].consumer_key == \
            CONSUMER_KEY


def test_a_percent_encoded_path_is_signed_as_sent(jira, oauth1_tokens):
    """Jira builds the base string from ``request.getRequestURL()``, which is the path as
    the client sent it, escapes and all (jira-server.md §1.3): a request for an issue type
    id that needed escaping (``%3A``) verifies, and answers 404, not signature_invalid."""
    tokens = oauth1_tokens("alice")
    resp = requests.get(jira.rest("issue/createmeta/EX/issuetypes/%3A"), auth=api_auth(tokens))
    assert resp.status_code != 401, resp.text
    assert "oauth_problem" not in resp.text
