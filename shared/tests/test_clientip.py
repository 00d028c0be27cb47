"""X-Forwarded-For counts only where a trusted proxy added it."""

from __future__ import annotations

from shared.clientip import client_address, parse_networks

TRUSTED = parse_networks("127.0.0.1/32, 10.0.0.0/8")


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert client_address("203.0.113.9", "1.2.3.4", TRUSTED) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_address("127.0.0.1", "198.51.100.7", TRUSTED) == "198.51.100.7"


def test_a_forged_leftmost_entry_is_ignored() -> None:
    # the client wrote "1.2.3.4"; our proxy 10.0.0.5 appended the address it saw
    assert client_address("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.5", TRUSTED) == "198.51.100.7"


def test_garbage_stops_the_walk_at_the_last_good_hop() -> None:
    assert client_address("127.0.0.1", "not-an-ip", TRUSTED) == "127.0.0.1"
    assert client_address(None, "1.2.3.4", TRUSTED) == "unknown"
    assert client_address("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"
