"""Outbound HTTP to Jira and Asana: pooled sessions that bound every call.

Every call the bridge makes goes through a ``GuardedSession``, so no endpoint can forget a
guard: a total deadline (a slow server cannot hold a thread), a size cap on answers (no
gzip bomb grows the worker), the connected address checked (``netaddr``; DNS rebinding is
refused before a packet leaves), nothing read from the environment and no retries (an OAuth
1.0a nonce must not be replayed). Why each guard is built as it is: docs/outbound-http.md.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import socket
import threading
import time
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from . import trust
from .netaddr import address_problem

DEFAULT_DEADLINE = 30.0  # seconds, when a call gives neither deadline nor timeout
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # a JSON or form answer larger than this is refused
_CHUNK = 64 * 1024


class DeadlineExceeded(requests.Timeout):
    """The call as a whole took longer than its deadline."""


class ResponseTooLarge(requests.ConnectionError):
    """The answer is larger than the cap for it; the connection was dropped."""

    def __init__(self, limit: int):
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


class ForbiddenAddress(requests.ConnectionError):
    """The host resolves to an address the bridge never calls (metadata, link-local)."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"{address}: {reason}")
        self.address = address
        self.reason = reason


class _Refused(Exception):
    """Raised inside urllib3 (which would wrap an OSError and lose the reason)."""


# -- the watchdog: one thread, a heap of deadlines -----------------------------------------


class _Call:
    """One outbound call: its deadline and the sockets it uses."""

    __slots__ = ("deadline", "sockets", "expired", "done", "check", "__weakref__")

    def __init__(self, deadline: float, check: Callable[[object], str | None]):
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.done = False
        self.check = check


