"""Run a WSGI app on a free loopback port in a background thread.

Tests, the demo and benchmarks use this to put real HTTP between the bridge and the
simulators. Only loopback addresses are ever bound.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import socket
import threading
import time
import traceback

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler, make_server

# Tomcat's HTTP/1.1 connector, as Jira ships it (server.xml): connections stay open for
# ``keepAliveTimeout`` (= ``connectionTimeout``, 20 s) idle and ``maxKeepAliveRequests``
# (100) requests; a body the application left unread is swallowed up to ``maxSwallowSize``
# (2 MiB) so the next request starts where it should, else the connection closes.
IDLE_TIMEOUT = 20.0
MAX_REQUESTS = 100
SWALLOW_LIMIT = 2 * 1024 * 1024


class _Handler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, which werkzeug's own handler refuses (it closes every
    connection): a simulator must let a client reuse its connections as Jira and Asana
    do, or the bridge's pooled sessions are never exercised. Also lets the app's own
    ``Date`` header stand: a simulator's clock may be skewed on purpose, and a real
    server sends one Date header, not two."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm the body would wait
    # for the client's delayed ACK (40 ms) on every answer but a connection's first.
    # Tomcat sets TCP_NODELAY too (``tcpNoDelay``, true by default).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.served = 0
        self.server.keep_alive.opened()
        self.connection.settimeout(self.server.keep_alive.idle_timeout)

    def handle_one_request(self):
        keep = self.server.keep_alive
        self.close_connection = True
        if not keep.idle(self.connection):  # the server is stopping
            return
        try:
            line = self.rfile.readline(65537)
        except (TimeoutError, OSError):  # idle too long, or woken by LiveServer.stop
            line = b""
        finally:
            keep.busy(self.connection)
        if not line:
            return
        self.raw_requestline = line
        if len(line) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # it answered the error itself
            return
        self.served += 1
        if (self.request_version != "HTTP/1.1" or self.served >= keep.max_requests
                or keep.closing):
            self.close_connection = True
        try:
            self.run_wsgi()
            self.wfile.flush()
        except OSError:  # the client went away (ssl.SSLError is one too)
            self.close_connection = True

    def run_wsgi(self):
        if self.headers.get("Expect", "").strip(" \t").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = _Body.wrap(environ, self.headers)
        if body is None:  # a body whose end cannot be found: read to the close
            self.close_connection = True
        response = _Response(self, environ, body)
        try:
            answer = self.server.app(environ, response.start)
            try:
                for data in answer:
                    response.write(data)
                response.end()
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            self.log_error("Error on request %r:\n%s", self.requestline,
                           traceback.format_exc())
            if response.sent:
                self.close_connection = True  # the framing is broken mid-answer
                return
            response = _Response(self, environ, body)
            answer = InternalServerError()(environ, response.start)
            for data in answer:
                response.write(data)
            response.end()
        if body is None or body.left > SWALLOW_LIMIT or not body.swallow():
            self.close_connection = True
            self._linger()

    def _linger(self) -> None:
        """Read what the client is still sending before closing, so it reads the answer
        (a 413, say) rather than a reset; bounded in time."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.rfile.read1(65536):
                pass
        except (OSError, ValueError):
            pass

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


class _Response:
    """One answer on a kept-alive connection: its framing (Content-Length, else chunked),
    and ``Connection: close`` when this one is the connection's last."""

    def __init__(self, handler: _Handler, environ, body: _Body | None):
        self._handler, self._environ, self._body = handler, environ, body
        self._status: str | None = None
        self._headers: list = []
        self.sent = False
        self._chunked = False

    def start(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("start_response called twice")
        self._status, self._headers = status, list(headers)
        return self.write

    def _send_headers(self) -> None:
        handler = self._handler
        assert self._status is not None, "write() before start_response"
        code_text, _, message = self._status.partition(" ")
        code = int(code_text)
        names = set()
        handler.send_response(code, message)
        for name, value in self._headers:
            if name.lower() == "connection":  # hop-by-hop: ours to send
                if "close" in value.lower():
                    handler.close_connection = True
                continue
            handler.send_header(name, value)
            names.add(name.lower())
        bodiless = (self._environ["REQUEST_METHOD"] == "HEAD" or code < 200
                    or code in (204, 304))
        if "content-length" not in names and not bodiless:
            if handler.request_version == "HTTP/1.1":
                self._chunked = True
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.close_connection = True  # the close ends the body
        if self._body is not None and self._body.left > SWALLOW_LIMIT:
            handler.close_connection = True
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        self.sent = True

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes), "applications must write bytes"
        if not self.sent:
            self._send_headers()
        if not data or self._environ["REQUEST_METHOD"] == "HEAD":
            return
        out = self._handler.wfile
        if self._chunked:
            out.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            out.write(data)

    def end(self) -> None:
        if not self.sent:
            self._send_headers()
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")


