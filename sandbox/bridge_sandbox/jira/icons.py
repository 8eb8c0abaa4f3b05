"""The images behind the icon and avatar URLs the simulator's payloads contain.

A real Jira serves every ``iconUrl`` and ``avatarUrls`` entry it sends; the widget shows
them in the viewer's browser, so a 404 here is a blank icon in the demo (issue 16.8).
URL shapes (reference jira-server.md §3.3 issue example, the 8.4.3 WADL examples):

- ``/secure/viewavatar?size=xsmall&avatarId=10303&avatarType=issuetype`` (issue types;
  the issue picker's relative ``img`` too): SVG, as Jira's system issue-type avatars are.
- ``/secure/useravatar?size=small&ownerId=JIRAUSER10100[&avatarId=N]`` and
  ``?avatarId=N`` alone: PNG.
- ``/secure/projectavatar?size=small&pid=10000[&avatarId=N]``: SVG.
- ``/images/icons/priorities/<name>.svg|.png`` and ``/images/icons/statuses/<name>.png``:
  Jira's static files (the names a stock install ships).

No sign-in is needed: the browser that shows the widget may have no Jira session.
Drawn here, in code (no image files): a coloured tile with a mark, enough to be seen.
UNCONFIRMED: what Jira answers for an unknown avatar id, type or size (here: 404 for an
unknown id or type, the ``large`` size for an unknown size name).
"""

from __future__ import annotations

import struct
import zlib

from flask import Blueprint, Response, abort, request

from bridge_sandbox.jira.webutil import state

bp = Blueprint("icons", __name__)

SIZES = {"xsmall": 16, "small": 24, "medium": 32, "large": 48, "xlarge": 64,
         "xxlarge": 96, "xxxlarge": 128}
CACHE = "max-age=3600"  # Jira lets browsers keep avatars; the demo need not re-fetch them

# Issue-type glyphs by the fixture's ``icon`` name: (tile colour, SVG path of the mark).
ISSUE_TYPE_ART = {
    "bug": ("#e5493a", '<circle cx="8" cy="8" r="3.5" fill="#fff"/>'),
    "task": ("#4bade8", '<path d="M4.5 8.5l2.5 2.5 4.5-5" stroke="#fff" stroke-width="2" '
                        'fill="none"/>'),
    "subtask": ("#4bade8", '<rect x="4" y="4" width="5" height="5" fill="none" '
                           'stroke="#fff" stroke-width="1.5"/><rect x="7" y="7" width="5" '
                           'height="5" fill="#fff"/>'),
    "story": ("#63ba3c", '<path d="M5 4h6v8l-3-2-3 2z" fill="#fff"/>'),
}
DEFAULT_ISSUE_TYPE_ART = ("#8993a4", '<circle cx="8" cy="8" r="2.5" fill="#fff"/>')

# Priority icons a stock Jira ships (/images/icons/priorities/), old and new schemes.
PRIORITY_ART = {
    "blocker": ("#ce0000", "block"), "critical": ("#ce0000", "up2"),
    "major": ("#ea4444", "up"), "minor": ("#2a8735", "down"), "trivial": ("#2a8735", "down2"),
    "highest": ("#ce0000", "up2"), "high": ("#ea4444", "up"), "medium": ("#ea7d24", "equal"),
    "low": ("#2a8735", "down"), "lowest": ("#55a557", "down2"),
}
PRIORITY_MARKS = {
    "up": '<path d="M3 10l5-5 5 5" stroke="{c}" stroke-width="2" fill="none"/>',
    "up2": '<path d="M3 8l5-5 5 5M3 13l5-5 5 5" stroke="{c}" stroke-width="2" fill="none"/>',
    "down": '<path d="M3 6l5 5 5-5" stroke="{c}" stroke-width="2" fill="none"/>',
    "down2": '<path d="M3 3l5 5 5-5M3 8l5 5 5-5" stroke="{c}" stroke-width="2" fill="none"/>',
    "equal": '<path d="M3 6h10M3 10h10" stroke="{c}" stroke-width="2"/>',
    "block": '<circle cx="8" cy="8" r="6" fill="{c}"/><path d="M4.5 8h7" stroke="#fff" '
             'stroke-width="2"/>',
}
# Status icons a stock Jira ships (/images/icons/statuses/), each drawn as a coloured dot.
STATUS_COLOURS = {
    "open": (0x4a, 0x6f, 0xe8), "inprogress": (0xf0, 0xb4, 0x1c),
    "closed": (0x2a, 0x87, 0x35), "resolved": (0x2a, 0x87, 0x35),
    "reopened": (0x4a, 0x6f, 0xe8), "needinfo": (0xea, 0x7d, 0x24),
    "generic": (0x89, 0x93, 0xa4),
}
PALETTE = [(0x0a, 0x66, 0xc2), (0x2a, 0x87, 0x35), (0xa5, 0x4a, 0xd8), (0xd0, 0x44, 0x37),
           (0xea, 0x7d, 0x24), (0x00, 0x87, 0x8a)]


