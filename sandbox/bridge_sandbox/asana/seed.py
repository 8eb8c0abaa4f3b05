"""The seeded Asana world: a workspace, a project, two users who can sign in, and tasks.

One task has rich notes (bold, links, lists in ``html_notes``) and five Asana-hosted
attachments of several sizes, one above 10 MB. Another (:data:`TASK_LINKS`) mixes an
Asana-hosted file with files that live elsewhere (Google Drive, Dropbox, Box): Asana lists
those as attachments too, with no ``download_url``. File contents are generated on the fly
from the attachment's GID (see :func:`iter_content`), so nothing big lives in the
repository or in memory.
"""

from __future__ import annotations

import functools
import hashlib

WORKSPACE = "1100000000000001"
SIDE_WORKSPACE = "1100000000000002"
PROJECT = "1200000000000001"
ALICE = "1300000000000001"
BOB = "1300000000000002"
TASK_RICH = "1400000000000001"
TASK_PLAIN = "1400000000000002"
TASK_EMPTY = "1400000000000003"
TASK_LINKS = "1400000000000004"
SECTION = "1250000000000001"
BIG_ATTACHMENT = "1500000000000003"

USERS = [
    {"gid": ALICE, "name": "Alice Andrews", "email": "alice@example.com",
     "password": "alice-password", "workspaces": [WORKSPACE, SIDE_WORKSPACE]},
    {"gid": BOB, "name": "Bob Brown", "email": "bob@example.com",
     "password": "bob-password", "workspaces": [WORKSPACE]},
]

# A personal access token for Alice: REST works with it, connect_to_app does not (§8).
PATS = {"2/1300000000000001/pat-alice-0123456789abcdef": ALICE}

WORKSPACES = [
    {"gid": WORKSPACE, "name": "Example Org", "is_organization": True,
     "email_domains": ["example.com"]},
    {"gid": SIDE_WORKSPACE, "name": "Alice's side projects", "is_organization": False,
     "email_domains": []},
]

# Project members and their access level (``GET /memberships?parent=``): Alice administers
# the project, Bob edits it.
PROJECTS = [{"gid": PROJECT, "name": "Website relaunch", "workspace": WORKSPACE,
             "members": {ALICE: "admin", BOB: "editor"}}]
SECTIONS = [{"gid": SECTION, "name": "To do", "project": PROJECT}]

RICH_HTML = (
    "<body><strong>Login fails on Safari 17</strong> since the last release.\n"
    "<ol><li>Open <a href=\"https://www.example.com/login\">the login page</a></li>"
    "<li>Enter valid credentials and press <em>Sign in</em></li>"
    "<li>Nothing happens; the console shows <code>TypeError</code></li></ol>"
    "Affected:<ul><li>Safari 17 on macOS</li><li>Safari on iOS 17</li></ul>"
    "See the attached screenshot and trace. Owner: <u>web team</u>.</body>"
)
RICH_TEXT = (
    "Login fails on Safari 17 since the last release.\n"
    "1. Open the login page\n2. Enter valid credentials and press Sign in\n"
    "3. Nothing happens; the console shows TypeError\n"
    "Affected:\n• Safari 17 on macOS\n• Safari on iOS 17\n"
    "See the attached screenshot and trace. Owner: web team."
)

TASKS = [
    {"gid": TASK_RICH, "name": "Login fails on Safari", "notes": RICH_TEXT,
     "html_notes": RICH_HTML, "assignee": ALICE, "workspace": WORKSPACE, "projects": [PROJECT],
     "due_on": "2026-12-04", "created_at": "2026-11-20T09:15:00.000Z",
     "modified_at": "2026-11-26T16:40:12.000Z", "completed": False},
    {"gid": TASK_PLAIN, "name": "Export to CSV is slow",
     "notes": "Exports over 10k rows take minutes.",
     "html_notes": "<body>Exports over 10k rows take minutes.</body>", "assignee": BOB,
     "workspace": WORKSPACE, "projects": [PROJECT], "due_on": None,
     "created_at": "2026-11-21T10:00:00.000Z", "modified_at": "2026-11-21T10:00:00.000Z",
     "completed": False},
    {"gid": TASK_EMPTY, "name": "Write the onboarding checklist", "notes": "",
     "html_notes": "<body></body>", "assignee": None, "workspace": WORKSPACE,
     "projects": [PROJECT], "due_on": None, "created_at": "2026-11-22T08:00:00.000Z",
     "modified_at": "2026-11-22T08:00:00.000Z", "completed": False},
    {"gid": TASK_LINKS, "name": "Prepare the launch review", "created_by": ALICE,
     "notes": "Slides and assets are in the shared drives.",
     "html_notes": "<body>Slides and assets are in the shared drives.</body>", "assignee": ALICE,
     "workspace": WORKSPACE, "projects": [PROJECT], "due_on": "2026-12-10",
     "created_at": "2026-11-23T11:00:00.000Z", "modified_at": "2026-11-24T15:30:00.000Z",
     "completed": False},
]
for _task in TASKS:  # every seeded task sits in the project's one section; Alice made them
    _task.setdefault("section", SECTION)
    _task.setdefault("created_by", ALICE)

