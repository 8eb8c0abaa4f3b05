"""JSON from the outside, parsed so that no body can crash a route.

Every route that reads a JSON body (the signed App Components POSTs, the Jira webhook)
parses it here, not with ``json.loads`` or Flask's ``get_json``: Python's parser recurses
once per bracket, so 50,000 ``[`` raised ``RecursionError`` (not a ``ValueError``, so no
handler caught it) and answered 500 with a traceback per request; a ``\\ud800`` escape
became a string that later failed to encode (``UnicodeEncodeError`` while signing). Here:

- the body must be UTF-8 text (RFC 8259 §8.1) and strict JSON: ``NaN`` and ``Infinity``
  are not JSON, so they are refused;
- at most ``MAX_DEPTH`` nested arrays or objects; nothing the bridge reads comes close
  (an Asana form value is 3 deep, a Jira webhook about 8);
- no lone surrogate in any string or key (JSON's ``\\u`` escapes can spell them; they are
  not Unicode text and cannot be encoded);
- the size is capped before this by ``MAX_CONTENT_LENGTH`` (``web.bodies``).

Anything else raises ``MalformedJSON``: a 400 with a sentence naming what was wrong.
"""

from __future__ import annotations

import json
import re

from .errors import BadRequest

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedJSON(BadRequest):
    code = "malformed_json"
    public_message = "The request body is not JSON."


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes | str, *, what: str = "The request body", max_depth: int = MAX_DEPTH):
    """The JSON value of ``raw``; ``MalformedJSON`` with a sentence starting with ``what``."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON(f"{what} is not UTF-8 text.") from None
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedJSON(f"{what} is nested too deeply.") from None
    except ValueError:
        raise MalformedJSON(f"{what} is not JSON.") from None
    _check(value, what, max_depth)
    return value


def _check(value, what: str, max_depth: int) -> None:
    """Depth and text of every node, without recursion (the walk is as deep as the value)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise MalformedJSON(f"{what} holds text that is not valid Unicode.")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise MalformedJSON(f"{what} is nested too deeply.")
            if isinstance(item, dict):
                for key, member in item.items():
                    if _SURROGATE.search(key):
                        raise MalformedJSON(f"{what} holds text that is not valid Unicode.")
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in item)