def _size() -> int:
    return SIZES.get(request.args.get("size", "large"), SIZES["large"])


def _svg(body: str, px: int) -> Response:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" '
           f'viewBox="0 0 16 16">{body}</svg>')
    return _image(svg.encode(), "image/svg+xml")


def _image(data: bytes, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Cache-Control"] = CACHE
    return resp


def png_disc(px: int, rgb: tuple[int, int, int]) -> bytes:
    """A ``px``×``px`` RGBA PNG: a filled disc of ``rgb`` on a transparent ground."""
    r2 = (px / 2) ** 2
    rows = bytearray()
    for y in range(px):
        rows.append(0)  # filter type None
        for x in range(px):
            inside = (x + 0.5 - px / 2) ** 2 + (y + 0.5 - px / 2) ** 2 <= r2
            rows += bytes((*rgb, 255)) if inside else b"\0\0\0\0"

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", px, px, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows)))
            + chunk(b"IEND", b""))


def _avatar_id() -> int | None:
    raw = request.args.get("avatarId")
    if raw is None:
        return None
    if not raw.isdigit():
        abort(404)
    return int(raw)


@bp.route("/secure/viewavatar", methods=["GET"])
def view_avatar():
    kind = request.args.get("avatarType", "issuetype")
    avatar_id = _avatar_id()
    if kind == "issuetype":
        found = [t for t in state().issue_types.values() if t["avatarId"] == avatar_id]
        if not found:
            abort(404)
        return _issue_type_svg(found[0])
    if kind == "user":
        return user_avatar()
    if kind == "project":
        return project_avatar()
    abort(404)


def _issue_type_svg(issue_type: dict):
    glyph = issue_type.get("icon", "").rsplit(".", 1)[0].replace("-", "")
    colour, mark = ISSUE_TYPE_ART.get(glyph, DEFAULT_ISSUE_TYPE_ART)
    return _svg(f'<rect width="16" height="16" rx="3" fill="{colour}"/>{mark}', _size())


@bp.route("/secure/useravatar", methods=["GET"])
def user_avatar():
    """The owner's avatar (a disc in a colour of their own); without a known owner,
    the default avatar (grey), as Jira shows for a user it cannot name."""
    _avatar_id()  # validated; the simulator has no uploaded avatars
    owner = request.args.get("ownerId", "")
    users = state().users
    user = next((u for u in users.values() if owner and owner in (u["key"], u["name"])), None)
    if user is None:
        rgb = (0x89, 0x93, 0xa4)
    else:
        rgb = PALETTE[sum(user["key"].encode()) % len(PALETTE)]
    return _image(png_disc(_size(), rgb), "image/png")


@bp.route("/secure/projectavatar", methods=["GET"])
def project_avatar():
    _avatar_id()
    pid = request.args.get("pid", "")
    projects = state().projects.values()
    project = next((p for p in projects if pid and pid in (p["id"], p["key"])), None)
    r, g_, b = PALETTE[int(project["id"]) % len(PALETTE)] if project else (0x89, 0x93, 0xa4)
    letter = (project["key"][:1] if project else "").replace("<", "").replace("&", "")
    return _svg(f'<rect width="16" height="16" rx="2" fill="#{r:02x}{g_:02x}{b:02x}"/>'
                f'<text x="8" y="12" font-size="10" font-family="sans-serif" '
                f'text-anchor="middle" fill="#fff">{letter}</text>', _size())


@bp.route("/images/icons/priorities/<name>.<ext>", methods=["GET"])
def priority_icon(name, ext):
    if name not in PRIORITY_ART or ext not in ("svg", "png"):
        abort(404)
    colour, mark = PRIORITY_ART[name]
    if ext == "png":
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        return _image(png_disc(16, rgb), "image/png")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" '
           f'viewBox="0 0 16 16">{PRIORITY_MARKS[mark].format(c=colour)}</svg>')
    return _image(svg.encode(), "image/svg+xml")


@bp.route("/images/icons/statuses/<name>.png", methods=["GET"])
def status_icon(name):
    if name not in STATUS_COLOURS:
        abort(404)
    return _image(png_disc(16, STATUS_COLOURS[name]), "image/png")
