#!/usr/bin/env python3
"""Peak memory of a server under the memory attacks of issue 13 (findings 1 and 4): N connections
that each send a chunked request whose chunk-extension (or trailer) line never ends, up to MIB
MiB each, and N anonymous uploads that announce 20 MiB. Prints the server's VmHWM (peak
resident) before and after, in MB, as JSON. Every send is bounded by count and by a 2 s socket
timeout; the whole run stops by itself. With MEDIA_DIR (the server's media.dir, local blob
store), also READERS clients that ask for one 10.8 MB blob and read nothing: the server's VmRSS
before and at its highest while they wait (finding 4's second half: GET /media streams).
Usage: hostile_memory.py PID PORT [N] [MIB] [MEDIA_DIR] [READERS]"""
import hashlib, json, os, select, socket, sys, threading, time

pid, port = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
mib = int(sys.argv[4]) if len(sys.argv) > 4 else 256
media_dir = sys.argv[5] if len(sys.argv) > 5 else None
readers = int(sys.argv[6]) if len(sys.argv) > 6 else 40


def status_mb(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024


def hwm_mb():
    return status_mb("VmHWM")


def slow_media_readers():
    """READERS connections ask for a 10.8 MB blob and read nothing (a 64 KiB receive buffer, so
    the kernel cannot take the body off the server's hands). Waits, bounded, until every one has
    its response's first bytes, then samples VmRSS for 2 s (every 50 ms); the highest counts."""
    blob = os.urandom(10_800_000)
    key = hashlib.sha256(blob).hexdigest() + ".png"
    os.makedirs(os.path.join(media_dir, key[:2]), exist_ok=True)
    with open(os.path.join(media_dir, key[:2], key), "wb") as f:
        f.write(blob)
    del blob
    before = status_mb("VmRSS")
    socks = []
    for _ in range(readers):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /media/{key} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        socks.append(s)
    waiting, peak, deadline = set(socks), before, time.monotonic() + 10
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [], 0.05)
        waiting -= set(ready)
        peak = max(peak, status_mb("VmRSS"))
    for _ in range(40):
        time.sleep(0.05)  # the sampling interval
        peak = max(peak, status_mb("VmRSS"))
    for s in socks:
        s.close()
    return {"readers": readers, "blob_mb": 10.8, "answered": readers - len(waiting),
            "rss_mb_before": round(before, 1), "rss_mb_peak": round(peak, 1)}


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
if media_dir:
    result["slow_media_readers"] = slow_media_readers()
print(json.dumps(result))
