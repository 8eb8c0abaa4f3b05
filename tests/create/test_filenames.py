"""File names from Asana made safe for Jira (issue 16 §7)."""

import unicodedata

import pytest

from bridge.services.filenames import MAX_BYTES, MAX_CHARS, safe_file_name


@pytest.mark.parametrize("raw, safe", [
    ("report.pdf", "report.pdf"),
    ("report.final.docx", "report.final.docx"),
    ("a\x00b\x1b[31m.txt", "ab[31m.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override
    ("zero\u200bwidth.txt", "zerowidth.txt"),
    ("../../etc/passwd", "_._etc_passwd"),
    ("..\\..\\boot.ini", "_._boot.ini"),
    (".bashrc", "bashrc"),
    ("line\nbreak\r\tname.txt", "line break name.txt"),
    ("", "file"),
    ("...", "file"),
    ("\x00\x01.png", "png"),
    ("name.", "name"),
])
def test_names(raw, safe):
    assert safe_file_name(raw) == safe


def test_a_long_name_is_cut_in_the_stem_and_keeps_its_extension():
    name = safe_file_name("x" * 5000 + ".pdf")
    assert name.endswith("xxx.pdf") and len(name) == MAX_CHARS
    wide = safe_file_name("é" * 5000 + ".png")
    assert wide.endswith(".png") and len(wide.encode("utf-8")) <= MAX_BYTES


@pytest.mark.parametrize("raw", ["a\x00b", "\u202e" * 3 + "x", "x" * 5000, "../" * 900,
                                 "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07.txt"])
def test_every_result_is_printable_bounded_and_has_no_path(raw):
    name = safe_file_name(raw)
    assert name and len(name) <= MAX_CHARS and len(name.encode()) <= MAX_BYTES
    assert all(unicodedata.category(c)[0] != "C" for c in name)
    assert "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".")
