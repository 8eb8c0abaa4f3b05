"""The simulators' server keeps HTTP/1.1 connections alive as Jira's Tomcat does (idle
timeout, a cap on requests per connection, ``Connection: close`` honoured), without a
body left unread spoiling the next request, and without slowing a test's teardown."""

from __future__ import annotations

import http.client
import socket
import time

import pytest
from bridge_sandbox.jira import create_jira_simulator
from bridge_sandbox.liveserver import SWALLOW_LIMIT, LiveServer
from flask import Flask, request


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/who")
    def who():
        return {"port": request.environ["REMOTE_PORT"]}

    @app.post("/ignore")
    def ignore():
        return {"ignored": True}  # the body is never read

    @app.post("/echo")
    def echo():
        return {"length": len(request.get_data())}

    @app.get("/nodelay")
    def nodelay():
        sock = request.environ["werkzeug.socket"]
        return {"nodelay": bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))}

    @app.get("/stream")
    def stream():
        return (part for part in (b"one,", b"two"))  # no Content-Length: chunked

    return app


@pytest.fixture
def served():
    with LiveServer(_app()) as server:
        yield server


def _get(conn: http.client.HTTPConnection, path: str, **kwargs):
    conn.request("GET", path, **kwargs)
    response = conn.getresponse()
    return response, response.read()


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_second_request_is_served_on_the_same_connection(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    first, body = _get(conn, "/who")
    sock = conn.sock
    second, again = _get(conn, "/who")
    assert first.version == 11 and first.getheader("Connection") is None
    assert conn.sock is sock and body == again  # one client port: one connection
    streamed, text = _get(conn, "/stream")
    assert streamed.getheader("Transfer-Encoding") == "chunked" and text == b"one,two"
    assert _get(conn, "/who")[1] == body
    assert served.connections == 1
    conn.close()


def test_answers_are_not_held_back_by_nagles_algorithm(served):
    """Headers and body are two writes: on a kept-alive connection, Nagle's algorithm
    would hold the body until the client's delayed ACK, 40 ms per answer."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    assert _get(conn, "/nodelay")[1] == b'{"nodelay":true}\n'
    conn.close()


def test_the_connection_closes_after_the_idle_timeout():
    with LiveServer(_app(), idle_timeout=0.3) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        _get(conn, "/who")
        assert not _closed_by_server(conn.sock, within=0.1)
        assert _closed_by_server(conn.sock, within=2)


def test_the_connection_closes_after_the_request_cap():
    with LiveServer(_app(), max_requests=3) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        first, _ = _get(conn, "/who")
        sock = conn.sock
        second, _ = _get(conn, "/who")
        assert conn.sock is sock
        kept = sock.dup()  # http.client drops its own socket on "Connection: close"
        last, _ = _get(conn, "/who")
        assert first.getheader("Connection") is second.getheader("Connection") is None
        assert last.getheader("Connection") == "close"
        assert _closed_by_server(kept, within=2)
        kept.close()


def test_connection_close_from_the_client_is_honoured(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    _get(conn, "/who")
    kept = conn.sock.dup()  # http.client drops its own socket on "Connection: close"
    answer, _ = _get(conn, "/who", headers={"Connection": "close"})
    assert answer.getheader("Connection") == "close"
    assert _closed_by_server(kept, within=2)
    kept.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_left_unread_does_not_spoil_the_next_request(served, chunked):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    body = b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n" * 200  # a request line, were it read
    if chunked:
        conn.request("POST", "/ignore", body=iter([body[:3000], body[3000:]]),
                     encode_chunked=True)
    else:
        conn.request("POST", "/ignore", body=body)
    sock = conn.sock
    answer = conn.getresponse()
    assert answer.read() == b'{"ignored":true}\n'
    assert answer.getheader("Connection") is None
    echo = http.client.HTTPConnection("127.0.0.1", served.port)
    echo.sock = sock  # the same connection, kept by hand: http.client would reconnect
    echo.request("POST", "/echo", body=b"12345")
    response = echo.getresponse()
    assert (response.status, response.read()) == (200, b'{"length":5}\n')


def test_a_body_too_large_to_swallow_closes_the_connection_after_the_answer(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("POST", "/ignore", body=b"x" * (SWALLOW_LIMIT + 1))
    answer = conn.getresponse()
    assert answer.status == 200 and answer.getheader("Connection") == "close"
    assert answer.read() == b'{"ignored":true}\n'


def test_stopping_does_not_wait_for_idle_kept_alive_connections():
    """Closed at once, not after their idle timeout: a stopped simulator must not go on
    answering a client's pooled connection (a test's Jira outage would be none)."""
    server = LiveServer(_app()).start()  # idle timeout: 20 s
    conns = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
             for _ in range(3)]
    for conn in conns:
        _get(conn, "/who")
    never_used = socket.create_connection(("127.0.0.1", server.port))  # a preconnect
    assert server.wait_idle(timeout=1)  # an idle connection is no request in flight
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    assert all(_closed_by_server(conn.sock, within=1) for conn in conns)
    assert _closed_by_server(never_used, within=1)
    never_used.close()


def test_the_jira_simulator_keeps_a_clients_connection_alive():
    """As Tomcat does: the bridge's pooled session reuses one connection per Jira."""
    server = LiveServer()
    server.app = create_jira_simulator(base_url=server.url)
    with server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        answer, _ = _get(conn, "/rest/api/2/serverInfo")
        sock = conn.sock
        again, _ = _get(conn, "/rest/api/2/serverInfo")
        assert answer.status == again.status == 200
        assert again.getheader("Connection") is None and conn.sock is sock
        assert not _closed_by_server(sock, within=0.2)
        conn.close()
