"""Jira's version, as numbers: the one place the bridge reads it.

Feature gates (createmeta paths from 8.4, OAuth 2.0 links from 8.22, signed webhooks from
10.0) compare numbers, never text: as text "10.3.0" >= "8.22" is false. ``serverInfo``
gives the numbers itself (``versionNumbers``, jira-server.md §3.1: gate on them), and the
bridge keeps the ``version`` text of the instance it probed (``JiraInstance.version``),
which ``parse`` reads back. Tests that pick a path by version use ``at_least`` too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_PARTS = 8
_LEADING = re.compile(r"\s*(\d+(?:\.\d+)*)")


def from_numbers(values) -> tuple[int, ...]:
    """``serverInfo``'s ``versionNumbers`` (Jira sends ``[8, 20, 0]``), read strictly: 1 to
    8 whole numbers from 0 to 99999, digit strings accepted. ``ValueError`` or
    ``TypeError`` otherwise (``8.5``, ``true``, ``"x"``: not Jira)."""
    if not isinstance(values, list | tuple) or not 1 <= len(values) <= MAX_PARTS:
        raise ValueError(values)
    return tuple(_number(v) for v in values)


def _number(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(value)
    number = int(value)
    if not 0 <= number < 100_000:
        raise ValueError(value)
    return number


def parse(text: str | None) -> tuple[int, ...] | None:
    """The numbers a ``version`` text starts with ("10.3.19" → ``(10, 3, 19)``,
    "9.0.0-m0007" → ``(9, 0, 0)``), or ``None`` when it starts with none."""
    found = _LEADING.match(text or "")
    return tuple(int(n) for n in found.group(1).split(".")[:MAX_PARTS]) if found else None


def at_least(version: str | Sequence[int] | None, floor: Sequence[int]) -> bool:
    """Whether ``version`` (a ``version`` text or numbers) is ``floor`` or later. Missing
    parts count as 0, so ``(8, 22)`` and ``(8, 22, 0)`` are the same version; an unknown
    version is never at least anything."""
    numbers = parse(version) if isinstance(version, str) or version is None \
        else tuple(version)
    if numbers is None:
        return False
    width = max(len(numbers), len(floor))
    return (tuple(numbers) + (0,) * (width - len(numbers))
            >= tuple(floor) + (0,) * (width - len(floor)))
