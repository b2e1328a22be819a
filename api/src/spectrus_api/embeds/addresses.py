"""Which network addresses a server-side fetch may reach: global unicast only.

Addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64) are
judged by the address they embed, so ``[::ffff:127.0.0.1]`` is loopback. Hosts written as
IPv4 numbers in any form the C resolver accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``127.1``) are read as the address they really are, never passed on as names.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` denotes if it is a number in any inet_aton form."""
    if not host or any(c not in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def literal(host: str) -> IPAddress | None:
    """An IP address written in the URL's host, if it is one."""
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        if "%" in inner:  # zone ids select an interface: never from a URL
            raise ValueError("IPv6 zone identifiers are not allowed")
        return ipaddress.IPv6Address(inner)
    return numeric_ipv4(host)


def embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return ipaddress.IPv4Address(packed)
    if address.teredo is not None:
        return address.teredo[1]  # the client's (obfuscated) address
    return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_v4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast and not address.is_reserved


def allowed(address: IPAddress, allow: Iterable[Network] = ()) -> bool:
    """Public, or inside a network the operator allowed explicitly."""
    return any(address in n for n in allow if n.version == address.version) or is_public(address)