class _Watchdog:
    def __init__(self):
        self._heap: list[tuple[float, int, _Call]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = None

    def watch(self, call: _Call) -> None:
        import os

        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # a forked worker needs its own thread
                self._heap = []
                self._thread = threading.Thread(target=self._run, name="outbound-watchdog",
                                                daemon=True)
                self._thread.start()
            # The thread sleeps until the earliest deadline in its heap (finished calls
            # included: it drops them when it wakes). Waking it costs a thread switch on
            # every call to Jira; it is needed only when this deadline comes sooner.
            if not self._heap or call.deadline < self._heap[0][0]:
                self._cond.notify()
            heapq.heappush(self._heap, (call.deadline, next(self._counter), call))

    def add_socket(self, call: _Call, sock: socket.socket) -> None:
        with self._cond:
            if call.expired:
                _shut(sock)
            elif not call.done:
                call.sockets.append(sock)

    def finish(self, call: _Call) -> None:
        with self._cond:
            call.done = True
            call.sockets.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, call = heapq.heappop(self._heap)
                call.expired = True
                for sock in call.sockets:
                    _shut(sock)
                call.sockets.clear()


def _shut(sock: socket.socket) -> None:
    """Wake whatever thread is blocked on ``sock``: its read returns at once."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


_watchdog = _Watchdog()
_current = threading.local()


# -- connections that check their address and report their socket -------------------------


class _GuardMixin:
    def _new_conn(self):
        call: _Call | None = getattr(_current, "call", None)
        check = call.check if call is not None else _default_check
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, 0, socket.SOCK_STREAM)
        except socket.gaierror:
            return super()._new_conn()  # urllib3 reports the resolver's failure
        addresses = []
        for info in infos:
            address = info[4][0]
            problem = check(ipaddress.ip_address(address.split("%")[0]))
            if problem:
                raise _Refused(address, problem)
            if address not in addresses:
                addresses.append(address)
        name = self._dns_host
        last: Exception | None = None
        for address in addresses:
            self._dns_host = address  # connect to the very address just checked
            try:
                sock = super()._new_conn()
            except NewConnectionError as exc:
                last = exc
                continue
            finally:
                self._dns_host = name
            peer = sock.getpeername()[0]
            problem = check(ipaddress.ip_address(peer.split("%")[0]))
            if problem:
                sock.close()
                raise _Refused(peer, problem)
            if call is not None:
                _watchdog.add_socket(call, sock)
            return sock
        raise last or NewConnectionError(self, "no address to connect to")

    def request(self, *args, **kwargs):
        call: _Call | None = getattr(_current, "call", None)
        if call is not None and self.sock is not None:  # a pooled connection, reused
            _watchdog.add_socket(call, self.sock)
        return super().request(*args, **kwargs)


def _default_check(ip) -> str | None:
    return address_problem(ip)


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool,
                                                   "https": _GuardedHTTPSPool}


# -- the session --------------------------------------------------------------------------


class GuardedSession(requests.Session):
    """A pooled session whose every request has a total deadline, a size cap and an
    address check. Extra keyword arguments of ``request``:

    ``deadline``   seconds for the whole call (default: the largest ``timeout`` value);
                   for ``stream=True`` it runs until the stream is read or closed.
    ``max_bytes``  the largest answer accepted (default ``DEFAULT_MAX_BYTES``).
    """

    def __init__(self, *, pool_maxsize: int = 32, user_agent: str = "asana-jira-bridge",
                 address_check: Callable[[object], str | None] = address_problem,
                 purpose: str | None = None):
        super().__init__()
        self.purpose = purpose  # "jira" or "asana": which CA bundle verifies its servers
        self.trust_env = False
        self.headers["User-Agent"] = user_agent
        self.address_check = address_check
        adapter = _GuardedAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, *args, deadline: float | None = None,
                max_bytes: int | None = None, **kwargs):
        stream = bool(kwargs.get("stream"))
        kwargs["stream"] = True
        kwargs["verify"] = trust.verify_for(self.purpose)  # never False, whoever asks
        limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        call = _Call(time.monotonic() + _deadline(deadline, kwargs.get("timeout")),
                     self.address_check)
        _watchdog.watch(call)
        outer = getattr(_current, "call", None)
        _current.call = call
        handed_over = False
        try:
            try:
                response = super().request(method, url, *args, **kwargs)
            except _Refused as exc:
                raise ForbiddenAddress(*exc.args) from None
            except requests.RequestException:
                if call.expired:
                    raise DeadlineExceeded("the call took longer than its deadline") from None
                raise
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                response.close()
                raise ResponseTooLarge(limit)
            if stream:
                _count_stream(response, limit, call)
                handed_over = True
                return response
            _read_capped(response, limit, call)
            return response
        finally:
            _current.call = outer
            if not handed_over:
                _watchdog.finish(call)


def _deadline(deadline: float | None, timeout) -> float:
    if deadline is not None:
        return float(deadline)
    if isinstance(timeout, tuple):
        values = [t for t in timeout if t is not None]
        return float(max(values)) if values else DEFAULT_DEADLINE
    return float(timeout) if timeout is not None else DEFAULT_DEADLINE


def _read_capped(response: requests.Response, limit: int, call: _Call) -> None:
    """Read the body in chunks, counting decoded bytes; stop past ``limit``."""
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            total += len(chunk)
            if total > limit:
                response.close()
                raise ResponseTooLarge(limit)
            chunks.append(chunk)
    except ResponseTooLarge:
        raise
    except requests.RequestException:
        response.close()
        if call.expired:
            raise DeadlineExceeded("the call took longer than its deadline") from None
        raise
    if call.expired:  # a body without a length ends at the shutdown: not a whole answer
        response.close()
        raise DeadlineExceeded("the call took longer than its deadline")
    response._content = b"".join(chunks)
    response._content_consumed = True


def _count_stream(response: requests.Response, limit: int, call: _Call) -> None:
    """Make the response's own stream count what the caller reads, and end the call's
    deadline when the stream is read to its end or closed."""
    raw = response.raw
    original_stream = raw.stream
    original_close = response.close

    def stream(amt=_CHUNK, decode_content=None):
        total = 0
        try:
            for chunk in original_stream(amt, decode_content=decode_content):
                total += len(chunk)
                if total > limit:
                    original_close()
                    raise ResponseTooLarge(limit)
                yield chunk
            if call.expired:
                raise DeadlineExceeded("the call took longer than its deadline")
        except (ResponseTooLarge, DeadlineExceeded):
            raise
        except Exception:
            if call.expired:
                raise DeadlineExceeded("the call took longer than its deadline") from None
            raise
        finally:
            _watchdog.finish(call)

    def close():
        _watchdog.finish(call)
        original_close()

    raw.stream = stream
    response.close = close
