# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wire/netlink: requests and replies checked against pyroute2's encoder and decoder (an independent
implementation of rtnetlink), the error paths with a fake transport, and one real lookup of 127.0.0.1."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ansible_collections.netpath.mtu.plugins.module_utils.wire import netlink

rtmsg = pytest.importorskip("pyroute2.netlink.rtnl.rtmsg").rtmsg
ifinfmsg = pytest.importorskip("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg

CACHEINFO = {"rta_clntref": 0, "rta_lastuse": 0, "rta_error": 0, "rta_used": 0, "rta_id": 0, "rta_ts": 0, "rta_tsage": 0}


def encoded(msg, msg_type: int, **fields) -> bytes:
    """A whole netlink message (header included), as the kernel would send it."""
    for name, value in fields.items():
        msg[name] = value
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


def route_reply(family: int, attrs: list, flags: int = 0) -> bytes:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    return encoded(rtmsg(), netlink.RTM_NEWROUTE, family=af, dst_len=32 if family == 4 else 128, flags=flags,
                   table=254, attrs=attrs)


def link_reply(index: int, name: str, mtu: int) -> bytes:
    return encoded(ifinfmsg(), netlink.RTM_NEWLINK, index=index, attrs=[("IFLA_IFNAME", name), ("IFLA_MTU", mtu)])


def error_reply(err: int) -> bytes:
    payload = struct.pack("i", -err) + struct.pack("IHHII", 36, netlink.RTM_GETROUTE, 1, 7, 0)
    return struct.pack("IHHII", 16 + len(payload), netlink.NLMSG_ERROR, 0, 7, 0) + payload


def decoded_request(body: bytes):
    msg = rtmsg(struct.pack("IHHII", 16 + len(body), netlink.RTM_GETROUTE, 1, 1, 0) + body)
    msg.decode()
    return msg


@pytest.mark.parametrize("family, target, source, oif, mark", [
    (4, "198.18.2.2", None, None, None),
    (4, "198.18.2.2", "198.18.1.2", 3, 0xCA6C),
    (6, "fd00:3:2::2", "fd00::1", 7, None),
])
def test_route_request_decodes_in_pyroute2(family, target, source, oif, mark):
    msg = decoded_request(netlink.route_request(family, target, source, oif, mark))
    bits = 32 if family == 4 else 128
    assert msg["family"] == (socket.AF_INET if family == 4 else socket.AF_INET6)
    assert (msg["dst_len"], msg["src_len"]) == (bits, bits if source else 0)
    assert (msg.get_attr("RTA_DST"), msg.get_attr("RTA_SRC")) == (target, source)
    assert (msg.get_attr("RTA_OIF"), msg.get_attr("RTA_MARK")) == (oif, mark)


def test_delete_request_names_the_cached_route_in_its_table():
    msg = decoded_request(netlink.delete_request6("fd00:3:2::2", 1000))
    assert (msg["family"], msg["dst_len"], msg["flags"]) == (socket.AF_INET6, 128, netlink.RTM_F_CLONED)
    assert (msg["table"], msg.get_attr("RTA_TABLE"), msg.get_attr("RTA_DST")) == (254, 1000, "fd00:3:2::2")
    msg = decoded_request(netlink.delete_request6("fd00:3:2::2", None))
    assert (msg["table"], msg.get_attr("RTA_TABLE")) == (254, None)


@pytest.mark.parametrize("family, attrs, flags, expected", [
    # IPv4: a cached PMTU shows as an MTU metric that expires.
    (4, [("RTA_OIF", 3), ("RTA_PREFSRC", "198.18.1.2"), ("RTA_GATEWAY", "198.18.1.1"), ("RTA_TABLE", 254),
         ("RTA_METRICS", {"attrs": [("RTAX_MTU", 1400)]}), ("RTA_CACHEINFO", dict(CACHEINFO, rta_expires=580))],
     netlink.RTM_F_CLONED,
     netlink.Route(oif=3, prefsrc="198.18.1.2", gateway="198.18.1.1", table=254, metric_mtu=1400, cached=True)),
    # IPv4: every lookup is "cloned"; a route MTU that does not expire is no exception.
    (4, [("RTA_OIF", 3), ("RTA_METRICS", {"attrs": [("RTAX_MTU", 1420)]}), ("RTA_CACHEINFO", CACHEINFO)],
     netlink.RTM_F_CLONED, netlink.Route(oif=3, metric_mtu=1420)),
    (6, [("RTA_OIF", 4), ("RTA_PREFSRC", "fd00::1"), ("RTA_TABLE", 1000), ("RTA_METRICS", {"attrs": [("RTAX_MTU", 1280)]})],
     netlink.RTM_F_CLONED, netlink.Route(oif=4, prefsrc="fd00::1", table=1000, metric_mtu=1280, cached=True)),
    (6, [("RTA_OIF", 4), ("RTA_GATEWAY", "fe80::1")], 0, netlink.Route(oif=4, gateway="fe80::1")),
])
def test_parse_route_reads_what_pyroute2_encodes(family, attrs, flags, expected):
    ((mtype, payload),) = netlink.messages(route_reply(family, attrs, flags))
    assert mtype == netlink.RTM_NEWROUTE
    route = netlink.parse_route(family, payload)
    assert route == expected
    assert route.exception_mtu == (expected.metric_mtu if expected.cached else None)


def test_parse_link():
    ((mtype, payload),) = netlink.messages(link_reply(3, "wg0", 1420))
    assert (mtype, netlink.parse_link(payload)) == (netlink.RTM_NEWLINK, ("wg0", 1420))


class FakeKernel:
    """Stands in for ``transact``: records requests, answers from a table of replies by message type."""

    def __init__(self, monkeypatch, replies: dict):
        self.replies = replies
        self.requests: list = []
        monkeypatch.setattr(netlink, "transact", self)

    def __call__(self, msg_type, flags, body):
        self.requests.append((msg_type, flags, body))
        reply = self.replies[msg_type]
        if isinstance(reply, Exception):
            raise reply
        return netlink.messages(reply)


def test_route_get_adds_the_device_name_and_mtu(monkeypatch):
    attrs = [("RTA_OIF", 3), ("RTA_PREFSRC", "198.18.1.2"), ("RTA_TABLE", 254)]
    kernel = FakeKernel(monkeypatch, {netlink.RTM_GETROUTE: route_reply(4, attrs), netlink.RTM_GETLINK: link_reply(3, "eth0", 1500)})
    route = netlink.route_get(4, "198.18.2.2", mark=51820)
    assert route == netlink.Route(oif=3, interface="eth0", device_mtu=1500, prefsrc="198.18.1.2", table=254)
    assert [(t, f) for t, f, _body in kernel.requests] == [(netlink.RTM_GETROUTE, netlink.NLM_F_REQUEST),
                                                           (netlink.RTM_GETLINK, netlink.NLM_F_REQUEST)]
    assert struct.unpack_from("i", kernel.requests[1][2], 4)[0] == 3  # ifi_index
    assert decoded_request(kernel.requests[0][2]).get_attr("RTA_MARK") == 51820


def test_route_get_without_the_device_still_answers(monkeypatch):
    FakeKernel(monkeypatch, {netlink.RTM_GETROUTE: route_reply(4, [("RTA_OIF", 3)]),
                             netlink.RTM_GETLINK: PermissionError(errno.EPERM, "denied")})
    assert netlink.route_get(4, "198.18.2.2") == netlink.Route(oif=3)


@pytest.mark.parametrize("reply, msg", [
    (error_reply(errno.ENETUNREACH), "no route to 198.18.7.99: Network is unreachable"),
    (b"", "no route to 198.18.7.99"),
])
def test_no_route(monkeypatch, reply, msg):
    FakeKernel(monkeypatch, {netlink.RTM_GETROUTE: reply})
    with pytest.raises(netlink.NoRoute) as exc:
        netlink.route_get(4, "198.18.7.99")
    assert str(exc.value) == msg


def test_delete_exception6_acknowledged_or_refused(monkeypatch):
    kernel = FakeKernel(monkeypatch, {netlink.RTM_DELROUTE: error_reply(0)})
    netlink.delete_exception6("fd00:3:2::2", 254)
    ((msg_type, flags, body),) = kernel.requests
    assert (msg_type, flags, body) == (netlink.RTM_DELROUTE, netlink.NLM_F_REQUEST | netlink.NLM_F_ACK,
                                       netlink.delete_request6("fd00:3:2::2", 254))
    kernel.replies[netlink.RTM_DELROUTE] = error_reply(errno.ESRCH)
    with pytest.raises(OSError) as exc:
        netlink.delete_exception6("fd00:3:2::2", 254)
    assert exc.value.errno == errno.ESRCH


def test_a_real_lookup_of_the_loopback_address():
    """The kernel itself answers (no privileges needed): 127.0.0.1 is reached through lo."""
    route = netlink.route_get(4, "127.0.0.1")
    assert route.interface == "lo" == socket.if_indextoname(route.oif)
    assert route.prefsrc == "127.0.0.1" and not route.cached
    with open("/sys/class/net/lo/mtu", encoding="ascii") as handle:
        assert route.device_mtu == int(handle.read())


@pytest.mark.parametrize("route_type, local", [(netlink.RTN_LOCAL, True), (1, False), (3, False)])  # local, unicast, broadcast
def test_is_local_reads_the_route_type(monkeypatch, route_type, local):
    reply = encoded(rtmsg(), netlink.RTM_NEWROUTE, family=socket.AF_INET, dst_len=32, table=255, type=route_type,
                    attrs=[("RTA_OIF", 1)])
    kernel = FakeKernel(monkeypatch, {netlink.RTM_GETROUTE: reply})
    assert netlink.is_local("198.18.0.1") is local
    ((msg_type, _flags, body),) = kernel.requests  # one lookup, no link query
    assert msg_type == netlink.RTM_GETROUTE and decoded_request(body).get_attr("RTA_DST") == "198.18.0.1"
    assert netlink.parse_route(4, netlink.messages(reply)[0][1]).local is local


def test_is_local_without_a_route_or_without_netlink(monkeypatch):
    kernel = FakeKernel(monkeypatch, {netlink.RTM_GETROUTE: error_reply(errno.ENETUNREACH)})
    assert netlink.is_local("198.51.100.7") is False
    kernel.replies[netlink.RTM_GETROUTE] = PermissionError(errno.EPERM, "denied")
    assert netlink.is_local("198.51.100.7") is True  # cannot tell: binding the address decides


def test_a_real_is_local():
    """The kernel answers: the loopback addresses are this host's, TEST-NET-2 is nobody's."""
    assert netlink.is_local("127.0.0.1") and netlink.is_local("::1")
    assert not netlink.is_local("198.51.100.7")
