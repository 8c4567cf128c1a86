# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Encapsulation overhead, tunnel MTU, MSS and MTU validation. Pure: no system access.

All sizes are bytes at layer 3: a tunnel MTU is the largest inner IP packet that fits, once
encapsulated, in an outer IP packet of ``path_mtu`` bytes. Errors are ``ValueError`` with a
message that says what to do; the filters and modules turn them into their own error types.
See docs/overhead.md for where each number comes from.
"""

from __future__ import annotations

from typing import Any, NamedTuple

IPV4_MIN_MTU = 68  # RFC 791: every IPv4 link must carry 68 bytes
IPV6_MIN_MTU = 1280  # RFC 8200 section 5
MAX_MTU = 65535  # IPv4 total length / IPv6 payload length field without jumbograms

IP_HEADER = {"ipv4": 20, "ipv6": 40}
UDP_HEADER = 8
ETHERNET_HEADER = 14  # inner frame of L2 tunnels (VXLAN, GENEVE, gretap), without FCS or tags
TCP_IP_HEADERS = {"ipv4": 40, "ipv6": 60}  # MSS = MTU minus IP and TCP headers (RFC 879, 8200)

WIREGUARD_DATA = 32  # type+reserved 4, receiver index 4, counter 8, Poly1305 tag 16
VXLAN_HEADER = 8
GENEVE_HEADER = 8
GENEVE_MAX_OPTIONS = 252  # 6-bit option length in 4-byte words
GRE_HEADER = 4
GRE_OPTIONAL_FIELD = 4  # each of checksum(+reserved), key, sequence number
IPV6_ENCAP_LIMIT_OPTION = 8  # RFC 2473 tunnel encapsulation limit, added by Linux by default
UDP_ENCAP = {"none": 0, "fou": UDP_HEADER, "gue": UDP_HEADER + 4}
ESP_HEADER = 8  # SPI 4 + sequence number 4
ESP_TRAILER = 2  # pad length + next header
NAT_T = UDP_HEADER  # RFC 3948 UDP encapsulation
PPPOE_HEADER = 8  # PPPoE 6 + PPP protocol 2
TAG = 4  # one 802.1Q tag or one MPLS label stack entry


class EspCipher(NamedTuple):
    iv: int
    icv: int
    block: int  # alignment of payload + trailer; at least 4 (RFC 4303 section 2.4)


# Common ESP transforms (RFC 4106, 4309, 4543, 7634, 3602 + 2404, 4868, 2451).
ESP_CIPHERS: dict[str, EspCipher] = {
    "aes-gcm": EspCipher(iv=8, icv=16, block=4),
    "aes-ccm": EspCipher(iv=8, icv=16, block=4),
    "aes-gmac": EspCipher(iv=8, icv=16, block=4),
    "chacha20-poly1305": EspCipher(iv=8, icv=16, block=4),
    "aes-cbc-sha1": EspCipher(iv=16, icv=12, block=16),
    "aes-cbc-sha256": EspCipher(iv=16, icv=16, block=16),
    "aes-cbc-sha384": EspCipher(iv=16, icv=24, block=16),
    "aes-cbc-sha512": EspCipher(iv=16, icv=32, block=16),
    "3des-cbc-sha1": EspCipher(iv=8, icv=12, block=8),
}
ESP_ANY = "any"  # worst case over ESP_CIPHERS: what to assume when the transform is unknown

# Options each kind accepts besides ``extra`` (bytes of further encapsulation, e.g. stacked tags).
KIND_OPTIONS: dict[str, frozenset[str]] = {
    "wireguard": frozenset(),
    "vxlan": frozenset(),
    "geneve": frozenset({"options_len", "inner_ethernet"}),
    "gre": frozenset({"key", "seq", "csum", "encap_limit", "udp_encap"}),
    "gretap": frozenset({"key", "seq", "csum", "encap_limit", "udp_encap"}),
    "ipip": frozenset({"udp_encap"}),
    "sit": frozenset({"udp_encap"}),
    "ip6tnl": frozenset({"encap_limit", "udp_encap"}),
    "esp": frozenset({"cipher", "nat_t", "mode"}),
    "pppoe": frozenset(),
    "vlan": frozenset({"count"}),
    "mpls": frozenset({"count"}),
}
KINDS = tuple(KIND_OPTIONS)

# Linux link kinds and common names -> (kind, implied outer family).
KIND_ALIASES: dict[str, tuple[str, str | None]] = {
    "wg": ("wireguard", None),
    "ip6gre": ("gre", "ipv6"),
    "ip6gretap": ("gretap", "ipv6"),
    "ipsec": ("esp", None),
    "dot1q": ("vlan", None),
    "802.1q": ("vlan", None),
}
# Kinds whose outer header is fixed by the protocol; None = either family.
FIXED_FAMILY = {"ipip": "ipv4", "sit": "ipv4", "ip6tnl": "ipv6"}
# Kinds below IP (or beside it): the outer family does not change their size.
FAMILY_FREE = frozenset({"pppoe", "vlan", "mpls"})

_FAMILY_NAMES = {
    "ipv4": "ipv4", "4": "ipv4", "v4": "ipv4", "inet": "ipv4", "ip": "ipv4",
    "ipv6": "ipv6", "6": "ipv6", "v6": "ipv6", "inet6": "ipv6", "ip6": "ipv6",
}


def to_int(value: Any, what: str) -> int:
    """Accept ints and integral strings/floats (Jinja hands over both); reject the rest."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number of bytes, got the boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise ValueError(f"{what} must be a whole number of bytes, got {value!r}")


