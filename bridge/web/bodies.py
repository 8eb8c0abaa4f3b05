"""Request bodies without a ``Content-Length`` (chunked) are held to the same limit.

Werkzeug checks ``MAX_CONTENT_LENGTH`` against the ``Content-Length`` header; a chunked
body has none, and its stream is then merely cut at the limit, so the bridge would act on
a truncated form or JSON document instead of refusing it. This middleware reads such a
body up to one byte past the limit before the app sees it: over the limit the request
answers 413 through the app's own error handlers; within it the app gets the body with
its length, like any other request.
"""

from __future__ import annotations

import io

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

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


def init_app(app: Flask) -> None:
    """Install the limit (an oversized body reaches the app empty, flagged for 413)."""
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])

    @app.before_request
    def _refuse_oversized_chunked_body():
        if request.environ.get(_FLAG):
            raise RequestEntityTooLarge()
