# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one seam for route lookups and IPv6 PMTU exception removal: raw rtnetlink, no pyroute2.

``route_get`` is ``ip route get`` (plus the egress device's name and MTU); ``delete_exception6``
removes one cached IPv6 route, as ``ip -6 route flush cache`` would for all. Requests are built and
replies parsed by pure functions (``route_request``, ``parse_route``, ``parse_link``); ``transact``
is the only function that talks to the kernel, so tests replace it alone.
"""

from __future__ import annotations

import os
import random
import socket
import struct
from dataclasses import dataclass, replace

RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_F_CLONED = 0x200
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_METRICS = 1, 2, 4, 5, 7, 8
RTA_CACHEINFO, RTA_TABLE, RTA_MARK = 12, 15, 16
RTAX_MTU = 2
IFLA_IFNAME, IFLA_MTU = 3, 4
RT_TABLE_MAIN = 254
RTN_LOCAL = 2
RTMSG = struct.Struct("BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
IFINFOMSG = struct.Struct("BxHiII")  # family, type, index, flags, change
NLMSGHDR = struct.Struct("IHHII")  # length, type, flags, seq, port id


class NoRoute(Exception):
    """The kernel has no route to the target (the message says why)."""


@dataclass(frozen=True)
class Route:
    """What a route lookup says. ``metric_mtu`` is the route's MTU, or the cached PMTU when ``cached``."""

    oif: int | None = None
    interface: str | None = None  # egress device name
    device_mtu: int | None = None
    prefsrc: str | None = None
    gateway: str | None = None
    table: int | None = None
    metric_mtu: int | None = None
    cached: bool = False  # a cached PMTU exception (IPv6: RTM_F_CLONED; IPv4: an expiring entry)
    local: bool = False  # the target is an address of this host (route type local)

    @property
    def exception_mtu(self) -> int | None:
        return self.metric_mtu if self.cached else None


def _af(family: int) -> int:
    return socket.AF_INET if family == 4 else socket.AF_INET6


def rta(kind: int, data: bytes) -> bytes:
    """One route attribute, padded to 4 bytes."""
    length = 4 + len(data)
    return struct.pack("HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def attrs(data: bytes) -> dict[int, bytes]:
    """Attributes by type (the nested flag masked off); the first of a type wins over none."""
    out: dict[int, bytes] = {}
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, off)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def messages(data: bytes) -> list[tuple[int, bytes]]:
    """A netlink reply as (type, payload) pairs."""
    msgs = []
    off = 0
    while off + NLMSGHDR.size <= len(data):
        length, mtype = struct.unpack_from("IH", data, off)
        if length < NLMSGHDR.size:
            break
        msgs.append((mtype, data[off + NLMSGHDR.size:off + length]))
        off += (length + 3) & ~3
    return msgs


def error_of(msgs: list[tuple[int, bytes]]) -> int:
    """The errno an NLMSG_ERROR reply carries; 0 for none (or an acknowledgement)."""
    for mtype, payload in msgs:
        if mtype == NLMSG_ERROR:
            return -struct.unpack_from("i", payload)[0]
    return 0


def transact(msg_type: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
    """Send one NETLINK_ROUTE request and read its reply."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:  # NETLINK_ROUTE
        nl.bind((0, 0))
        seq = random.randint(1, 1 << 30)
        nl.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body)
        return messages(nl.recv(65536))


def route_request(family: int, target: str, source: str | None = None, oif: int | None = None,
                  mark: int | None = None) -> bytes:
    """The RTM_GETROUTE body for one destination (``ip route get TARGET [from SOURCE] [oif N] [mark M]``)."""
    af = _af(family)
    bits = 32 if family == 4 else 128
    body = RTMSG.pack(af, bits, bits if source else 0, 0, 0, 0, 0, 0, 0)
    body += rta(RTA_DST, socket.inet_pton(af, target))
    if source:
        body += rta(RTA_SRC, socket.inet_pton(af, source))
    if oif:
        body += rta(RTA_OIF, struct.pack("I", oif))
    if mark:
        body += rta(RTA_MARK, struct.pack("I", mark))
    return body


def _u32(data: bytes | None) -> int | None:
    return struct.unpack_from("I", data)[0] if data is not None and len(data) >= 4 else None


def parse_route(family: int, payload: bytes) -> Route:
    """One RTM_NEWROUTE payload (without the device's name and MTU: see ``parse_link``)."""
    af = _af(family)
    route_type, flags = RTMSG.unpack_from(payload)[7:9]
    found = attrs(payload[RTMSG.size:])
    metric_mtu = None
    if RTA_METRICS in found:
        metric_mtu = _u32(attrs(found[RTA_METRICS]).get(RTAX_MTU))
    expires = 0
    if RTA_CACHEINFO in found and len(found[RTA_CACHEINFO]) >= 12:
        expires = struct.unpack_from("i", found[RTA_CACHEINFO], 8)[0]
    # IPv4 marks every lookup result "cloned"; an exception shows as an expiring MTU.
    cached = bool(flags & RTM_F_CLONED) if family == 6 else bool(expires)
    address = {kind: socket.inet_ntop(af, found[kind]) for kind in (RTA_PREFSRC, RTA_GATEWAY) if kind in found}
    return Route(oif=_u32(found.get(RTA_OIF)), prefsrc=address.get(RTA_PREFSRC), gateway=address.get(RTA_GATEWAY),
                 table=_u32(found.get(RTA_TABLE)), metric_mtu=metric_mtu, cached=cached,
                 local=route_type == RTN_LOCAL)


def parse_link(payload: bytes) -> tuple[str | None, int | None]:
    """(name, MTU) from one RTM_NEWLINK payload."""
    found = attrs(payload[IFINFOMSG.size:])
    name = found[IFLA_IFNAME].split(b"\0", 1)[0].decode() if IFLA_IFNAME in found else None
    return name, _u32(found.get(IFLA_MTU))


def link(index: int) -> tuple[str | None, int | None]:
    """(name, MTU) of one device (``ip link show dev N``); (None, None) when it cannot be read."""
    try:
        msgs = transact(RTM_GETLINK, NLM_F_REQUEST, IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0))
    except OSError:
        return None, None
    for mtype, payload in msgs:
        if mtype == RTM_NEWLINK:
            return parse_link(payload)
    return None, None


def route_get(family: int, target: str, source: str | None = None, oif: int | None = None,
              mark: int | None = None) -> Route:
    """What ``ip route get`` says, with the egress device's name and MTU. No packet is sent.

    Raises NoRoute when the kernel has none (or refuses the lookup), OSError when netlink fails.
    """
    msgs = transact(RTM_GETROUTE, NLM_F_REQUEST, route_request(family, target, source, oif, mark))
    err = error_of(msgs)
    if err:
        raise NoRoute(f"no route to {target}: {os.strerror(err)}")
    for mtype, payload in msgs:
        if mtype == RTM_NEWROUTE:
            route = parse_route(family, payload)
            if route.oif:
                name, mtu = link(route.oif)
                route = replace(route, interface=name, device_mtu=mtu)
            return route
    raise NoRoute(f"no route to {target}")


def is_local(address: str) -> bool:
    """Whether ``address`` is one of this host's (``ip route get ADDRESS`` says "local"). No packet is sent.

    When netlink cannot tell, it says True: binding the address then decides, with the kernel's error.
    """
    family = 6 if ":" in address else 4
    try:
        msgs = transact(RTM_GETROUTE, NLM_F_REQUEST, route_request(family, address))
    except OSError:
        return True
    if error_of(msgs):
        return False
    return any(parse_route(family, payload).local for mtype, payload in msgs if mtype == RTM_NEWROUTE)


def delete_request6(target: str, table: int | None) -> bytes:
    """The RTM_DELROUTE body that removes the cached IPv6 route to ``target`` (RTM_F_CLONED)."""
    tbl = table if table is not None and table < 256 else RT_TABLE_MAIN
    body = RTMSG.pack(socket.AF_INET6, 128, 0, 0, tbl, 0, 0, 0, RTM_F_CLONED)
    body += rta(RTA_DST, socket.inet_pton(socket.AF_INET6, target))
    if table is not None:
        body += rta(RTA_TABLE, struct.pack("I", table))
    return body


def delete_exception6(target: str, table: int | None) -> None:
    """Remove one cached IPv6 route (a PMTU exception); OSError with the kernel's errno when it refuses
    (ESRCH: there was none)."""
    err = error_of(transact(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, delete_request6(target, table)))
    if err:
        raise OSError(err, os.strerror(err))
