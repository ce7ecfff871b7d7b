#!/usr/bin/env python3
"""Peak memory of a server under the memory attacks of issue 13 (findings 1 and 4): N connections
that each send a chunked request whose chunk-extension (or trailer) line never ends, up to MIB
MiB each, and N anonymous uploads that announce 20 MiB. Prints the server's VmHWM (peak
resident) before and after, in MB, as JSON. Every send is bounded by count and by a 2 s socket
timeout; the whole run stops by itself. Usage: hostile_memory.py PID PORT [N] [MIB]"""
import json, socket, sys, threading

pid, port = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
mib = int(sys.argv[4]) if len(sys.argv) > 4 else 256


def hwm_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024


def endless_line(head):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(2)
    piece = b"a" * (64 * 1024)
    sent = 0
    try:
        s.sendall(head)
        while sent < mib << 20:
            s.sendall(piece)
            sent += len(piece)
    except OSError:
        pass  # the server answered and closed: what we want
    s.close()
    return sent


chunked = (b"POST /sessions HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n")
attacks = {
    "chunk_extension": chunked + b"1;",
    "trailer": chunked + b"2\r\n{}\r\n0\r\nX-T: ",
    "anonymous_upload": b"POST /users/12/photos HTTP/1.1\r\nHost: b\r\n"
                        b"Content-Type: image/png\r\nContent-Length: 20971520\r\n\r\n",
}
result = {"connections": n, "mib_per_connection": mib, "hwm_mb_before": round(hwm_mb(), 1)}
for name, head in attacks.items():
    sent = []
    threads = [threading.Thread(target=lambda: sent.append(endless_line(head))) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result[name] = {"hwm_mb_after": round(hwm_mb(), 1),
                    "max_mib_sent_before_refused": round(max(sent) / (1 << 20), 2)}
print(json.dumps(result))
