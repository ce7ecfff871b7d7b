#!/usr/bin/env python3
"""Memory per idle keep-alive connection: RSS of PID before and after N connections that each
made one request and stay open. Usage: idle_connections.py PID PORT PATH [N]"""
import resource, socket, sys, time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

pid, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

before = rss_kib()
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
    s.recv(65536)
    conns.append(s)
time.sleep(0.5)
after = rss_kib()
print(f"{(after - before) * 1024 / n:.0f}")
for s in conns:
    s.close()
