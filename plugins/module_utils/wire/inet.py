# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Internet arithmetic and input checks shared by the probers (path_mtu_info, ptb_check, transfer_check). Pure.

The checks return the one sentence that says what is wrong and what to give instead, or None; the
callers collect them before anything is sent. Whether an address belongs to this host is asked
through a callable (the system side is wire/netlink.is_local).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from typing import Any, Callable, Union

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

UNICAST_HINT = "give a unicast address with global or unique-local scope"
LOCAL_HINT = "give a unicast address of this host with global or unique-local scope"
LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# Linux: at most IFNAMSIZ - 1 bytes, no '/', no blanks, not "." or ".."; stricter here (what ip(8) users
# type, and what every tool quotes safely): ASCII letters, digits and _ . : @ + -, not starting with '-'
# (an option to every tool).
IFNAME = re.compile(r"[A-Za-z0-9_.:@+][A-Za-z0-9_.:@+-]{0,14}")
MAX_HOST_NAME = 253
MAX_LABEL = 63


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def scope_problem(addr: Address) -> str | None:
    """What ``addr`` is when it cannot be one end of a routed path ("link-local", ...), else None."""
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_multicast:
        return "multicast"
    if addr.is_link_local:
        return "link-local"
    if addr == LIMITED_BROADCAST:
        return "the broadcast address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return "IPv4-mapped (give the IPv4 address itself)"
    return None


def check_address(value: str, what: str, scoped: bool = True, hint: str = UNICAST_HINT) -> str | None:
    """Why ``value`` cannot be used as ``what``, or None. ``scoped``: only global or unique-local unicast."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return f"{what} {value!r} is not an IP address"
    problem = scope_problem(addr) if scoped else None
    if problem:
        return f"{what} {value} is {problem}; {hint}"
    return None


def check_local_address(value: str, what: str, is_local: Callable[[str], bool] | None) -> str | None:
    """Why ``value`` cannot be this host's end of a routed path (``is_local`` None: the syntax and scope only)."""
    error = check_address(value, what, hint=LOCAL_HINT)
    if error is None and is_local is not None and not is_local(str(ipaddress.ip_address(value))):
        return f"{what} {value} is not an address of this host"
    return error


def interface_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a Linux interface name ("is not ..."), or None. The one rule of the collection."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a name"
    if name in (".", ".."):
        return "is not a valid Linux interface name"
    if len(name) > 15:
        return "is not a valid Linux interface name (at most 15 characters)"
    if not IFNAME.fullmatch(name) or name.endswith("."):
        return ("is not a valid Linux interface name (ASCII letters, digits and _ . : @ + -, not starting with '-' "
                "or ending with '.')")
    return None


def check_interface_name(name: str, what: str = "interface") -> str | None:
    """Why ``name`` cannot be a Linux interface name, or None (whether it exists is the caller's question)."""
    problem = interface_name_problem(name)
    return f"{what} {name!r} {problem}" if problem else None


def check_host_name(name: str, what: str) -> str | None:
    """Why ``name`` (not an IP address) cannot be resolved as a host name, or None."""
    labels = name.rstrip(".").split(".")
    if not name or any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"{what} {name!r} is not a host name or IP address"
    if len(name) > MAX_HOST_NAME or any(not 0 < len(label) <= MAX_LABEL for label in labels):
        return (f"{what} {name!r} is not a host name (at most {MAX_HOST_NAME} characters, dot-separated labels"
                f" of 1 to {MAX_LABEL})")
    # An all-numeric last label is no host name (RFC 1123 2.1) but an address shorthand such as 198.18.0,
    # which the resolver would turn into another address (198.18.0.0).
    if labels[-1].isdigit() or re.fullmatch(r"0[xX][0-9a-fA-F]*", labels[-1]):
        return f"{what} {name!r} is not a valid IP address (IPv4 has four parts of 0 to 255) nor a host name"
    return None


def literal(target: str) -> Address | None:
    """The address when the target is one (a zone index is ignored), else None."""
    try:
        return ipaddress.ip_address(target.split("%")[0])
    except ValueError:
        return None


def split_port(target: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6addr]:port`` or ``[v6addr]`` -> (host, port or None); an IPv6 address without
    brackets has no port. Raises ValueError naming the target."""
    if target.startswith("["):
        host, sep, rest = target[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"targets: {target!r} must be [IPv6 address] or [IPv6 address]:port")
        if literal(host) is None or literal(host).version != 6:
            raise ValueError(f"targets: {target!r} has brackets around something that is no IPv6 address")
        port = rest[1:] if rest else None
    elif target.count(":") == 1:
        host, port = target.split(":")
    else:
        return target, None
    if port is None:
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"targets: {target!r} has a port that is not a number between 1 and 65535")
    return host, int(port)
