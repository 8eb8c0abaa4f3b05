"""File names from Asana made safe for Jira: printable, no path, bounded, extension kept.

An Asana user names a file as they like; Jira stores the name, shows it in pages and mail,
and hands it to browsers and disks on download. So a name that reaches Jira has no control
or format characters (NUL, ESC, a right-to-left override that makes ``gpj.exe`` read as
``exe.jpg``, zero-width marks), no path (``../``, ``\\``, a leading dot), and at most
``MAX_CHARS`` characters and ``MAX_BYTES`` UTF-8 bytes (common file systems take 255),
cut in the stem so the extension, which decides how the file opens, survives.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 180
MAX_BYTES = 240
FALLBACK = "file"
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,12}\Z")
_UNSAFE = set('/\\:*?"<>|')


def safe_file_name(name: str | None) -> str:
    """``name`` as Jira may store it (see the module docstring)."""
    text = unicodedata.normalize("NFC", str(name or ""))
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            kept.append(" " if ch in "\t\n\r" else "")  # control, format, unassigned
        elif ch in _UNSAFE:
            kept.append("_")
        elif category == "Zs":
            kept.append(" ")
        else:
            kept.append(ch)
    text = " ".join("".join(kept).split())
    text = re.sub(r"\.{2,}", ".", text)
    text = text.lstrip(". ").rstrip(". ")  # no hidden file, no "..", no trailing dot
    stem, dot, extension = text.rpartition(".")
    if dot and stem and _EXTENSION.match("." + extension):
        extension = "." + extension
    else:
        stem, extension = text, ""
    stem = stem.rstrip(". ") or FALLBACK
    room = MAX_CHARS - len(extension)
    stem = stem[:room]
    while len((stem + extension).encode("utf-8")) > MAX_BYTES:
        stem = stem[:-1]
    return (stem.rstrip(". ") or FALLBACK) + extension
