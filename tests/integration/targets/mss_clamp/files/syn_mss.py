"""Listen on PORT at each ADDRESS, accept one connection per address, print the MSS option of its SYN.

Usage: syn_mss.py PORT TIMEOUT ADDRESS...   Prints {"ipv4": MSS, "ipv6": MSS} (what arrived in time).
The kernel keeps the SYN's IP and TCP headers for us (TCP_SAVE_SYN / TCP_SAVED_SYN, Linux 4.2+), so
this is the MSS exactly as the server received it, after every router on the way.
"""
import json
import select
import socket
import struct
import sys
import time

TCP_SAVE_SYN, TCP_SAVED_SYN = 27, 28


def mss_of(headers):
    ip_len = (headers[0] & 0x0F) * 4 if headers[0] >> 4 == 4 else 40
    tcp = headers[ip_len:]
    options = tcp[20:(tcp[12] >> 4) * 4]
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = options[i + 1]
        if kind == 2 and length == 4:
            return struct.unpack("!H", options[i + 2:i + 4])[0]
        i += max(length, 2)
    return None


port, deadline, addresses = int(sys.argv[1]), time.monotonic() + float(sys.argv[2]), sys.argv[3:]
listeners = {}
for address in addresses:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)
    sock.bind((address, port))
    sock.listen(1)
    listeners[sock] = "ipv6" if family == socket.AF_INET6 else "ipv4"
result = {}
while listeners and time.monotonic() < deadline:
    ready, _w, _x = select.select(list(listeners), [], [], max(0.0, deadline - time.monotonic()))
    for sock in ready:
        conn, _peer = sock.accept()
        result[listeners.pop(sock)] = mss_of(conn.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512))
        conn.close()
        sock.close()
for sock in listeners:
    sock.close()
print(json.dumps(result))
