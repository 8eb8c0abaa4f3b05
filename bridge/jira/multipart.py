"""A ``multipart/form-data`` body with one file part, streamed from an iterator of chunks.

Jira's attachment endpoint takes the file in a part named ``file`` (jira-server.md §3.9).
The body is produced while it is sent, a chunk at a time, so a 1 GB file never sits in
memory; its length is known in advance (``len``), so requests sends ``Content-Length``
rather than chunked encoding, which some proxies in front of Jira refuse.

If the source yields fewer or more bytes than announced, ``read`` raises
``SourceSizeMismatch``: the request is cut short, so Jira stores nothing, and the copy
is retried from a fresh download. ``on_complete`` runs once the whole file is handed
out, before the closing boundary: from then on Jira may store it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator


class SourceSizeMismatch(IOError):
    """The download ended before (or after) the announced size."""


def _quote(filename: str) -> str:
    # What browsers send (RFC 7578 §4.2, WHATWG): UTF-8, with ", CR and LF percent-encoded.
    return (filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D")
            .replace("\n", "%0A"))


class MultipartFile:
    """File-like body: ``read(n)`` gives the next bytes; ``len`` is the total length."""

    def __init__(self, filename: str, content_type: str, chunks: Iterable[bytes], size: int,
                 on_progress: Callable[[int], None] | None = None,
                 on_complete: Callable[[], None] | None = None):
        boundary = "bridge" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = (f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{_quote(filename)}"'
                f"\r\nContent-Type: {content_type or 'application/octet-stream'}\r\n\r\n"
                ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode("ascii")
        self.size = size
        self.len = len(head) + size + len(tail)
        self.sent = 0  # bytes of the file itself handed out so far
        self._on_progress = on_progress
        self._on_complete = on_complete
        self._parts = self._generate(head, iter(chunks), tail)
        self._buffer = b""

    def __len__(self) -> int:
        return self.len

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.read(64 * 1024)
            if not block:
                return
            yield block

    def _generate(self, head: bytes, chunks: Iterator[bytes], tail: bytes) -> Iterator[bytes]:
        yield head
        for chunk in chunks:
            if not chunk:
                continue
            self.sent += len(chunk)
            if self.sent > self.size:
                raise SourceSizeMismatch(f"the file is larger than the announced {self.size} "
                                         "bytes")
            if self._on_progress is not None:
                self._on_progress(self.sent)
            yield chunk
        if self.sent != self.size:
            raise SourceSizeMismatch(f"the download ended after {self.sent} of {self.size} "
                                     "bytes")
        if self._on_complete is not None:
            # Before the closing boundary: until it is sent Jira can store nothing, so an
            # exception here still cuts the request short.
            self._on_complete()
        yield tail

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("MultipartFile is read in blocks, never whole")
        while len(self._buffer) < size:
            try:
                self._buffer += next(self._parts)
            except StopIteration:
                break
        block, self._buffer = self._buffer[:size], self._buffer[size:]
        return block
