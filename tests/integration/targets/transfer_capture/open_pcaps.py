# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Open every pcap in a directory with scapy: each must be LINUX_SLL, not empty, with the packet count
the module reported where DIR/<name>.count says it.

Usage: open_pcaps.py DIR COUNT (COUNT: how many pcaps DIR must hold).
"""

import pathlib
import sys

from scapy.layers.l2 import CookedLinux
from scapy.utils import rdpcap


def main() -> int:
    pcaps = sorted(pathlib.Path(sys.argv[1]).glob("*.pcap"))
    if len(pcaps) != int(sys.argv[2]):
        print(f"expected 8 pcaps, found {len(pcaps)}: {[p.name for p in pcaps]}")
        return 1
    for path in pcaps:
        packets = rdpcap(str(path))
        count = path.with_suffix(".count")
        want = int(count.read_text()) if count.exists() else len(packets)
        if not packets or len(packets) != want or not all(p.haslayer(CookedLinux) for p in packets):
            print(f"{path.name}: {len(packets)} packets (want {want}), all cooked: "
                  f"{all(p.haslayer(CookedLinux) for p in packets)}")
            return 1
        print(f"{path.name}: {len(packets)} packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
