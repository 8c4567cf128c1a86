# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.links.overhead import (
    ESP_CIPHERS,
    encap_overhead,
    mss,
    normalize_family,
    normalize_kind,
    tunnel_mtu,
    validate_mtu,
)

# (kind, outer family, options, bytes) - worked out by hand from the header sizes in docs/overhead.md.
OVERHEAD = [
    ("wireguard", "ipv4", {}, 60),
    ("wireguard", "ipv6", {}, 80),
    ("wg", None, {}, 60),
    ("vxlan", "ipv4", {}, 50),
    ("vxlan", "ipv6", {}, 70),
    ("vxlan", "inet6", {"extra": 4}, 74),  # a VLAN tag inside the VXLAN frame
    ("geneve", "ipv4", {}, 50),
    ("geneve", "ipv6", {}, 70),
    ("geneve", "ipv4", {"options_len": 8}, 58),
    ("geneve", "ipv4", {"inner_ethernet": False}, 36),
    ("geneve", "ipv6", {"options_len": 4, "inner_ethernet": False}, 60),
    ("gre", "ipv4", {}, 24),
    ("gre", "ipv4", {"key": True}, 28),
    ("gre", "ipv4", {"key": True, "seq": True, "csum": True}, 36),
    ("gre", "ipv4", {"key": "yes"}, 28),
    ("gre", "ipv6", {}, 52),
    ("gre", "ipv6", {"encap_limit": False}, 44),
    ("ip6gre", None, {}, 52),
    ("ip6gre", None, {"key": True, "encap_limit": False}, 48),
    ("gre", "ipv4", {"udp_encap": "fou"}, 32),
    ("gre", "ipv4", {"udp_encap": "gue", "key": True}, 40),
    ("gretap", "ipv4", {}, 38),
    ("gretap", "ipv4", {"key": True}, 42),
    ("ip6gretap", None, {}, 66),
    ("ip6gretap", None, {"encap_limit": False}, 58),
    ("ipip", None, {}, 20),
    ("ipip", "ipv4", {"udp_encap": "fou"}, 28),
    ("sit", None, {}, 20),
    ("sit", None, {"udp_encap": "gue"}, 32),
    ("ip6tnl", None, {}, 48),
    ("ip6tnl", "ipv6", {"encap_limit": False}, 40),
    ("esp", "ipv4", {"cipher": "aes-gcm", "nat_t": False}, 57),
    ("esp", "ipv6", {"cipher": "aes-gcm", "nat_t": False}, 77),
    ("esp", "ipv4", {"cipher": "aes-gcm"}, 65),
    ("esp", "ipv4", {"cipher": "chacha20-poly1305", "nat_t": False}, 57),
    ("esp", "ipv4", {"cipher": "aes-cbc-sha1", "nat_t": False}, 73),
    ("esp", "ipv6", {"cipher": "aes-cbc-sha1", "nat_t": False}, 93),
    ("esp", "ipv4", {"cipher": "aes-cbc-sha256", "nat_t": False}, 77),
    ("esp", "ipv4", {"cipher": "3des-cbc-sha1", "nat_t": False}, 57),
    ("esp", "ipv4", {}, 101),  # unknown transform: AES-CBC/HMAC-SHA-512 with NAT-T
    ("esp", "ipv6", {}, 121),
    ("ipsec", "ipv4", {"cipher": "aes-gcm", "nat_t": False, "mode": "transport"}, 37),
    ("pppoe", None, {}, 8),
    ("pppoe", "ipv6", {}, 8),
    ("vlan", None, {}, 4),
    ("dot1q", None, {"count": 2}, 8),
    ("mpls", None, {"count": 3}, 12),
]


@pytest.mark.parametrize("kind, family, options, expected", OVERHEAD)
def test_encap_overhead(kind, family, options, expected):
    assert encap_overhead(kind, family, **options) == expected


