"""Addresses the bridge calls for third-party URLs (Asana's download links): public only."""

import ipaddress

import pytest

from bridge.netaddr import address_problem, public_address_problem


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.2",
                                     "172.16.0.1", "100.64.0.1", "169.254.169.254",
                                     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::",
                                     "fd00::1", "fe80::1", "0.0.0.0", "64:ff9b::a00:1"])
def test_private_loopback_and_reserved_are_refused(address):
    assert public_address_problem(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["52.216.8.1", "2600:1f18::1", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert public_address_problem(ipaddress.ip_address(address)) is None


def test_configured_hosts_keep_their_own_rule():
    """A Jira on the company network stays allowed (the rule for configured hosts)."""
    assert address_problem(ipaddress.ip_address("10.0.0.5")) is None
    assert address_problem(ipaddress.ip_address("127.0.0.1")) is None
