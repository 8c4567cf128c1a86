# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TCP listener on [::]:PORT (IPv4 too) that accepts nothing and exits by itself after SECONDS."""

from __future__ import annotations

import socket
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    sock.listen(128)
    time.sleep(seconds)