# (path MTU, kind, outer family, options, tunnel MTU)
TUNNEL_MTU = [
    (1500, "wireguard", "ipv4", {}, 1440),
    (1500, "wireguard", "ipv6", {}, 1420),  # wg-quick's default MTU is this worst case
    (1400, "wireguard", None, {}, 1340),  # the seeds' MPLS overlay
    (1492, "wireguard", "ipv4", {}, 1432),  # over PPPoE
    (1500, "vxlan", "ipv4", {}, 1450),
    (1500, "vxlan", "ipv6", {}, 1430),
    (1500, "gre", None, {"key": True}, 1472),
    (1500, "gretap", None, {}, 1462),
    (1500, "ip6tnl", None, {}, 1452),
    (1500, "pppoe", None, {}, 1492),
    (1500, "vlan", None, {}, 1496),
    (1500, "mpls", None, {"count": 2}, 1492),
    ("1500", "wireguard", "4", {}, 1440),
    (1500.0, "wireguard", 6, {}, 1420),
    # ESP: exact block alignment, as the kernel's xfrm_state_mtu() computes it.
    (1500, "esp", "ipv4", {"cipher": "aes-gcm", "nat_t": False}, 1446),
    (1500, "esp", "ipv4", {"cipher": "aes-gcm"}, 1438),
    (1500, "esp", "ipv4", {"cipher": "aes-cbc-sha1", "nat_t": False}, 1438),
    (1500, "esp", "ipv4", {"cipher": "aes-cbc-sha256"}, 1422),
    (1500, "esp", "ipv4", {}, 1406),
    (1500, "esp", "ipv4", {"cipher": "aes-gcm", "nat_t": False, "mode": "transport"}, 1466),
    (1280, "wireguard", "ipv6", {}, 1200),
]


@pytest.mark.parametrize("path, kind, family, options, expected", TUNNEL_MTU)
def test_tunnel_mtu(path, kind, family, options, expected):
    assert tunnel_mtu(path, kind, family, **options) == expected


