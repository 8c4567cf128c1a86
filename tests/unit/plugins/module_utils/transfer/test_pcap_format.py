# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pcap files are standard: scapy's rdpcap reads them, and they read back unchanged."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux
from scapy.utils import rdpcap

from ansible_collections.netpath.mtu.plugins.module_utils.transfer import pcap_format as pf

PACKETS = [
    pf.Packet(1700000000.25, bytes(IP(src="198.18.0.1", dst="198.18.3.2") / TCP(dport=33534)), 40, True),
    pf.Packet(1700000000.5, bytes(IPv6(src="2001:db8::2", dst="2001:db8::1") / TCP(sport=33534))[:50], 1500, False),
]


def test_scapy_reads_the_file(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(pf.encode(PACKETS, 256))
    got = rdpcap(str(path))
    assert len(got) == 2
    assert all(p.haslayer(CookedLinux) for p in got)
    assert [p[CookedLinux].pkttype for p in got] == [pf.PACKET_OUTGOING, pf.PACKET_HOST]
    assert got[0][IP].dst == "198.18.3.2" and got[0][TCP].dport == 33534
    assert got[1][IPv6].src == "2001:db8::2"
    assert [float(p.time) for p in got] == [1700000000.25, 1700000000.5]
    assert got[1].wirelen == 1500 + pf.SLL_HEADER.size


def test_round_trip():
    assert pf.decode(pf.encode(PACKETS, 256)) == PACKETS


@pytest.mark.parametrize("blob, message", [
    (b"", "too short"),
    (b"\x00" * 24, "bad magic"),
    (pf.FILE_HEADER.pack(pf.MAGIC, 2, 4, 0, 0, 256, 1), "link type 1"),
    (pf.file_header(256) + pf.RECORD_HEADER.pack(0, 0, 4, 4) + b"abcd", "truncated"),
])
def test_bad_files(blob, message):
    with pytest.raises(ValueError, match=message):
        pf.decode(blob)