class _Body(io.RawIOBase):
    """A request body read no further than its own end (Content-Length, or the last
    chunk), so that what follows it on the connection is left for the next request."""

    def __init__(self, raw, length: int | None):
        self._raw = raw
        self.left = length if length is not None else 0  # unknown (chunked): 0
        self._chunked = length is None
        self.finished = length == 0

    @classmethod
    def wrap(cls, environ, headers) -> _Body | None:
        """Replace ``wsgi.input`` with a framed body; None when there is no way to tell
        where the body ends (a transfer coding other than chunked, a bad length)."""
        coding = headers.get("Transfer-Encoding")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                return None
            body = cls(environ["wsgi.input"], None)  # werkzeug's DechunkedInput
            environ["wsgi.input"] = body
            return body
        length = headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            return None
        body = cls(environ["wsgi.input"], int(length))
        environ["wsgi.input"] = body
        return body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.finished:
            return 0
        view = memoryview(buffer)
        if not self._chunked:
            view = view[:self.left]
        count = self._raw.readinto(view)
        if not count:
            if self._chunked:
                self.finished = True
            return 0
        if not self._chunked:
            self.left -= count
            self.finished = self.left == 0
        return count

    def swallow(self) -> bool:
        """Read and drop what the application left unread, up to ``SWALLOW_LIMIT``: True
        when the body ended there (the connection may serve another request). Bounded
        in time by the connection's timeout, as the application's own reads are."""
        swallowed = 0
        try:
            while not self.finished and swallowed <= SWALLOW_LIMIT:
                data = self.read(65536)
                if not data:
                    return self.finished
                swallowed += len(data)
        except (OSError, ValueError):
            return False
        return self.finished


class _KeepAlive:
    """The server's open connections that wait for a request, so that stopping the
    server wakes them at once instead of after their idle timeout; a connection busy
    with a request closes after answering it."""

    def __init__(self, idle_timeout: float, max_requests: int):
        self.idle_timeout, self.max_requests = idle_timeout, max_requests
        self.closing = False
        self._idle: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.accepted = 0

    def opened(self) -> None:
        with self._lock:
            self.accepted += 1

    def idle(self, sock: socket.socket) -> bool:
        with self._lock:
            if self.closing:
                return False
            self._idle.add(sock)
            return True

    def busy(self, sock: socket.socket) -> None:
        with self._lock:
            self._idle.discard(sock)

    def close(self) -> None:
        with self._lock:
            self.closing = True
            idle, self._idle = self._idle, set()
        for sock in idle:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


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
    :meth:`start`. Connections are kept alive as Jira's Tomcat keeps them (and Asana's
    front ends): ``idle_timeout`` seconds idle, ``max_requests`` requests each.
    """

    def __init__(self, app=None, host: str = "127.0.0.1", port: int = 0, ssl_context=None,
                 idle_timeout: float = IDLE_TIMEOUT, max_requests: int = MAX_REQUESTS):
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
        self._keep_alive = self._server.keep_alive = _KeepAlive(idle_timeout, max_requests)
        self.scheme = "https" if ssl_context is not None else "http"
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far (the bench checks its clients reuse theirs)."""
        return self._keep_alive.accepted

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
        is bound from the start, and ``shutdown`` alone would wait forever). Kept-alive
        connections close too: idle ones at once, one busy with a request after answering
        it. Their threads are daemons nobody joins, so left open they would go on serving
        a stopped server's app (a test's "Jira is down" would not be down for a client
        with a pooled connection)."""
        if self._thread is not None:
            self._server.shutdown()
        self._keep_alive.close()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve(self) -> None:
        """Serve in this thread until Ctrl-C (the standalone simulators' commands)."""
        try:
            self._server.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            self._keep_alive.close()
            self._server.server_close()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being served (True), or ``timeout`` seconds (False).
        Tests call it before closing a database an unfinished request may still use."""
        return self._dispatch.wait_idle(timeout)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_or_explain(app, host: str, port: int) -> None:
    """Serve ``app`` until interrupted, for a command line: a port that cannot be bound is
    a sentence (click's error), not a traceback."""
    import click

    try:
        server = LiveServer(app, host=host, port=port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.serve()


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
