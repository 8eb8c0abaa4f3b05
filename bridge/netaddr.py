"""Addresses the bridge never calls: cloud metadata services, link-local and reserved.

One policy, used at two moments: when an admin registers a Jira base URL
(``jira.urls``, which turns the reason into a form error) and at every new outbound
connection, on the address actually resolved (``outbound``, against DNS rebinding).
Loopback and private addresses are allowed: a Jira inside the company network, or on the
same machine, is the point.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = "That address is a cloud metadata service, not a Jira."
RESERVED = "That address cannot be a Jira server (link-local or reserved)."

_METADATA_IPS = {"169.254.169.254", "fd00:ec2::254", "100.100.100.200"}
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and that a network may deliver to:
    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), 6to4
    (``2002:AABB:CCDD::``, RFC 3056), Teredo (RFC 4380) and NAT64 (``64:ff9b::a.b.c.d``,
    RFC 6052 / RFC 8215)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = int(ip)
    if any(ip in net for net in _NAT64) or (packed >> 32 == 0 and packed > 1):
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return found


def address_problem(ip: IPAddress) -> str | None:
    """Why the bridge must not call ``ip`` (a sentence), or ``None``.

    IPv6 is judged like IPv4: ``::1`` and ``::ffff:127.0.0.1`` are loopback like
    127.0.0.1, and an IPv4 address wrapped in IPv6 (mapped, 6to4, Teredo, NAT64) is
    judged as that IPv4 address, so the metadata service cannot hide as
    ``2002:a9fe:a9fe::``."""
    if ip.version == 6:
        for inner in _embedded_ipv4(ip):
            problem = address_problem(inner)
            if problem:
                return problem
        if ip.ipv4_mapped is not None or (int(ip) >> 32 == 0 and int(ip) > 1):
            return None  # it is that IPv4 address, judged above
    if str(ip) in _METADATA_IPS:
        return METADATA
    if ip.is_loopback:
        return None
    if ip.version == 4 and ip.packed[0] == 0:  # 0.0.0.0/8, "this network" (RFC 1122)
        return RESERVED
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return RESERVED
    return None


NOT_PUBLIC = "That address is not a public one (loopback, private or shared)."


def public_address_problem(ip: IPAddress) -> str | None:
    """``address_problem``, and loopback and private addresses refused too: for URLs that
    a third party hands the bridge (Asana's file download links are public storage), where
    a private address can only be an attempt to reach the bridge's own network. An IPv4
    address wrapped in IPv6 is judged as that address."""
    problem = address_problem(ip)
    if problem:
        return problem
    inner = _embedded_ipv4(ip) if ip.version == 6 else []
    if not ip.is_global or any(not v4.is_global for v4 in inner):
        return NOT_PUBLIC
    return None
