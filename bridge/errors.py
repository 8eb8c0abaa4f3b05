"""The bridge's own error base: every failure carries the sentence a user may see.

Each external system has its own hierarchy (``bridge.jira.errors``, ``bridge.asana.errors``)
rooted here. A ``BridgeError`` carries an HTTP status, a stable machine ``code`` and a
``public_message`` that is safe to show: it never contains tokens, secrets or raw upstream
bodies. ``bridge.web.errors`` turns any ``BridgeError`` into an answer, in the shape of
the route family that raised it (Asana's on App Components routes, the bridge's own
elsewhere).
"""

from __future__ import annotations

import math

MAX_RETRY_AFTER = 3600.0  # seconds; a server asking for longer (or for ever) gets this


def retry_after_seconds(raw: str | None) -> float | None:
    """A ``Retry-After`` header in seconds, bounded to ``[0, MAX_RETRY_AFTER]``; ``None``
    when absent or not a number. The value comes from a server: ``inf`` or ``1e12`` would
    otherwise overflow a datetime in a worker, or pause work for centuries."""
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class BridgeError(Exception):
    status = 500
    code = "internal_error"
    public_message = "Something went wrong on the bridge."
    retry_after: float | None = None  # seconds to wait, when the cause said (Retry-After)
    answer_body: dict | None = None  # answered instead of the sentence (a form with errors)

    def __init__(self, public_message: str | None = None, *, status: int | None = None,
                 code: str | None = None, retry_after: float | None = None):
        if public_message is not None:
            self.public_message = public_message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.public_message)


class BadRequest(BridgeError):
    status = 400
    code = "bad_request"
    public_message = "The request is not valid."

