# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between ptb_check and the host: sockets, capture (wire/bpf.py) and routes (wire/netlink.py).

Checking side: a connected UDP socket with IP_RECVERR / IPV6_RECVERR receives the responder's
acknowledgements and, in its error queue, every ICMP error the kernel matched to the flow.
The probes themselves leave through an IPPROTO_RAW socket with the UDP socket's own addresses
and ports, so they are the same flow to conntrack and firewalls, with DF set.

Why raw: for IPv4 the UDP socket is in IP_PMTUDISC_INTERFACE mode, in which the kernel still
queues EMSGSIZE with the announced MTU for an accepted frag-needed but does not cache a path
MTU: Linux cannot remove one IPv4 exception without flushing all of them, so none is made.
In that mode the socket itself would send without DF, hence the raw socket. IPv6 only queues
the error when the socket accepts PMTU updates, so there the exception is made, and removed
afterwards for that one destination (RTM_DELROUTE with RTM_F_CLONED).

Responding side: a UDP socket bound to one address and port (so no port-unreachable goes out
and the kernel accepted the probe), a packet socket with a BPF filter that captures each
probe's exact bytes for the quote, and an IPPROTO_RAW socket that sends the ICMP error through
the host's OUTPUT path like a router's own error.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from typing import Any

from ansible_collections.netpath.mtu.plugins.module_utils.wire import bpf, netlink

PACKET_OUTGOING = 4
IP_RECVERR, IPV6_RECVERR = 11, 25
IP_MTU_DISCOVER, IPV6_MTU_DISCOVER = 10, 23
IP_PMTUDISC_INTERFACE, IPV6_PMTUDISC_DO = 4, 2
SNAPLEN = 2048  # enough for any quote (at most 1232 bytes are quoted)
MAX_DATAGRAM = 65535


class PtbIOError(Exception):
    """A condition the module reports as a failure with this message."""


def _af(family: int) -> int:
    return socket.AF_INET if family == 4 else socket.AF_INET6


def _permission(exc: OSError, what: str) -> PtbIOError:
    return PtbIOError(f"{what} needs root or CAP_NET_RAW ({exc.strerror}); run the task with become: true")


class PtbIO:
    """Sockets and route lookups for one ptb_check run (either side)."""

    def __init__(self) -> None:
        self._udp: socket.socket | None = None
        self._raw: socket.socket | None = None
        self._cap: socket.socket | None = None
        self._poll = select.poll()

    # -- time ---------------------------------------------------------------------------------

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # -- routes -------------------------------------------------------------------------------

    def route(self, peer: str, source: str | None = None) -> dict[str, Any] | None:
        """``ip route get PEER``: source, device and its MTU, route MTU, cached PMTU exception."""
        try:
            found = netlink.route_get(6 if ":" in peer else 4, peer, source)
        except Exception:  # pylint: disable=broad-exception-caught
            return None
        return {
            "source": found.prefsrc or source,
            "interface": found.interface,
            "device_mtu": found.device_mtu,
            "route_mtu": None if found.cached and found.metric_mtu else found.metric_mtu,
            "exception_mtu": found.metric_mtu if found.cached and found.metric_mtu else None,
            "table": found.table,
        }

    def delete_exception(self, peer: str, table: int | None) -> None:
        """Remove the cached IPv6 route (PMTU exception) for ``peer`` only."""
        netlink.delete_exception6(peer, table or netlink.RT_TABLE_MAIN)

    # -- checking side ------------------------------------------------------------------------

    def open_checker(self, family: int, peer: str, port: int, source: str | None) -> tuple[str, int]:
        """The probe flow's UDP socket and the raw socket that sends its probes; returns (source, port)."""
        udp = socket.socket(_af(family), socket.SOCK_DGRAM)
        self._udp = udp
        if family == 4:
            udp.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            udp.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_INTERFACE)
        else:
            udp.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            udp.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
        udp.bind((source or "", 0))
        udp.connect((peer, port))
        udp.setblocking(False)
        self._poll.register(udp, select.POLLIN | select.POLLERR)
        try:
            self._raw = socket.socket(_af(family), socket.SOCK_RAW, socket.IPPROTO_RAW)
        except PermissionError as exc:
            raise _permission(exc, "sending probes with their own IP header") from exc
        local = udp.getsockname()
        return local[0], local[1]

    def send_raw(self, packet: bytes, dst: str) -> int | None:
        """Send a complete IP packet; None when it left, else the errno (EPERM: a local firewall)."""
        try:
            self._raw.sendto(packet, (dst, 0))
        except OSError as exc:
            return exc.errno or errno.EIO
        return None

    def send_datagram(self, data: bytes) -> int | None:
        """Send on the probe flow's UDP socket (its messages to the responder)."""
        try:
            self._udp.send(data)
        except OSError as exc:
            return exc.errno or errno.EIO
        return None

    def wait_checker(self, timeout: float) -> list[tuple]:
        """Up to ``timeout`` s for news: ("datagram", bytes) and ("error", raw sock_extended_err bytes)."""
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return []
        events: list[tuple] = []
        udp = self._udp
        while True:
            try:
                dummy, ancdata, dummy_flags, dummy_addr = udp.recvmsg(64, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                break
            for level, kind, data in ancdata:
                if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                    events.append(("error", data))
        while True:
            try:
                data = udp.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # the pending error of an ICMP already read from the error queue
            events.append(("datagram", data))
        return events

    # -- responding side ----------------------------------------------------------------------

    def open_responder(self, address: str, port: int) -> None:
        family = 6 if ":" in address else 4
        # Capture first: every probe the socket receives has then been captured for quoting.
        try:
            self._cap = bpf.open_capture(bpf.udp_dport(port, SNAPLEN), SNAPLEN)
            self._raw = socket.socket(_af(family), socket.SOCK_RAW, socket.IPPROTO_RAW)
        except PermissionError as exc:
            raise _permission(exc, "capturing probes and sending ICMP errors") from exc
        udp = socket.socket(_af(family), socket.SOCK_DGRAM)
        self._udp = udp
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == 6:
            udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            udp.bind((address, port))
        except OSError as exc:
            raise PtbIOError(f"cannot listen on {address} port {port}: {exc.strerror}") from exc
        udp.setblocking(False)
        self._poll.register(self._cap, select.POLLIN)
        self._poll.register(udp, select.POLLIN)

    def wait_responder(self, timeout: float) -> list[tuple]:
        """Up to ``timeout`` s: ("captured", bytes) first, then ("datagram", bytes, (address, port))."""
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return []
        events: list[tuple] = []
        while True:
            try:
                data, addr = self._cap.recvfrom(SNAPLEN)
            except (BlockingIOError, InterruptedError):
                break
            if len(addr) > 2 and addr[2] == PACKET_OUTGOING:
                continue
            events.append(("captured", data))
        while True:
            try:
                data, addr = self._udp.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            events.append(("datagram", data, (addr[0], addr[1])))
        return events

    def send_reply(self, data: bytes, address: str, port: int) -> int | None:
        try:
            self._udp.sendto(data, (address, port))
        except OSError as exc:
            return exc.errno or errno.EIO
        return None

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        for sock in (self._udp, self._raw, self._cap):
            if sock is not None:
                try:
                    self._poll.unregister(sock)
                except (KeyError, ValueError):
                    pass
                sock.close()
        self._udp = self._raw = self._cap = None
