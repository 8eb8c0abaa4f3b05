"""Limits on what a request may carry: chunked bodies, and ids in URLs.

Request bodies without a ``Content-Length`` (chunked) are held to the same limit.

Werkzeug checks ``MAX_CONTENT_LENGTH`` against the ``Content-Length`` header; a chunked
body has none, and its stream is then merely cut at the limit, so the bridge would act on
a truncated form or JSON document instead of refusing it. This middleware reads such a
body up to one byte past the limit before the app sees it: over the limit the request
answers 413 through the app's own error handlers; within it the app gets the body with
its length, like any other request.

Ids in URLs (``<int:instance_id>``) are bounded by the database's integer column: a
23-digit id overflowed SQLite's integers and PostgreSQL's ``integer`` and answered 500;
beyond the bound the route does not match, so the answer is 404 like any unknown id.
"""

from __future__ import annotations

import io

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

_FLAG = "bridge.body_too_large"
_CHUNK = 64 * 1024


class ChunkedBodyLimit:
    def __init__(self, wsgi_app, limit: int):
        self.wsgi_app = wsgi_app
        self.limit = limit

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            body = bytearray()
            stream = environ["wsgi.input"]
            while len(body) <= self.limit:
                data = stream.read(min(_CHUNK, self.limit + 1 - len(body)))
                if not data:
                    break
                body += data
            if len(body) > self.limit:
                environ[_FLAG] = True
                body = bytearray()
            environ["wsgi.input"] = io.BytesIO(bytes(body))
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.wsgi_app(environ, start_response)


MAX_ID = 2**31 - 1  # PostgreSQL's integer, the type of every primary key here


class BoundedInt(IntegerConverter):
    """``<int:...>`` for database ids: 1 to ``MAX_ID``, at most 10 digits."""

    regex = r"\d{1,10}"

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Install the limits (an oversized body reaches the app empty, flagged for 413).
    Call before registering blueprints: routes pick their converters when added."""
    app.url_map.converters["int"] = BoundedInt
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])

    @app.before_request
    def _refuse_oversized_chunked_body():
        if request.environ.get(_FLAG):
            raise RequestEntityTooLarge()
