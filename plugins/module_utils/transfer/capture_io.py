# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between transfer_check's two-ended capture and the host: a packet socket read by a thread.

While a transfer runs, a background thread reads a SOCK_DGRAM packet socket (all interfaces, both
directions) filtered by wire/bpf.peer_traffic and keeps at most ``max_packets`` packets of at most
``snaplen`` bytes each, so a capture is bounded whatever the transfer does. A thread, so that
neither the checking host's blocking sends nor the responder's event loop need to know. Writing
the pcap file is here too; what the packets mean is capture_analysis's business.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import stat
import struct
import tempfile
import threading
import time

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import pcap_format
from ansible_collections.netpath.mtu.plugins.module_utils.transfer.pcap_format import Packet
from ansible_collections.netpath.mtu.plugins.module_utils.wire import bpf

SNAPLEN = 256  # headers and ICMP quotes; the payload is zeros
MAX_PACKETS = 20000  # about 6 MB of pcap at most
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
RCVBUF = (8 << 20, 4 << 20)


class CaptureIO:
    def __init__(self, snaplen: int = SNAPLEN, max_packets: int = MAX_PACKETS) -> None:
        self.snaplen, self.max_packets = snaplen, max_packets
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._packets: list[Packet] = []
        self.truncated = False
        self.kernel_drops = 0

    def start(self, address: str, port: int) -> None:
        """Capture the TCP exchange on ``port`` with ``address`` (and its fragments, ICMP errors).
        Raises PermissionError without CAP_NET_RAW."""
        program = bpf.peer_traffic(ipaddress.ip_address(address).packed, port, self.snaplen)
        self._sock = bpf.open_capture(program, self.snaplen, rcvbuf=RCVBUF, outgoing=True)
        self._thread = threading.Thread(target=self._read, name="netpath-capture", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = bytearray(self.snaplen)
        sock = self._sock
        while not self._stop.is_set():
            ready, dummy, dummy2 = select.select([sock], [], [], 0.05)
            while ready:
                try:
                    # MSG_TRUNC: the length on the wire, not the snap length
                    length, addr = sock.recvfrom_into(buf, self.snaplen, socket.MSG_TRUNC)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return
                self._keep(Packet(time.time(), bytes(buf[:min(length, self.snaplen)]), length,
                                  addr[2] == PACKET_OUTGOING))

    def _keep(self, packet: Packet) -> None:
        with self._lock:
            if len(self._packets) >= self.max_packets:
                self.truncated = True
                return
            self._packets.append(packet)

    def packets(self, settle: float = 0.0) -> list[Packet]:
        """What was captured so far, after ``settle`` seconds for packets still in the socket."""
        if settle:
            time.sleep(settle)
        with self._lock:
            return list(self._packets)

    def stop(self) -> list[Packet]:
        """Stop capturing; every packet captured. Safe to call more than once."""
        if self._thread is not None:
            time.sleep(0.1)  # the last packets still in the socket
            self._stop.set()
            self._thread.join(2.0)
            self._thread = None
        if self._sock is not None:
            try:
                # struct tpacket_stats: packets, drops (reading it resets the counters)
                self.kernel_drops = struct.unpack("II", self._sock.getsockopt(bpf.SOL_PACKET, PACKET_STATISTICS, 8))[1]
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        return self.packets()

    @staticmethod
    def directory_problem(path: str) -> str | None:
        """Why ``path`` cannot hold the pcap (an existing non-directory on the way, a loop), or None."""
        probe = path
        while probe and not os.path.lexists(probe):
            probe = os.path.dirname(probe.rstrip("/")) or "/"
        try:
            if not stat.S_ISDIR(os.stat(probe).st_mode):  # follows links: a loop raises ELOOP
                return f"capture_dir {path}: {probe} is not a directory"
        except OSError as exc:
            return f"capture_dir {path}: {exc.strerror or exc}"
        return None

    @staticmethod
    def directory(path: str | None) -> str:
        """``path`` (created if missing), or a new private temporary directory."""
        if not path:
            return tempfile.mkdtemp(prefix="netpath-capture-")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def write(self, path: str, packets: list[Packet]) -> None:
        """The pcap file at ``path`` (readable by its owner only: it names hosts and ports)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pcap_format.encode(packets, self.snaplen))
