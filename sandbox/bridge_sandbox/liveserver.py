"""Run a WSGI app on a free loopback port in a background thread.

Tests, the demo and benchmarks use this to put real HTTP between the bridge and the
simulators. Only loopback addresses are ever bound.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time

from werkzeug.serving import WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    """Lets the app's own ``Date`` header stand: a simulator's clock may be skewed on
    purpose, and a real server sends one Date header, not two."""

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def send_header(self, keyword, value):
        if keyword.lower() == "date":
            if getattr(self, "_date_sent", False):
                return
            self._date_sent = True
        super().send_header(keyword, value)

    def end_headers(self):
        if not getattr(self, "_date_sent", False):
            super().send_header("Date", self.date_time_string())
        self._date_sent = False
        super().end_headers()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: the only ones simulators bind."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LiveServer:
    """A threaded werkzeug server bound to ``host`` on an OS-chosen free port.

    ``url`` is known as soon as the object exists, so an app that must know its own
    base URL (a simulator whose OAuth base string uses it) can be configured before
    :meth:`start`.
    """

    def __init__(self, app=None, host: str = "127.0.0.1", port: int = 0, ssl_context=None):
        if not is_loopback(host):
            raise ValueError("LiveServer binds loopback addresses only")
        self._app = app
        self._dispatch = _Dispatch(app)
        # Bound here rather than by werkzeug, which answers a busy port by printing to
        # stderr and exiting the process: a caller gets the OSError instead.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
            sock.listen(128)
            # werkzeug keeps a duplicate of the descriptor; this one closes on leaving.
            self._server = make_server(host, port, self._dispatch, threaded=True,
                                       request_handler=_Handler, ssl_context=ssl_context,
                                       fd=sock.fileno())
        self.scheme = "https" if ssl_context is not None else "http"
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    @property
    def app(self):
        return self._dispatch.app

    @app.setter
    def app(self, value):
        self._dispatch.app = value

    def start(self) -> LiveServer:
        # A short poll interval: stop() returns within 0.1 s (the demo must stop within
        # seconds of SIGTERM), at no measurable cost.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"liveserver-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (also when never started: the port
        is bound from the start, and ``shutdown`` alone would wait forever)."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being served (True), or ``timeout`` seconds (False).
        Tests call it before closing a database an unfinished request may still use."""
        return self._dispatch.wait_idle(timeout)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Dispatch:
    """Indirection so the served app can be set after the port is bound; tracks the
    requests in flight, so a test can let them finish before it closes what they use.

    A request counts while its server thread is alive and its body is not closed: a
    body the server never closes (a dropped connection at the wrong moment) must not
    make every later wait last its whole timeout, as a bare counter did."""

    def __init__(self, app):
        self.app = app
        self._threads: set[threading.Thread] = set()
        self._idle = threading.Condition()

    @property
    def active(self) -> int:
        with self._idle:
            return len(self._alive())

    def __call__(self, environ, start_response):
        app = self.app
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app mounted yet"]
        thread = threading.current_thread()
        with self._idle:
            self._threads.add(thread)
        done = functools.partial(self._done, thread)
        try:
            body = app(environ, start_response)
        except BaseException:
            done()
            raise
        return _Closing(body, done)

    def _alive(self) -> set[threading.Thread]:
        self._threads = {thread for thread in self._threads if thread.is_alive()}
        return self._threads

    def _done(self, thread: threading.Thread) -> None:
        with self._idle:
            self._threads.discard(thread)
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))  # a thread may end without closing
            return True


class _Closing:
    """A response body that reports when the server has finished with it."""

    def __init__(self, body, done):
        self._body, self._done = body, done

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()
