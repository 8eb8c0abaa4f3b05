"""Which icon URLs from Jira the widget may hand to Asana (issue 16 §7).

Jira's issue beans carry icon and avatar URLs (``iconUrl``, ``avatarUrls``) that Asana and
every viewer's browser then load. Jira normally serves them itself, under its base URL;
an admin may also point them elsewhere (a CDN, Gravatar). A URL pointing into a private
network, at loopback or at a link-local address (``http://169.254.169.254/...``, the
cloud metadata service) would send Asana's fetcher or the viewer's browser there, so:

- kept: a URL on the instance's own base URL (same scheme, host and port, under its
  context path), whatever its address: a Jira on loopback or in the private network
  serves its own icons (the demo's Jira is on 127.0.0.1);
- kept: an ``https`` URL whose host is a public name or a global IP address;
- dropped: everything else (other schemes, plain ``http`` elsewhere, user names in the
  URL, ``localhost`` and intranet-only names, private, loopback, link-local, reserved and
  numeric-looking hosts a browser would read as an address). The widget then shows the
  field without its icon.

Names are not resolved: the bridge does not fetch these URLs, and a resolution here
would not bind what Asana's fetcher resolves later.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from ..netaddr import public_address_problem
from .urls import DEFAULT_PORTS

MAX_LENGTH = 2048
# A browser reads a host whose last label is a number (2852039166, 0xa9.0xfe.0xa9.0xfe,
# 169.254.43518) as an IPv4 address (WHATWG URL, "ends in a number").
_NUMERIC_LABEL = re.compile(r"\A(0x[0-9a-f]*|[0-9]+)\Z", re.I)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet",
                   ".corp", ".localdomain")
_LOCAL_NAMES = {"localhost", "metadata.google.internal", "instance-data"}
# Controls, space, DEL and backslash: a browser would read such a URL otherwise than this
# module does. One search, not a test per character: four URLs per widget miss.
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


def usable(url: object, base_url: str | None) -> str | None:
    """``url`` if Asana may be given it (module docstring), else ``None``."""
    if not isinstance(url, str) or not url or len(url) > MAX_LENGTH:
        return None
    if _UNSAFE_CHARACTER.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if base_url and _on_instance(scheme, host, port, parts.path, base_url):
        return url
    if scheme != "https" or not _public_host(host):
        return None
    return url


def _on_instance(scheme: str, host: str, port: int | None, path: str, base_url: str) -> bool:
    base = urlsplit(base_url)
    same_origin = (scheme, host, port or DEFAULT_PORTS[scheme]) == (
        base.scheme.lower(), (base.hostname or "").lower().rstrip("."),
        base.port or DEFAULT_PORTS.get(base.scheme.lower(), 0))
    if not same_origin:
        return False
    segments = unquote(path).split("/")
    if ".." in segments or "." in segments:
        return False  # a browser would leave the context path
    context = base.path.rstrip("/")
    return not context or path == context or path.startswith(context + "/")


def _public_host(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if (host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host
                or _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1])):
            return False
        return True
    # The bridge's one rule for addresses others hand it: an IPv4 address wrapped in IPv6
    # (mapped, 6to4, Teredo, NAT64: 64:ff9b::a9fe:a9fe is the metadata service) is judged
    # as that address.
    return public_address_problem(ip) is None
