"""Accept TCP connections on ADDR PORT for at most DEADLINE seconds; answer each with the byte count."""
import socket
import sys
import time

addr, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((addr, port))
    server.listen(4)
    while time.monotonic() < deadline:
        server.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            conn, _peer = server.accept()
        except socket.timeout:
            break
        with conn:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            total = 0
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    total += len(chunk)
                conn.sendall(f"{total}\n".encode())
            except OSError:
                pass
