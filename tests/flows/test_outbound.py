"""The outbound guards against a hostile or broken server (issue 11 §2, §3, §4).

Each server here is a raw socket server on loopback that misbehaves on purpose: drips
headers or a body a byte at a time, sends more than any answer should be, or a gzip bomb.
The rebinding test resolves a name to loopback first and to the metadata address next;
every connect is recorded, and nothing but loopback is ever dialled.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time

import pytest
import requests

from bridge import outbound
from bridge.outbound import DeadlineExceeded, ForbiddenAddress, GuardedSession, ResponseTooLarge

from .hostile import RawServer, drip_body, drip_headers


@pytest.fixture
def serve():
    servers = []

    def start(handle):
        server = RawServer(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_body_dripped_a_byte_at_a_time_is_cut_at_the_deadline(serve):
    server = serve(drip_body)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        GuardedSession().get(server.url, timeout=2.0, deadline=1.0)
    assert time.monotonic() - started < 2.0  # each read is well under the 2 s timeout


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_deadline(serve):
    server = serve(drip_headers)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        GuardedSession().get(server.url, timeout=2.0, deadline=1.0)
    assert time.monotonic() - started < 2.0


def test_the_deadline_defaults_to_the_timeout(serve):
    server = serve(drip_body)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        GuardedSession().get(server.url, timeout=(0.5, 1.0))
    assert time.monotonic() - started < 2.0


def test_slow_servers_do_not_hold_threads_past_the_deadline(serve):
    """Eight slow calls at once (the probe starved every thread with these) end together."""
    server = serve(drip_body)
    session = GuardedSession()
    errors = []

    def call():
        try:
            session.get(server.url, timeout=3.0, deadline=1.0)
        except DeadlineExceeded as exc:
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 8
    assert time.monotonic() - started < 2.5


def big_body(with_length: bool, size: int = 20 * 1024 * 1024):
    def handle(conn, stopped):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n".encode() if with_length else \
            b"Connection: close\r\n"
        conn.sendall(head + b"\r\n")
        block = b"[" * 65536
        for _ in range(size // len(block)):
            if stopped.is_set():
                return
            conn.sendall(block)

    return handle


@pytest.mark.parametrize("with_length", [True, False])
def test_an_answer_larger_than_the_cap_is_refused(serve, with_length):
    server = serve(big_body(with_length))
    with pytest.raises(ResponseTooLarge):
        GuardedSession().get(server.url, timeout=5, max_bytes=1024 * 1024)


def test_a_gzip_bomb_counts_as_what_it_expands_to(serve):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)

    def handle(conn, stopped):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                     + f"Content-Length: {len(bomb)}\r\n\r\n".encode() + bomb)

    server = serve(handle)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ResponseTooLarge):
        GuardedSession().get(server.url, timeout=5, max_bytes=1024 * 1024)


def test_a_stream_is_counted_as_the_caller_reads_it(serve):
    server = serve(big_body(False, size=4 * 1024 * 1024))
    response = GuardedSession().get(server.url, timeout=5, stream=True, max_bytes=100_000)
    with pytest.raises(ResponseTooLarge):
        for _ in response.iter_content(8192):
            pass


def ok(conn, stopped):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')


def test_normal_answers_pass_and_pooled_connections_outlive_their_first_deadline():
    from bridge_sandbox.liveserver import LiveServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", "11")])
        return [b'{"ok":true}']

    session = GuardedSession()
    with LiveServer(app) as server:
        assert session.get(server.url, timeout=2, deadline=0.3).json() == {"ok": True}
        time.sleep(0.6)  # past the first call's deadline: its socket must stay usable
        assert session.get(server.url, timeout=2, deadline=0.3).json() == {"ok": True}
        streamed = session.get(server.url, timeout=2, stream=True)
        assert b"".join(streamed.iter_content(4)) == b'{"ok":true}'


def test_a_call_wakes_the_watchdog_only_when_its_deadline_comes_first(serve, monkeypatch):
    """Waking the watchdog thread is a thread switch on every call to Jira (issue 18 §8):
    calls with the same timeout, one after another, wake it once. A call whose deadline
    comes sooner than every pending one wakes it, and is cut at that deadline."""
    watchdog = outbound._Watchdog()
    monkeypatch.setattr(outbound, "_watchdog", watchdog)
    wakes = []
    real_notify = watchdog._cond.notify
    watchdog._cond.notify = lambda *a: wakes.append(1) or real_notify(*a)
    from bridge_sandbox.liveserver import LiveServer

    def app(environ, start_response):  # reads the request, unlike a raw server: no reset
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", "2")])
        return [b"{}"]

    session = GuardedSession()
    with LiveServer(app) as fine:
        for _ in range(5):
            assert session.get(fine.url, timeout=5).json() == {}
    assert len(wakes) == 1
    slow = serve(drip_body)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        session.get(slow.url, timeout=5, deadline=0.5)
    assert len(wakes) == 2
    assert time.monotonic() - started < 1.5


@pytest.fixture
def dialled(monkeypatch):
    """Every address a socket connects to; anything but loopback is refused outright."""
    seen = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        seen.append(address[0])
        if address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"the test tried to dial {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_dns_rebinding_to_the_metadata_address_is_refused_before_dialling(serve, monkeypatch,
                                                                           dialled):
    from bridge.jira.urls import check_resolved

    server = serve(ok)
    answers = iter(["127.0.0.1", "169.254.169.254", "169.254.169.254"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "jira.rebind.test":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    check_resolved(f"http://jira.rebind.test:{server.port}")  # probe time: loopback, fine
    with pytest.raises(ForbiddenAddress) as caught:
        GuardedSession().get(f"http://jira.rebind.test:{server.port}/rest/api/2/myself",
                             timeout=2)
    assert "metadata" in caught.value.reason
    assert "169.254.169.254" not in dialled


def test_a_connection_is_made_to_the_address_that_was_checked(serve, monkeypatch, dialled):
    """The name is resolved once per connection: no second lookup between check and
    connect that an attacker's DNS could answer differently."""
    server = serve(ok)
    lookups = []
    real = socket.getaddrinfo

    def counting(host, port, *args, **kwargs):
        if host == "jira.once.test":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    response = GuardedSession().get(f"http://jira.once.test:{server.port}/", timeout=2)
    assert response.status_code == 200
    assert lookups == ["jira.once.test"]
    assert dialled == ["127.0.0.1"]


def test_sessions_ignore_the_environment(monkeypatch, tmp_path):
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login u password leaked-pw\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    session = GuardedSession()
    assert session.trust_env is False
    prepared = session.prepare_request(requests.Request("GET", "http://127.0.0.1:1/"))
    assert "Authorization" not in prepared.headers
    assert outbound.DEFAULT_MAX_BYTES >= 1024 * 1024
