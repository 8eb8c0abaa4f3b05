"""Latency, fault injection and Jira DC rate limiting (reference jira-server.md §3.11).

Rate limiting is off by default, like in Jira.  When configured
(``state.configure(rate_limit={"limit": 10, "interval_seconds": 1, "fill_rate": 5})``)
each authenticated user gets a token bucket holding at most ``limit`` tokens, refilled
with ``fill_rate`` tokens every ``interval_seconds``.  Limited responses carry the
``X-RateLimit-*`` headers and ``retry-after``; an empty bucket answers 429.
"""

from __future__ import annotations

import math
import socket
import time

from flask import Response, g, request

from bridge_sandbox.jira.webutil import error_json, state


def apply_faults() -> Response | None:
    """Configured latency, then the next queued fault matching this path, if any."""
    st = state()
    latency = float(st.settings.get("latency") or 0)
    if latency > 0:
        time.sleep(latency)
    fault = st.take_fault(request.path)
    if fault is None:
        return None
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return None
    if fault.kind == "hold":
        g.hold = fault  # honoured by the route once the body is read (rest.add_attachment)
        return None
    if fault.kind == "drop":
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(status=500)  # never reaches the client
    return error_json(fault.status, ["Simulated failure (fault injection)."])


def _rate_limited_call() -> bool:
    return g.user is not None and request.path.startswith("/rest/")


def rate_limit() -> Response | None:
    st = state()
    config = st.settings.get("rate_limit")
    if not config or not st.profile.has_rate_limiting or not _rate_limited_call():
        return None
    limit = int(config["limit"])
    interval = float(config.get("interval_seconds", 1))
    fill = float(config.get("fill_rate", limit))
    now = st.clock()
    with st.lock:
        tokens, last = st.buckets.get(g.user, (float(limit), now))
        tokens = min(float(limit), tokens + (now - last) / interval * fill)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        st.buckets[g.user] = (tokens, now)
    remaining = int(tokens)
    retry_after = 0 if allowed else math.ceil((1 - tokens) / fill * interval)
    g.rate_headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Interval-Seconds": str(int(interval)),
        "X-RateLimit-FillRate": str(int(fill)),
        "retry-after": str(retry_after),
    }
    if not allowed:
        resp = Response("Rate limit exceeded.", status=429, mimetype="text/plain")
        return resp
    return None


def add_rate_headers(resp: Response) -> Response:
    for k, v in getattr(g, "rate_headers", {}).items():
        resp.headers[k] = v
    return resp
