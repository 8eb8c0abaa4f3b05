"""Servers that misbehave on purpose, on loopback: a Jira (or anything) that drips its
answer a byte at a time, or sends more than any answer should be. Raw sockets, so the
misbehaviour is exactly what the test says, not what a framework allows."""

from __future__ import annotations

import socket
import threading


class RawServer:
    """Accepts connections on loopback and hands each to ``handle(conn)`` in a thread."""

    def __init__(self, handle):
        self.handle = handle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(65536)
            self.handle(conn, self.stopped)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()


def drip_body(conn, stopped):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n")
    for _ in range(100):
        if stopped.wait(0.25):
            return
        conn.sendall(b" ")


def drip_headers(conn, stopped):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(200):
        if stopped.wait(0.25):
            return
        conn.sendall(b"X")
