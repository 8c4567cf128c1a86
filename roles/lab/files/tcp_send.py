"""Send BYTES to ADDR PORT within TIMEOUT seconds; exit 0 when the sink confirms them, 3 if it stalls."""
import socket
import sys
import time

addr, port, size, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
start = time.monotonic()
try:
    with socket.create_connection((addr, port), timeout=timeout) as conn:
        conn.sendall(b"x" * size)
        conn.shutdown(socket.SHUT_WR)
        answer = conn.makefile().readline().strip()
except socket.timeout:
    print(f"stalled after {time.monotonic() - start:.1f}s sending {size} bytes")
    sys.exit(3)
print(f"sent {size} bytes, sink got {answer} in {time.monotonic() - start:.2f}s")
sys.exit(0 if answer == str(size) else 1)
