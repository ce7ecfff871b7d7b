#!/usr/bin/env python3
"""Purge latency from the client's side (docs/cdn.md, issue 15): N times, both edges hold
GET /users/ID; PUT /users/ID at the origin (lb1); from the moment the client has the 200 (the
commit is before it) poll every edge with keep-alive GETs until each answers the new ETag.
Latency = the slowest edge. Prints p50/p90/p99/max in ms, and how many first polls were already
fresh. Run inside a client namespace of the lab's cdn stage (bench/cdn_purge.sh does)."""
import http.client, json, statistics, sys, time

lb, edges, n, user = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
path = "/users/" + user

def conn(hostport):
    return http.client.HTTPConnection(hostport, timeout=5)

def get(c, p, headers=None):
    c.request("GET", p, headers=headers or {})
    r = c.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()

origin = conn(lb)
origin.request("POST", "/sessions", json.dumps({"email": "john.smith@example.com",
               "password": "john-demo-password"}), {"Content-Type": "application/json"})
token = json.loads(origin.getresponse().read())["token"]
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
edge_conns = [conn(e) for e in edges]
deadline = time.monotonic() + 20  # each edge's probe must see the origin healthy first
for c in edge_conns:
    while get(c, path)[0] != 200:
        if time.monotonic() > deadline:
            sys.exit("an edge does not answer 200 for " + path)
        time.sleep(0.1)
latencies, polls = [], []
for i in range(n):
    for c in edge_conns:  # each edge holds the current version (a hit after the first GET)
        get(c, path)
        status, h, body = get(c, path)
    user_doc = json.loads(body)
    user_doc["address"]["city"] = "Purge %d" % i
    origin.request("PUT", path, json.dumps(user_doc), dict(auth, **{"If-Match": h["etag"]}))
    r = origin.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("PUT answered %d" % r.status)
    new_tag = r.getheader("ETag")
    t0 = time.monotonic()
    slowest, count = 0.0, 0
    for c in edge_conns:
        while True:
            count += 1
            _, h2, _ = get(c, path)
            if h2.get("etag") == new_tag:
                break
            if time.monotonic() - t0 > 5:
                sys.exit("edge still stale 5 s after the write")
            time.sleep(0.002)
        slowest = max(slowest, time.monotonic() - t0)
    latencies.append(slowest * 1000)
    polls.append(count)
latencies.sort()
q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
print("writes %d  edges %d  purge latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  "
      "(fresh at the first poll of every edge: %d)" % (n, len(edges), q(0.5), q(0.9), q(0.99),
      latencies[-1], sum(1 for c in polls if c == len(edges))))