MB = 1024 * 1024
ATTACHMENTS = [
    {"gid": "1500000000000001", "name": "safari-login.png", "parent": TASK_RICH, "size": 48_213,
     "content_type": "image/png", "created_at": "2026-11-20T09:16:00.000Z"},
    {"gid": "1500000000000002", "name": "console.log", "parent": TASK_RICH, "size": 3_100,
     "content_type": "text/plain", "created_at": "2026-11-20T09:17:00.000Z"},
    {"gid": BIG_ATTACHMENT, "name": "safari-trace.zip", "parent": TASK_RICH, "size": 12 * MB + 345,
     "content_type": "application/zip", "created_at": "2026-11-20T09:18:00.000Z"},
    {"gid": "1500000000000004", "name": "spec.pdf", "parent": TASK_RICH, "size": 734_003,
     "content_type": "application/pdf", "created_at": "2026-11-20T09:19:00.000Z"},
    {"gid": "1500000000000005", "name": "empty.txt", "parent": TASK_RICH, "size": 0,
     "content_type": "text/plain", "created_at": "2026-11-20T09:20:00.000Z"},
    {"gid": "1500000000000006", "name": "export-profile.txt", "parent": TASK_PLAIN, "size": 2_048,
     "content_type": "text/plain", "created_at": "2026-11-21T10:01:00.000Z"},
    {"gid": "1500000000000007", "name": "review-agenda.pdf", "parent": TASK_LINKS,
     "size": 96_512, "content_type": "application/pdf",
     "created_at": "2026-11-23T11:05:00.000Z"},
]

# Files hosted elsewhere (reference §8: `host` is one of asana, dropbox, gdrive, onedrive,
# box, vimeo, external). Asana gives them no download_url; view_url is the link.
LINKED_FILES = [
    {"gid": "1500000000000008", "name": "Launch review slides", "parent": TASK_LINKS,
     "host": "gdrive", "url": "https://docs.google.com/presentation/d/1sim-launch-review/edit",
     "created_at": "2026-11-23T11:06:00.000Z"},
    {"gid": "1500000000000009", "name": "brand-assets.zip", "parent": TASK_LINKS,
     "host": "dropbox", "url": "https://www.dropbox.com/s/simbrand01/brand-assets.zip",
     "created_at": "2026-11-23T11:07:00.000Z"},
    {"gid": "1500000000000010", "name": "budget.xlsx", "parent": TASK_LINKS, "host": "box",
     "url": "https://app.box.com/s/simbudget01", "created_at": "2026-11-23T11:08:00.000Z"},
]

# Generated content: each 1 MiB block is the attachment's own 1 MiB of SHAKE-128 output,
# rotated by an amount derived from the block's index. No two blocks are alike (a receiver
# that drops, repeats or reorders a block gets another hash), and producing a block costs a
# memory copy, so a 1 GB download is limited by the socket, not by the generator.
_BLOCK = 1024 * 1024
CHUNK = 64 * 1024


@functools.lru_cache(maxsize=16)
def _base(gid: str) -> bytes:
    return hashlib.shake_128(f"asana-sim-content:{gid}".encode()).digest(_BLOCK)


def _block(gid: str, index: int) -> bytes:
    base = _base(gid)
    turn = int.from_bytes(hashlib.sha256(f"{gid}:{index}".encode()).digest()[:4], "big") % _BLOCK
    return base[turn:] + base[:turn]


def iter_content(gid: str, size: int, chunk: int = CHUNK, start: int = 0,
                 stop: int | None = None):
    """Deterministic bytes ``start`` to ``stop`` (exclusive; default: the end) of an
    attachment of ``size`` bytes, streamed in pieces of at most ``chunk`` bytes.

    Never holds more than one block (1 MiB), whatever ``size`` is.
    """
    stop = size if stop is None else min(stop, size)
    pos = max(0, start)
    while pos < stop:
        index, offset = divmod(pos, _BLOCK)
        block = memoryview(_block(gid, index))
        end = min(_BLOCK, offset + (stop - pos))
        for first in range(offset, end, chunk):
            yield bytes(block[first:min(first + chunk, end)])
        pos += end - offset


def content_digest(gid: str, size: int) -> str:
    """sha256 of the generated content (a receiver compares what it got with it)."""
    h = hashlib.sha256()
    for piece in iter_content(gid, size, chunk=_BLOCK):
        h.update(piece)
    return h.hexdigest()
