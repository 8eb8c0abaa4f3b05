"""Asana rich text (``html_notes``) → Jira wiki markup (jira-server.md §3: Server and DC
take wiki markup in ``description``, not ADF).

Asana's ``html_notes`` is a ``<body>`` of text whose newlines are line breaks, with inline
``strong``/``em``/``u``/``s``/``code``/``a``, and blocks ``ul``/``ol``/``li``, ``pre``,
``h1``/``h2``, ``blockquote`` and ``hr`` (asana-app-components.md §8: "The notes of the
text with formatting as HTML"). Mentions are links carrying ``data-asana-gid``; they become
the plain name, since an Asana user is not a Jira user. Anything unknown keeps its text.

Text is escaped where Jira would read it as markup: brackets, braces, pipes and ``!``
always; ``* _ + - ^ ~`` only at a word edge (mid-word they are plain in Jira); ``??``
(a citation); a ``#``, ``*``, ``-`` or ``h1.`` at the start of a line. Links (``link``)
percent-encode their URL and escape their label, so no string from Asana can end a link
early, or start an image or a macro.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_VOID = {"br", "hr", "img"}
_BLOCKS = {"ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "p",
           "div"}
_ALWAYS = set("{}[]|!\\")
_EDGE = set("*_+-^~")
# Nothing is escaped inside {noformat}: the first "{noformat" in its text closes it.
_NOFORMAT = re.compile(r"\{noformat", re.I)


class _Node:
    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str, attrs: dict):
        self.tag = tag
        self.attrs = attrs
        self.children: list = []


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Node("body", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        if tag == "body":
            return
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        tag = tag.lower()
        if tag != "body":
            self.stack[-1].children.append(_Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        tag = tag.lower()
        for i in range(len(self.stack) - 1, 0, -1):  # tolerate unclosed inner tags
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def html_to_wiki(html: str | None) -> str:
    """Convert Asana ``html_notes`` to Jira wiki markup (empty input → ``""``)."""
    if not html:
        return ""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    text = _blocks(parser.root.children, in_pre=False)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def text_to_wiki(text: str | None) -> str:
    """Plain ``notes`` (no formatting) → wiki markup with markup characters escaped."""
    return "\n".join(_escape_line(line) for line in (text or "").split("\n")).strip("\n")


# -- blocks ------------------------------------------------------------------------------

def _blocks(children: list, *, in_pre: bool) -> str:
    out: list[str] = []
    run: list = []

    def flush():
        if run:
            out.append(_inline(run))
            run.clear()

    for child in children:
        if isinstance(child, _Node) and child.tag in _BLOCKS:
            flush()
            out.append("\n\n" + _block(child) + "\n\n")
        else:
            run.append(child)
    flush()
    return "".join(out)


def _block(node: _Node) -> str:
    tag = node.tag
    if tag in ("ul", "ol"):
        return "\n".join(_list(node, ""))
    if tag == "pre":
        body = _plain(node).strip("\n")
        if _NOFORMAT.search(body):  # it would end the block: what follows would be markup
            return _escape(body)
        return "{noformat}\n" + body + "\n{noformat}"
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return f"{tag}. " + _inline(node.children).replace("\n", " ").strip()
    if tag == "blockquote":
        return "{quote}\n" + _blocks(node.children, in_pre=False).strip("\n") + "\n{quote}"
    if tag == "hr":
        return "----"
    return _blocks(node.children, in_pre=False).strip("\n")  # p, div


def _list(node: _Node, prefix: str) -> list[str]:
    bullet = prefix + ("#" if node.tag == "ol" else "*")
    lines: list[str] = []
    for item in node.children:
        if not isinstance(item, _Node):
            continue  # whitespace between <li>s
        if item.tag in ("ul", "ol"):
            lines.extend(_list(item, bullet))
            continue
        inline = [c for c in item.children if not (isinstance(c, _Node) and c.tag in
                                                     ("ul", "ol"))]
        text = " ".join(_inline(inline).split("\n")).strip()
        lines.append(f"{bullet} {text}" if text else bullet)
        for sub in item.children:
            if isinstance(sub, _Node) and sub.tag in ("ul", "ol"):
                lines.extend(_list(sub, bullet))
    return lines


# -- inline ------------------------------------------------------------------------------

_WRAP = {"strong": "*", "b": "*", "em": "_", "i": "_", "u": "+", "s": "-", "strike": "-",
         "del": "-", "sup": "^", "sub": "~"}


def _inline(children: list) -> str:
    parts: list[str] = []
    for child in children:
        if isinstance(child, str):
            parts.append(_escape(child))
            continue
        tag = child.tag
        if tag == "br":
            parts.append("\n")
        elif tag == "img":
            continue  # inline images are task attachments: they are copied as files
        elif tag in _WRAP:
            parts.append(_wrap(_inline(child.children), _WRAP[tag]))
        elif tag == "code":
            inner = _plain(child)
            parts.append("{{" + _escape(inner) + "}}" if inner.strip() else inner)
        elif tag == "a":
            parts.append(_link(child))
        elif tag in _BLOCKS:
            parts.append("\n" + _block(child) + "\n")
        else:
            parts.append(_inline(child.children))
    return "".join(parts)


def _wrap(text: str, mark: str) -> str:
    """``*bold*`` needs no space just inside the marks: move outer spaces outside."""
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    return f"{lead}{mark}{core}{mark}{trail}"


def _link(node: _Node) -> str:
    text = _plain(node)
    if "data-asana-gid" in node.attrs or "data-asana-type" in node.attrs:
        return _escape(text.lstrip("@"))  # a mention: the plain name
    return link(text, node.attrs.get("href") or "")


def link(label: str, url: str) -> str:
    """``[label|url]`` that Jira reads as exactly one link, whatever the two strings hold
    (both come from Asana users): the URL is percent-encoded outside RFC 3986's own
    characters (so ``] ! | { } \\`` and spaces cannot end the link or start an image or a
    macro), and the label is escaped like text, with its ``[ ] |`` (which no escape keeps
    inside a link) shown as look-alikes. A URL that is not http(s) or mailto gives the
    label alone, as text."""
    href = safe_url(url)
    label = " ".join(str(label or "").split())
    if href is None:
        return _escape_line(label, line_start=False)
    if not label or label == url.strip():
        return f"[{href}]"
    shown = label.replace("|", "¦").replace("[", "(").replace("]", ")")
    return f"[{_escape_line(shown, line_start=False)}|{href}]"


# RFC 3986: unreserved and reserved characters, and "%" of an escape already made. Jira
# reads ``!`` (images), ``[ ] |`` (links) and ``{ }`` (macros) even inside a link, so they
# are encoded (each is allowed in a URL only as a sub-delimiter, which servers take
# encoded alike).
_URL_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                      "-._~:/?#@$&'()*+,;=%")


def safe_url(url: str | None) -> str | None:
    """An http(s) or mailto URL with every other character percent-encoded (UTF-8), or
    ``None`` for any other scheme."""
    text = str(url or "").strip()
    if not re.match(r"(?i)^(https?://[^/?#\s]|mailto:[^\s])", text):
        return None
    out = []
    for ch in text:
        if ch in _URL_KEEP:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def _plain(node: _Node) -> str:
    out: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            out.append(child)
        elif child.tag == "br":
            out.append("\n")
        else:
            out.append(_plain(child))
    return "".join(out)


# -- escaping ----------------------------------------------------------------------------

def _escape(text: str) -> str:
    return "\n".join(_escape_line(line) for line in text.split("\n"))


def _escape_line(line: str, line_start: bool = True) -> str:
    out: list[str] = []
    n = len(line)
    for i, ch in enumerate(line):
        if ch in _ALWAYS:
            out.append("\\" + ch)
        elif ch == "?" and ("?" in (line[i - 1:i], line[i + 1:i + 2])):
            out.append("\\?")  # ??citation??
        elif ch in _EDGE:
            before = line[i - 1] if i > 0 else " "
            after = line[i + 1] if i + 1 < n else " "
            if not (before.isalnum() and after.isalnum()):
                out.append("\\" + ch)
            else:
                out.append(ch)
        else:
            out.append(ch)
    text = "".join(out)
    if line_start:
        stripped = text.lstrip()
        if stripped.startswith("#") or re.match(r"^(h[1-6]|bq)\.\s", stripped):
            text = text[: len(text) - len(stripped)] + "\\" + stripped
    return text
