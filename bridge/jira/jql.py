"""Building JQL from user text so that no input can change the query's meaning.

Reference: jira-server.md §3.4 ("quote and escape user input"). Two layers read a text
search: JQL (operators, keywords, quotes) and, inside ``text ~ "..."``, Lucene (``+ - && ||
! ( ) { } [ ] ^ " ~ * ? : \\ /`` and the upper-case ``AND OR NOT``). Escaping for both layers
at once is fragile, so free text is reduced to its words (letters, digits, underscore, in
any script), lower-cased (Lucene's operators are upper-case words), and the result is
written as one JQL string literal with ``\\`` and ``"`` escaped. The search then means
"issues containing these words", whatever was typed. Issue keys go into JQL only after
``issue_refs.KEY`` accepted them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .issue_refs import KEY

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 20


def string(value: str) -> str:
    """A JQL string literal: double-quoted, backslash and double quote escaped, control
    characters dropped."""
    clean = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def words(text: str) -> list[str]:
    """The searchable words of ``text`` (see the module docstring), at most ``MAX_TERMS``."""
    return [w.lower() for w in _WORD.findall(text or "")][:MAX_TERMS]


def text_search(text: str) -> str | None:
    """``text ~ "<words>" ORDER BY updated DESC``, or ``None`` when nothing is searchable."""
    terms = words(text)
    if not terms:
        return None
    return f"text ~ {string(' '.join(terms))} ORDER BY updated DESC"


def keys_in(keys: Iterable[str]) -> str:
    """``issuekey in ("A-1", ...)`` for keys that are keys; refuses anything else."""
    checked = []
    for key in keys:
        if not KEY.match(key):
            raise ValueError(f"not an issue key: {key!r}")
        checked.append(string(key.upper()))
    if not checked:
        raise ValueError("no issue keys")
    return f"issuekey in ({', '.join(checked)})"