def _to_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{what} must be true or false, got {value!r}")


def normalize_family(family: Any) -> str:
    """Return 'ipv4' or 'ipv6' for the usual spellings (ipv4, inet, 4, ip6, ...)."""
    name = _FAMILY_NAMES.get(str(family).strip().lower()) if family is not None else None
    if name is None:
        raise ValueError(f"address family must be 'ipv4' or 'ipv6', got {family!r}")
    return name


def normalize_kind(kind: Any, outer_family: Any = None) -> tuple[str, str | None]:
    """Resolve aliases; return (kind, outer family or None when the kind does not care)."""
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"encapsulation kind must be a non-empty string, one of {', '.join(KINDS)}; got {kind!r}")
    name = kind.strip().lower()
    implied = None
    if name in KIND_ALIASES:
        name, implied = KIND_ALIASES[name]
    if name not in KIND_OPTIONS:
        raise ValueError(
            f"unknown encapsulation kind {kind!r}; use one of {', '.join(KINDS)} "
            f"(aliases: {', '.join(KIND_ALIASES)}); for anything else take the closest kind and add bytes with extra="
        )
    if name in FAMILY_FREE:
        if outer_family is not None:
            normalize_family(outer_family)  # still reject nonsense
        return name, None
    implied = implied or FIXED_FAMILY.get(name)
    family = normalize_family(outer_family) if outer_family is not None else (implied or "ipv4")
    if implied is not None and family != implied:
        hint = {"ipip": "ip6tnl", "sit": "ip6tnl", "ip6tnl": "ipip or sit"}.get(name, name)
        raise ValueError(
            f"{kind!r} always has an outer {implied} header, so outer_family={outer_family!r} is impossible; "
            f"drop outer_family or use kind {hint!r}"
        )
    return name, family


SHOWN_NAMES = 5  # unknown option names quoted in a message; thousands of them would drown it


