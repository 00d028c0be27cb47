"""The client's address behind trusted proxies: X-Forwarded-For is believed only from them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """'10.0.0.0/8, ::1' → networks; ValueError on anything else."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The first address, from the right, that is not a trusted proxy.

    Each proxy appends the address it saw to X-Forwarded-For, so only the entries our own proxies
    added are true; what the client wrote itself is further left and is never reached unless
    every hop after it is trusted.
    """
    if peer is None:
        return "unknown"
    current = _address(peer)
    if current is None:
        return peer
    if forwarded_for:
        for hop in reversed(forwarded_for.split(",")):
            if not any(current in net for net in trusted):
                break
            parsed = _address(hop)
            if parsed is None:
                break
            current = parsed
    return str(current)
