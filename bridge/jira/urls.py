"""Jira base URLs: normalisation and the refusals that protect admins and the network.

A Jira Server base URL is scheme + host + port + context path (jira-server.md §1.3: the
OAuth 1.0a base string is built from exactly that), so normalising must keep the context
path and a non-default port, lower-case scheme and host, drop a default port, and drop the
trailing slash, query and fragment. Jira Cloud hosts are refused (they have their own
integration), and so are addresses no Jira lives at but an attacker would like us to call
(link-local, cloud metadata).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import BadRequest
from ..netaddr import METADATA, address_problem

CLOUD_SUFFIXES = (".atlassian.net", ".jira.com", ".jira-dev.com", ".atlassian.com")
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LENGTH = 512  # JiraInstance.base_url's column
# Paths users paste that are pages of Jira rather than its base.
_PAGE_MARKERS = ("/browse/", "/secure/", "/plugins/servlet/", "/rest/", "/projects/")


class InvalidJiraURL(BadRequest):
    code = "invalid_jira_url"


class JiraCloudURL(InvalidJiraURL):
    code = "jira_cloud_url"


def is_cloud_host(host: str) -> bool:
    """A Jira Cloud site (``host`` lower case, no trailing dot): its domains, or one of
    them bare. Used by the base URL check and by pasted issue URLs (``issue_refs``)."""
    return host.endswith(CLOUD_SUFFIXES) or host in {s[1:] for s in CLOUD_SUFFIXES}


def normalize_base_url(raw: str) -> str:
    """Return the canonical base URL, or raise ``InvalidJiraURL`` with a user sentence."""
    text = (raw or "").strip()
    if not text:
        raise InvalidJiraURL("Enter the base URL of your Jira, e.g. https://jira.example.com.")
    if "://" not in text:
        text = "https://" + text
    if len(text) > MAX_LENGTH * 2:
        raise InvalidJiraURL(f"A Jira base URL has at most {MAX_LENGTH} characters.")
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[::1", "http://[zz]"
        raise InvalidJiraURL("The Jira URL is not valid: check the brackets around an IPv6 "
                             "address.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidJiraURL("A Jira base URL must start with https:// or http://.")
    if parts.username or parts.password:
        raise InvalidJiraURL("Leave user names and passwords out of the Jira URL.")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidJiraURL("The Jira URL has no host name.")
    host = _checked_host(host)
    if is_cloud_host(host):
        raise JiraCloudURL(
            f"{host} is a Jira Cloud site. This bridge connects Jira Server and Data Center; "
            "for Jira Cloud use Asana's own Jira Cloud integration."
        )
    _refuse_forbidden_host(host)
    try:
        port = parts.port
    except ValueError:
        raise InvalidJiraURL("The port in the Jira URL must be a number from 1 to 65535.") \
            from None
    if port == 0:
        raise InvalidJiraURL("The port in the Jira URL must be a number from 1 to 65535.")
    netloc = f"[{host}]" if ":" in host else host
    if port and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = parts.path
    for marker in _PAGE_MARKERS:
        if marker in path + "/":
            path = path[: (path + "/").index(marker)]
    path = path.rstrip("/")
    if any(ord(c) < 33 or ord(c) == 127 for c in path):
        raise InvalidJiraURL("The Jira URL's path contains spaces or control characters.")
    path = quote(path, safe="/%:@!$&'()*+,;=-._~")  # non-ASCII as Jira's servlet reads it
    url = urlunsplit((scheme, netloc, path, "", ""))
    if len(url) > MAX_LENGTH:
        raise InvalidJiraURL(f"A Jira base URL has at most {MAX_LENGTH} characters.")
    return url


_LABEL = re.compile(r"\A[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


def _checked_host(host: str) -> str:
    """An IP address as is; a name as its ASCII (IDNA) form, each label 1 to 63 letters,
    digits, hyphens (RFC 1123) and the underscore some intranets use, 253 at most."""
    if ":" in host:  # urlsplit only lets IPv6 literals in brackets through
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InvalidJiraURL(f"{host[:80]} is not a valid IPv6 address.") from None
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.split(".")
    if not ascii_host or len(ascii_host) > 253 or not all(_LABEL.match(x) for x in labels):
        raise InvalidJiraURL("The Jira URL's host name is not valid: each part between dots "
                             "has 1 to 63 letters, digits or hyphens.")
    return ascii_host


# Hosts made only of digits, dots and hex: "2852039166", "0xa9.0xfe.0xa9.0xfe", "0251.0376.."
# The resolver reads them as IP addresses in forms ipaddress does not, so they would slip
# past the address check below.
_NUMERIC_HOST = re.compile(r"\A(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\Z", re.I)


def _refuse_forbidden_host(host: str) -> None:
    if host in _METADATA_HOSTS:
        raise InvalidJiraURL(METADATA)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.match(host):
            raise InvalidJiraURL("Write an IP address as four decimal numbers "
                                 "(like 10.0.0.5), or use the Jira's host name.") from None
        return
    refuse_address(ip)


def refuse_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Raise ``InvalidJiraURL`` for an address no Jira lives at (``netaddr``'s policy)."""
    problem = address_problem(ip)
    if problem:
        raise InvalidJiraURL(problem)


def check_resolved(base_url: str) -> None:
    """Resolve the host and refuse it if any address it resolves to is forbidden (a name
    pointing at the metadata service). Private and loopback addresses stay allowed: a
    Jira inside the corporate network is the point. Unresolvable names are left to the
    HTTP call, which reports Jira as unreachable."""
    host = urlsplit(base_url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return
    for info in infos:
        refuse_address(ipaddress.ip_address(info[4][0].split("%")[0]))