def _esp_outer(inner: int, family: str, cipher, nat_t: bool) -> int:
    """Size on the wire of a tunnel-mode ESP packet built by hand (RFC 4303 section 2)."""
    payload = inner + 2  # pad length + next header
    padded = -(-payload // cipher.block) * cipher.block
    return (20 if family == "ipv4" else 40) + (8 if nat_t else 0) + 8 + cipher.iv + padded + cipher.icv


@pytest.mark.parametrize("name", sorted(ESP_CIPHERS))
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("nat_t", [False, True])
@pytest.mark.parametrize("path", [1280, 1400, 1419, 1420, 1492, 1500, 9000])
def test_esp_tunnel_mtu_is_the_largest_that_fits(name, family, nat_t, path):
    cipher = ESP_CIPHERS[name]
    result = tunnel_mtu(path, "esp", family, cipher=name, nat_t=nat_t)
    assert _esp_outer(result, family, cipher, nat_t) <= path
    assert _esp_outer(result + 1, family, cipher, nat_t) > path
    # never smaller than the worst-case table figure
    assert result >= path - encap_overhead("esp", family, cipher=name, nat_t=nat_t)


@pytest.mark.parametrize("family, header", [("ipv4", 60), ("ipv6", 80)])
@pytest.mark.parametrize("path", [1280, 1400, 1413, 1500])
def test_wireguard_padding_never_exceeds_path(family, header, path):
    mtu = tunnel_mtu(path, "wireguard", family)
    # WireGuard pads to 16 bytes, capped at the interface MTU.
    assert all(header + min(-(-n // 16) * 16, mtu) <= path for n in range(1, mtu + 1))
    assert header + (mtu + 1) > path  # one byte more and a full-size packet no longer fits


@pytest.mark.parametrize("args, kwargs, message", [
    ((1500, "ipip", "ipv6"), {}, "use kind 'ip6tnl'"),
    ((1500, "ip6tnl", "ipv4"), {}, "always has an outer ipv6 header"),
    ((1500, "ip6gre", "ipv4"), {}, "always has an outer ipv6 header"),
    ((1500, "openvpn"), {}, "unknown encapsulation kind 'openvpn'"),
    ((1500, ""), {}, "non-empty string"),
    ((1500, "vxlan"), {"key": True}, "option key does not apply to vxlan"),
    ((1500, "wireguard"), {"mtu": 1, "foo": 2}, "options foo, mtu do not apply"),
    ((100, "wireguard"), {}, "raise the underlay MTU to at least 128"),
    ((1200, "wireguard", "ipv6"), {}, "below 1280, the IPv6 minimum"),
    ((1300, "wireguard", "ipv6"), {"inner_ipv6": True}, "raise the underlay MTU to at least 1360"),
    (("abc", "wireguard"), {}, "whole number of bytes, got 'abc'"),
    ((True, "wireguard"), {}, "boolean"),
    ((1500.5, "wireguard"), {}, "whole number"),
    ((70000, "wireguard"), {}, "above 65535"),
    ((1500, "geneve"), {"options_len": 6}, "multiple of 4"),
    ((1500, "geneve"), {"options_len": 256}, "multiple of 4 between 0 and 252"),
    ((1500, "esp"), {"cipher": "rot13"}, "unknown ESP cipher 'rot13'"),
    ((1500, "esp"), {"mode": "beet"}, "'tunnel' or 'transport'"),
    ((1500, "esp"), {"nat_t": "maybe"}, "nat_t must be true or false"),
    ((1500, "gre"), {"udp_encap": "vxlan"}, "udp_encap must be one of none, fou, gue"),
    ((1500, "vlan"), {"count": 0}, "at least 1"),
    ((1500, "vxlan"), {"extra": -4}, "must not be negative"),
    ((1500, "wireguard", "ipx"), {}, "'ipv4' or 'ipv6'"),
    ((1500, "pppoe", "ipx"), {}, "'ipv4' or 'ipv6'"),
])
def test_tunnel_mtu_errors_say_what_to_do(args, kwargs, message):
    with pytest.raises(ValueError) as exc:
        tunnel_mtu(*args, **kwargs)
    assert message in str(exc.value)


@pytest.mark.parametrize("mtu, family, expected", [
    (1500, "ipv4", 1460),
    (1500, "ipv6", 1440),
    (1420, "ipv4", 1380),
    (1420, "inet6", 1360),
    (1420, 4, 1380),
    (1280, "ipv6", 1220),
    (576, "ipv4", 536),  # RFC 879's default MSS
    (68, "ipv4", 28),
    ("9000", "v6", 8940),
])
def test_mss(mtu, family, expected):
    assert mss(mtu, family) == expected


@pytest.mark.parametrize("mtu, family, message", [
    (1279, "ipv6", "below 1280"),
    (67, "ipv4", "below 68"),
    (65536, "ipv4", "above 65535"),
    (1500, "ipx", "'ipv4' or 'ipv6'"),
    (None, "ipv4", "whole number"),
])
def test_mss_errors(mtu, family, message):
    with pytest.raises(ValueError, match=message):
        mss(mtu, family)


@pytest.mark.parametrize("mtu, has_ipv6, limits, expected", [
    (1280, True, {}, 1280),
    (68, False, {}, 68),
    (65535, True, {}, 65535),
    ("1420", True, {}, 1420),
    (1500, False, {"min_mtu": 68, "max_mtu": 1500}, 1500),
    (576, False, {"min_mtu": 0, "max_mtu": 0}, 576),  # 0 = no device limit reported
])
def test_validate_mtu_accepts(mtu, has_ipv6, limits, expected):
    assert validate_mtu(mtu, has_ipv6, **limits) == expected


@pytest.mark.parametrize("mtu, has_ipv6, limits, message", [
    (1200, True, {}, "use at least 1280"),
    (1279, True, {}, "carries IPv6"),
    (67, False, {}, "use 68 or more"),
    (0, False, {}, "below 68"),
    (-1, False, {}, "below 68"),
    (70000, False, {}, "use 65535 or less"),
    (9000, False, {"max_mtu": 1500}, "above this device's maximum MTU 1500; use 1500 or less"),
    (500, False, {"min_mtu": 576}, "below this device's minimum MTU 576"),
    ("big", False, {}, "whole number of bytes, got 'big'"),
    (False, False, {}, "boolean"),
])
def test_validate_mtu_rejects(mtu, has_ipv6, limits, message):
    with pytest.raises(ValueError) as exc:
        validate_mtu(mtu, has_ipv6, **limits)
    assert message in str(exc.value)


@pytest.mark.parametrize("value, expected", [
    ("ipv4", "ipv4"), ("IPv6", "ipv6"), ("inet", "ipv4"), ("inet6", "ipv6"), (4, "ipv4"), (6, "ipv6"),
    ("ip6", "ipv6"), (" v4 ", "ipv4"),
])
def test_normalize_family(value, expected):
    assert normalize_family(value) == expected


@pytest.mark.parametrize("kind, family, expected", [
    ("WireGuard", None, ("wireguard", "ipv4")),
    ("ip6gretap", None, ("gretap", "ipv6")),
    ("sit", None, ("sit", "ipv4")),
    ("ip6tnl", None, ("ip6tnl", "ipv6")),
    ("mpls", "ipv6", ("mpls", None)),
    ("vxlan", "inet6", ("vxlan", "ipv6")),
])
def test_normalize_kind(kind, family, expected):
    assert normalize_kind(kind, family) == expected