def _some(names: list[str]) -> str:
    """The first few names (each cut to 40 characters) and how many more there are."""
    shown = ", ".join(name[:40] for name in names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _check_options(kind: str, options: dict[str, Any]) -> None:
    unknown = sorted(str(key) for key in set(options) - KIND_OPTIONS[kind] - {"extra"})
    if unknown:
        allowed = sorted(KIND_OPTIONS[kind] | {"extra"})
        what = f"option {unknown[0][:40]} does" if len(unknown) == 1 else f"options {_some(unknown)} do"
        raise ValueError(f"{what} not apply to {kind}, which accepts only {', '.join(allowed)}")


def _udp_encap(options: dict[str, Any]) -> int:
    value = options.get("udp_encap") or "none"
    if str(value).lower() not in UDP_ENCAP:
        raise ValueError(f"udp_encap must be one of {', '.join(UDP_ENCAP)}, got {value!r}")
    return UDP_ENCAP[str(value).lower()]


def _gre(family: str, options: dict[str, Any]) -> int:
    fields = sum(_to_bool(options.get(name, False), name) for name in ("key", "seq", "csum"))
    size = IP_HEADER[family] + GRE_HEADER + GRE_OPTIONAL_FIELD * fields + _udp_encap(options)
    if family == "ipv6" and _to_bool(options.get("encap_limit", True), "encap_limit"):
        size += IPV6_ENCAP_LIMIT_OPTION
    return size


def _geneve(family: str, options: dict[str, Any]) -> int:
    opt_len = to_int(options.get("options_len", 0), "options_len")
    if opt_len < 0 or opt_len > GENEVE_MAX_OPTIONS or opt_len % 4:
        raise ValueError(f"GENEVE options_len must be a multiple of 4 between 0 and {GENEVE_MAX_OPTIONS}, got {opt_len}")
    inner = ETHERNET_HEADER if _to_bool(options.get("inner_ethernet", True), "inner_ethernet") else 0
    return IP_HEADER[family] + UDP_HEADER + GENEVE_HEADER + opt_len + inner


def _count(options: dict[str, Any]) -> int:
    count = to_int(options.get("count", 1), "count")
    if count < 1:
        raise ValueError(f"count (tags or labels) must be at least 1, got {count}")
    return count


def esp_cipher(name: Any) -> list[EspCipher]:
    """The transforms to consider: one named cipher, or all of them for 'any'."""
    key = str(name if name is not None else ESP_ANY).strip().lower()
    if key == ESP_ANY:
        return list(ESP_CIPHERS.values())
    if key not in ESP_CIPHERS:
        raise ValueError(f"unknown ESP cipher {name!r}; use one of {', '.join(ESP_CIPHERS)} or {ESP_ANY!r} (worst case)")
    return [ESP_CIPHERS[key]]


def _esp_mode(options: dict[str, Any]) -> str:
    mode = str(options.get("mode", "tunnel")).lower()
    if mode not in ("tunnel", "transport"):
        raise ValueError(f"ESP mode must be 'tunnel' or 'transport', got {options.get('mode')!r}")
    return mode


def _esp_fixed(family: str, cipher: EspCipher, nat_t: bool, mode: str) -> int:
    """Bytes added before alignment padding: outer IP (tunnel mode), UDP (NAT-T), ESP, IV, ICV, trailer."""
    outer = IP_HEADER[family] if mode == "tunnel" else 0
    return outer + (NAT_T if nat_t else 0) + ESP_HEADER + cipher.iv + cipher.icv + ESP_TRAILER


def _esp(family: str, options: dict[str, Any]) -> int:
    nat_t = _to_bool(options.get("nat_t", True), "nat_t")
    mode = _esp_mode(options)
    return max(_esp_fixed(family, c, nat_t, mode) + c.block - 1 for c in esp_cipher(options.get("cipher")))


def encap_overhead(kind: str, outer_family: Any = None, **options: Any) -> int:
    """Bytes one encapsulation adds to an inner IP packet (worst case where it varies).

    ``outer_family`` defaults to what the kind implies (ipv6 for ip6tnl/ip6gre, else ipv4).
    Options: GRE/gretap ``key``/``seq``/``csum`` (+4 each) and ``encap_limit`` (outer IPv6 only,
    default true as Linux does, +8); ``udp_encap`` none/fou/gue for GRE and IP-in-IP kinds;
    GENEVE ``options_len`` and ``inner_ethernet``; ESP ``cipher`` (default 'any' = worst case),
    ``nat_t`` (default true = worst case) and ``mode``; VLAN/MPLS ``count``; any kind ``extra``.
    """
    name, family = normalize_kind(kind, outer_family)
    _check_options(name, options)
    extra = to_int(options.get("extra", 0), "extra")
    if extra < 0:
        raise ValueError(f"extra overhead must not be negative, got {extra}")
    if name == "wireguard":
        size = IP_HEADER[family] + UDP_HEADER + WIREGUARD_DATA
    elif name == "vxlan":
        size = IP_HEADER[family] + UDP_HEADER + VXLAN_HEADER + ETHERNET_HEADER
    elif name == "geneve":
        size = _geneve(family, options)
    elif name in ("gre", "gretap"):
        size = _gre(family, options) + (ETHERNET_HEADER if name == "gretap" else 0)
    elif name in ("ipip", "sit"):
        size = IP_HEADER["ipv4"] + _udp_encap(options)
    elif name == "ip6tnl":
        encap_limit = _to_bool(options.get("encap_limit", True), "encap_limit")
        size = IP_HEADER["ipv6"] + _udp_encap(options) + (IPV6_ENCAP_LIMIT_OPTION if encap_limit else 0)
    elif name == "esp":
        size = _esp(family, options)
    elif name == "pppoe":
        size = PPPOE_HEADER
    else:  # vlan, mpls
        size = TAG * _count(options)
    return size + extra


def _esp_tunnel_mtu(path_mtu: int, family: str, options: dict[str, Any]) -> int:
    """Largest inner packet ESP fits in ``path_mtu``, padding aligned as the kernel's xfrm_state_mtu() does."""
    nat_t = _to_bool(options.get("nat_t", True), "nat_t")
    mode = _esp_mode(options)
    extra = to_int(options.get("extra", 0), "extra")
    best = None
    for cipher in esp_cipher(options.get("cipher")):
        # In transport mode the inner IP header is not encrypted, so it is not padded either.
        clear = IP_HEADER[family] if mode == "transport" else 0
        room = path_mtu - extra - _esp_fixed(family, cipher, nat_t, mode) + ESP_TRAILER - clear
        fits = (room // cipher.block) * cipher.block + clear - ESP_TRAILER
        best = fits if best is None else min(best, fits)
    return best


def validate_mtu(mtu: Any, has_ipv6: bool = False, *, min_mtu: Any = None, max_mtu: Any = None,
                 what: str = "MTU") -> int:
    """Return ``mtu`` as int if an interface may use it, else raise ValueError saying what to do.

    ``min_mtu``/``max_mtu`` are the device's own limits (netlink IFLA_MIN_MTU/IFLA_MAX_MTU; 0 or
    None means no limit reported).
    """
    value = to_int(mtu, what)
    if value < IPV4_MIN_MTU:
        raise ValueError(f"{what} {value} is below {IPV4_MIN_MTU}, the smallest MTU IPv4 allows (RFC 791); use {IPV4_MIN_MTU} or more")
    if has_ipv6 and value < IPV6_MIN_MTU:
        raise ValueError(
            f"{what} {value} is below {IPV6_MIN_MTU}, the IPv6 minimum (RFC 8200), and this link carries IPv6; "
            f"use at least {IPV6_MIN_MTU} (Linux would silently remove IPv6 from the interface), or raise the underlay MTU"
        )
    if value > MAX_MTU:
        raise ValueError(f"{what} {value} is above {MAX_MTU}, the largest IP packet without jumbograms; use {MAX_MTU} or less")
    low = to_int(min_mtu, "min_mtu") if min_mtu else 0
    high = to_int(max_mtu, "max_mtu") if max_mtu else 0
    if low and value < low:
        raise ValueError(f"{what} {value} is below this device's minimum MTU {low}; use {low} or more")
    if high and value > high:
        raise ValueError(f"{what} {value} is above this device's maximum MTU {high}; use {high} or less")
    return value


def validate_path_mtu(path_mtu: Any, outer_family: str | None = None) -> int:
    """A measured or assumed underlay path MTU; an IPv6 underlay cannot be below 1280."""
    return validate_mtu(path_mtu, has_ipv6=outer_family == "ipv6", what="path MTU")


def tunnel_mtu(path_mtu: Any, kind: str, outer_family: Any = None, *, inner_ipv6: Any = False, **options: Any) -> int:
    """The largest tunnel MTU whose encapsulated packets fit a path of ``path_mtu`` bytes.

    This is ``path_mtu - encap_overhead(...)``, except for ESP, where the padding is computed
    exactly for each cipher (so up to block-1 bytes more than the worst case). WireGuard pads its
    plaintext to 16 bytes but never beyond the interface MTU, so path - 60 (IPv4) is exact.
    With ``inner_ipv6`` the result must also be at least 1280.
    """
    name, family = normalize_kind(kind, outer_family)
    path = validate_path_mtu(path_mtu, family)
    overhead = encap_overhead(kind, outer_family, **options)
    result = _esp_tunnel_mtu(path, family, options) if name == "esp" else path - overhead
    carries_ipv6 = _to_bool(inner_ipv6, "inner_ipv6")
    floor = IPV6_MIN_MTU if carries_ipv6 else IPV4_MIN_MTU
    if result < floor:
        why = "IPv6 inside the tunnel needs 1280 (RFC 8200)" if carries_ipv6 else "IPv4 needs 68 (RFC 791)"
        raise ValueError(
            f"a path MTU of {path} leaves only {result} bytes inside {name} ({overhead} bytes of overhead), "
            f"but {why}; raise the underlay MTU to at least {floor + (path - result)}"
        )
    return result


def mss(mtu: Any, family: Any = "ipv4") -> int:
    """TCP MSS for an MTU: MTU - 40 for IPv4, MTU - 60 for IPv6 (TCP options not counted, as on the wire)."""
    fam = normalize_family(family)
    value = validate_mtu(mtu, has_ipv6=fam == "ipv6")
    return value - TCP_IP_HEADERS[fam]
