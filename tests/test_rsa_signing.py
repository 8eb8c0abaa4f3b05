"""OAuth 1.0a consumer keys and the RSA-SHA1 signer (jira-server.md §1.1, §1.3).

The signer is checked three ways, none of which uses it to check itself: against the
vectors in tests/vectors (oauthlib base strings, ``cryptography`` signatures; made by
scripts/make-test-vectors), with ``cryptography``'s RSA verifier, and through oauthlib's
own server-side verifier on a full request. Where the upstream vectors (made by yet
other implementations) are beside the repository, they are checked too.
"""

import base64
from urllib.parse import unquote, urlencode

import pytest
import upstream
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from oauthlib import oauth1
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature as oauth_sig

from bridge.jira.keys import generate_key_pair, public_pem_from_private
from bridge.jira.signing import JiraOAuth1Client, sign_rsa_sha1

VECTORS = upstream.vectors("oauth1-rsa-sha1.json")


@pytest.fixture(scope="module")
def pair():
    return generate_key_pair()


def _header_params(auth: str) -> dict:
    return {k: unquote(v) for k, v in oauth1.rfc5849.utils.parse_authorization_header(auth)}


def _verify(public_pem: str, message: str, signature_b64: str) -> None:
    key = serialization.load_pem_public_key(public_pem.encode())
    key.verify(base64.b64decode(signature_b64), message.encode(), padding.PKCS1v15(),
               hashes.SHA1())


def test_key_pair_is_2048_bit_with_spki_public_key(pair):
    assert pair.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert "RSA PUBLIC KEY" not in pair.public_pem  # Jira refuses PKCS#1 public keys
    public = serialization.load_pem_public_key(pair.public_pem.encode())
    assert public.key_size == 2048
    private = serialization.load_pem_private_key(pair.private_pem.encode(), password=None)
    assert private.public_key().public_numbers() == public.public_numbers()


def test_public_key_derived_from_private_matches(pair):
    assert public_pem_from_private(pair.private_pem) == pair.public_pem


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_signer_reproduces_independent_vectors(case):
    assert sign_rsa_sha1(case["base_string"], VECTORS["private_key_pem"]) == \
        case["oauth_signature"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_oauthlib_base_string_through_our_client_matches_vectors(case):
    """The whole client path (oauthlib's base string + our signer) gives the vector."""
    assert _client_signature(case, VECTORS["private_key_pem"]) == case["oauth_signature"]


def test_vector_key_pair_matches():
    assert public_pem_from_private(VECTORS["private_key_pem"]) == VECTORS["public_key_pem"]


@pytest.mark.upstream
def test_signer_and_client_reproduce_upstream_vectors():
    """The stricter layer: vectors computed by other implementations, with their own key."""
    theirs = upstream.shared_json("vectors", "oauth1-rsa-sha1.json")
    assert theirs["cases"], "the upstream vector file has no cases"
    for case in theirs["cases"]:
        assert sign_rsa_sha1(case["base_string"], theirs["private_key_pem"]) == \
            case["oauth_signature"], case["name"]
        assert _client_signature(case, theirs["private_key_pem"]) == case["oauth_signature"], \
            case["name"]
    ours = {c["name"]: c["base_string"] for c in VECTORS["cases"]}
    for case in theirs["cases"]:
        if case["name"] in ours:
            assert ours[case["name"]] == case["base_string"], case["name"]


def _client_signature(case: dict, private_pem: str) -> str:
    params = dict(case["oauth_params"])
    client = JiraOAuth1Client(
        params["oauth_consumer_key"], rsa_key=private_pem,
        resource_owner_key=params.get("oauth_token"),
        verifier=params.get("oauth_verifier"),
        callback_uri=params.get("oauth_callback"),
        timestamp=params["oauth_timestamp"], nonce=params["oauth_nonce"],
    )
    body = case.get("form")
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    body_text = urlencode(body) if isinstance(body, dict) else body
    _, signed_headers, _ = client.sign(case["url"], http_method=case["method"],
                                       body=body_text, headers=headers)
    return _header_params(signed_headers["Authorization"])["oauth_signature"]


def test_signature_verifies_with_cryptography(pair):
    message = "GET&https%3A%2F%2Fjira.example.com%2Frest%2Fapi%2F2%2Fmyself&oauth_nonce%3D1"
    _verify(pair.public_pem, message, sign_rsa_sha1(message, pair.private_pem))
    with pytest.raises(InvalidSignature):
        _verify(pair.public_pem, message + "x", sign_rsa_sha1(message, pair.private_pem))


@pytest.mark.parametrize("message", ["", "GET&https%3A%2F%2Fjira.example.com&a%3D1",
                                     "POST&x&y%3D%C3%A9" * 50])
def test_signature_equals_pycryptodomes_independent_implementation(pair, message):
    """PKCS#1 v1.5 signatures are deterministic: OpenSSL (the signer) and pycryptodome
    (another implementation of the same RFC 8017 §8.2) must give the same bytes."""
    import base64

    from Crypto.Hash import SHA1
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    theirs = pkcs1_15.new(RSA.import_key(pair.private_pem)).sign(
        SHA1.new(message.encode("utf-8")))
    assert sign_rsa_sha1(message, pair.private_pem) == base64.b64encode(theirs).decode()


def test_signed_request_passes_oauthlibs_own_server_verifier(pair):
    client = JiraOAuth1Client("asana-bridge", rsa_key=pair.private_pem,
                              resource_owner_key="access-tok", resource_owner_secret="")
    uri, headers, body = client.sign(
        "http://127.0.0.1:8080/jira/rest/api/2/search?jql=text%20~%20%22a%20b%22",
        http_method="GET")
    request = Request(uri, http_method="GET", body=body, headers=headers)
    # What oauthlib's provider endpoints do: collect query + header params (RFC 5849 §3.4.1.3).
    request.params = oauth_sig.collect_parameters(uri_query=request.uri_query, headers=headers)
    request.signature = _header_params(headers["Authorization"])["oauth_signature"]
    assert oauth_sig.verify_rsa_sha1(request, pair.public_pem)


def test_client_refuses_methods_jira_rejects():
    with pytest.raises(ValueError, match="only RSA-SHA1"):
        JiraOAuth1Client("k", signature_method=oauth1.SIGNATURE_HMAC_SHA1)


def test_registering_our_signer_leaves_stock_oauthlib_alone():
    assert oauth1.Client.SIGNATURE_METHODS["RSA-SHA1"] is oauth_sig.sign_rsa_sha1_with_client
    assert JiraOAuth1Client.SIGNATURE_METHODS["RSA-SHA1"] is not \
        oauth1.Client.SIGNATURE_METHODS["RSA-SHA1"]
