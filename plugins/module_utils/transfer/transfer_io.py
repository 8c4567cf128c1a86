# -*- coding: utf-8 -*-
# Copyright (c) netpath.mtu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seam between transfer_check and the host: plain TCP sockets, addressed by integer handles.

Nothing here decides anything; the module's driver does, so unit tests replace this class with
a fake that plays the network. A connection given up on is closed with an RST (SO_LINGER 0):
a normal close would leave the unsent bytes queued behind a FIN that never arrives.
"""

from __future__ import annotations

import errno
import itertools
import selectors
import socket
import struct
import time

TCP_INFO_LEN = 232
CHUNK = 64 * 1024


class TransferIO:
    def __init__(self) -> None:
        self._socks: dict[int, socket.socket] = {}
        self._ids = itertools.count(1)
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None

    @staticmethod
    def now() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def _add(self, sock: socket.socket) -> int:
        handle = next(self._ids)
        self._socks[handle] = sock
        return handle

    # -- checking side ------------------------------------------------------------------------

    def connect(self, peer: str, port: int, source: str | None, timeout: float, mss: int | None = None) -> int:
        """A connected socket's handle; raises OSError (ECONNREFUSED, ETIMEDOUT, ...). ``mss``: the
        MSS to announce (the peer then sends segments no larger)."""
        family = socket.AF_INET6 if ":" in peer else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if mss:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
            if source:
                sock.bind((source, 0))
            sock.settimeout(max(0.05, timeout))
            try:
                sock.connect((peer, port))
            except socket.timeout as exc:
                raise OSError(errno.ETIMEDOUT, "connection timed out") from exc
        except OSError:
            sock.close()
            raise
        return self._add(sock)

    def send(self, handle: int, data: memoryview | bytes, timeout: float) -> int:
        """Bytes the kernel took within ``timeout`` (0 when the send buffer stayed full)."""
        sock = self._socks[handle]
        sock.settimeout(max(0.01, timeout))
        try:
            return sock.send(data)
        except socket.timeout:
            return 0

    def recv(self, handle: int, size: int, timeout: float) -> bytes | None:
        """Up to ``size`` bytes; b"" at end of stream, None when nothing came within ``timeout``."""
        sock = self._socks[handle]
        sock.settimeout(max(0.01, timeout))
        try:
            return sock.recv(size)
        except socket.timeout:
            return None

    def tcp_info(self, handle: int) -> bytes:
        try:
            return self._socks[handle].getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN)
        except OSError:
            return b""

    def maxseg(self, handle: int) -> int | None:
        try:
            return self._socks[handle].getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        except OSError:
            return None

    def close(self, handle: int, abort: bool = False) -> None:
        sock = self._socks.pop(handle, None)
        if sock is None:
            return
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        if abort:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        sock.close()

    # -- responding side ----------------------------------------------------------------------

    def listen(self, address: str, port: int, backlog: int = 8) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((address, port))
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, 0)

    def stop_listening(self) -> None:
        if self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def poll(self, timeout: float) -> list[tuple]:
        """("accept", handle, (address, port)), ("data", handle, bytes), ("eof", handle), ("reset", handle)."""
        events: list[tuple] = []
        for key, dummy in self._sel.select(max(0.0, timeout)):
            if key.data == 0:
                try:
                    conn, addr = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                conn.setblocking(False)
                handle = self._add(conn)
                self._sel.register(conn, selectors.EVENT_READ, handle)
                events.append(("accept", handle, (addr[0], addr[1])))
                continue
            handle = key.data
            try:
                data = self._socks[handle].recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._sel.unregister(self._socks[handle])
                events.append(("reset", handle))
                continue
            if data:
                events.append(("data", handle, data))
            else:
                self._sel.unregister(self._socks[handle])
                events.append(("eof", handle))
        return events

    def reply(self, handle: int, data: bytes) -> bool:
        """Send a small reply on a responder connection; False when it could not go out."""
        sock = self._socks[handle]
        sock.settimeout(1.0)
        try:
            sock.sendall(data)
        except OSError:
            return False
        return True

    def close_all(self) -> None:
        """Reset every connection and stop listening; safe to call more than once."""
        for handle in list(self._socks):
            self.close(handle, abort=True)
        self.stop_listening()
