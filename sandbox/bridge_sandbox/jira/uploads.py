"""Attachment uploads written straight to disk while the multipart body is parsed.

The bridge streams files of up to a gigabyte through ``POST /issue/{key}/attachments``;
werkzeug's parser hands each file part to the stream that :class:`SimRequest` makes, so
no file is ever held whole in memory.  The stream counts bytes and hashes them, and stops
writing past Jira's upload limit (the request is then refused with 404, reference
jira-server.md §3.9), so an oversize upload costs no disk either.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from flask import Request, current_app


class UploadStream:
    """A write-then-read file for one multipart file part."""

    def __init__(self, directory: str, limit: int):
        fd, self.path = tempfile.mkstemp(dir=directory, prefix="upload-")
        self._file = os.fdopen(fd, "w+b")
        self.limit = limit
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._kept = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size <= self.limit:
            self._file.write(data)
            self.sha256.update(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if not self._kept and os.path.exists(self.path):
            os.unlink(self.path)

    def keep(self) -> str:
        """Keep the file after the request (it becomes the attachment's content)."""
        self._kept = True
        self._file.close()
        return self.path

    def discard(self) -> None:
        self._kept = False
        self.close()

    def __getattr__(self, name):  # readable()/seekable()/... for werkzeug's FileStorage
        return getattr(self._file, name)


class SimRequest(Request):
    """Jira simulator requests: attachment file parts go to an :class:`UploadStream`."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        if self.path.endswith("/attachments"):
            st = current_app.extensions["jira_sim"]
            return UploadStream(st.attachment_dir(), int(st.settings["upload_limit"]))
        return super()._get_file_stream(total_content_length, content_type, filename,
                                        content_length)
