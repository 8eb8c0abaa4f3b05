"""A chunked request body over BRIDGE_MAX_CONTENT_LENGTH answers 413 (issue 11 §10).

Before, Werkzeug cut the chunked stream at the limit and the view acted on the truncated
body. Real HTTP through the werkzeug server the tests use and through gunicorn.
"""

from __future__ import annotations

import pytest
import requests
from flask import jsonify, request

LIMIT = 4096


def _with_echo(app):
    """A view that reports what it was given, to see whether a body was processed."""

    @app.post("/_test/echo")
    def _echo():
        if request.mimetype == "application/x-www-form-urlencoded":
            return jsonify(length=sum(len(v) for v in request.form.getlist("a")))
        return jsonify(length=len(request.get_data()))

    return app


def _chunks(total: int, size: int = 1000):
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        yield b"x" * part
        sent += part


def _form_chunks(total: int, size: int = 1000):
    for chunk in _chunks(total, size):
        yield b"a=" + chunk[3:] + b"&"


@pytest.fixture
def served(make_app):
    from bridge_sandbox.liveserver import LiveServer

    app = _with_echo(make_app(MAX_CONTENT_LENGTH=str(LIMIT)))
    with LiveServer(app) as server:
        yield server


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream",
                                          "application/x-www-form-urlencoded"])
def test_a_chunked_body_over_the_limit_gets_413_not_a_truncated_request(served, content_type):
    body = _form_chunks if content_type.endswith("urlencoded") else _chunks
    response = requests.post(served.url + "/_test/echo", data=body(LIMIT * 3),
                             headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_entity_too_large"


def test_a_chunked_body_within_the_limit_is_read_whole(served):
    response = requests.post(served.url + "/_test/echo", data=_chunks(LIMIT - 100),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"length": LIMIT - 100}
    response = requests.post(served.url + "/_test/echo", data=_form_chunks(3000),
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=10)
    assert response.json() == {"length": 3000 - 3 * 3}


def test_a_body_with_content_length_over_the_limit_still_gets_413(served):
    response = requests.post(served.url + "/_test/echo", data=b"x" * (LIMIT + 1), timeout=10)
    assert response.status_code == 413


def test_a_chunked_body_exactly_at_the_limit_is_accepted(served):
    response = requests.post(served.url + "/_test/echo", data=iter([b"y" * LIMIT]),
                             timeout=10)
    assert response.status_code == 200
    assert response.json()["length"] == LIMIT
