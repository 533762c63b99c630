"""Which client is this: what limits per client count by.

A client is its address, except that an IPv6 client is its /64, since one host
usually has the whole network and could otherwise take a new address for every
request (an IPv4-mapped IPv6 address, ::ffff:a.b.c.d, is the IPv4 client it maps).
Sign-ups (subscribe.py) and editors' sign-ins (web/auth.py) count by it.
"""

from __future__ import annotations

import ipaddress


def client_network(ip: str) -> str:
    """What limits per client count by: the address, or an IPv6 address's /64 (one host usually has it all)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
