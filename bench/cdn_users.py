#!/usr/bin/env python3
"""Users for the CDN offload benchmark (bench/cdn_numbers.sh), through the origin (lb1) as the
demo admin. Run inside a lab client namespace.

  cdn_users.py seed ORIGIN N IDS      creates users (4 connections) until there are N, the demo's
                                      22 included; writes every id to the file IDS, one a line
                                      (ids are the server's snowflakes, not 1..N)
  cdn_users.py write ORIGIN IDS S RATE SECONDS
                                      PATCH /users/{id} (the id of rank r in IDS drawn from
                                      Zipf(S), as bench/zipf_users.lua reads) at RATE per second
                                      for SECONDS; prints the writes done
"""
import bisect, http.client, json, random, sys, threading, time
from urllib.parse import urlsplit


def connect(origin):
    u = urlsplit(origin)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)


def call(c, method, path, body=None, headers=None):
    c.request(method, path, None if body is None else json.dumps(body),
              dict({"Content-Type": "application/json"}, **(headers or {})))
    r = c.getresponse()
    return r.status, r.read()


def admin_token(origin):
    status, body = call(connect(origin), "POST", "/sessions",
                        {"email": "admin@example.com", "password": "admin-demo-password"})
    if status != 201 and status != 200:
        sys.exit("admin login answered %d: %s" % (status, body[:200]))
    return {"Authorization": "Bearer " + json.loads(body)["token"]}


def user(i):
    return {"firstName": "Zipf", "lastName": "User%d" % i,
            "address": {"streetAddress": "%d Rank Road" % i, "city": "Bench", "state": "NY",
                        "postalCode": 10000 + i % 90000},
            "phoneNumbers": ["555 %07d" % i]}


def seed(origin, n, ids_file):
    auth = admin_token(origin)
    c = connect(origin)
    ids, after = [], 0
    while True:  # the users already there (the demo's): GET /users pages
        status, body = call(c, "GET", "/users?after=%d&limit=100" % after)
        page = json.loads(body)["users"] if status == 200 else []
        ids += [u["id"] for u in page]
        if len(page) < 100:
            break
        after = page[-1]["id"]
    todo, errors, lock = n - len(ids), [], threading.Lock()
    deadline = time.monotonic() + 300

    def creator(k):
        c = connect(origin)
        while time.monotonic() < deadline and not errors:
            with lock:
                if len(ids) >= n:
                    return
            status, body = call(c, "POST", "/users", user(k), auth)
            if status != 201:
                errors.append("POST /users answered %d: %s" % (status, body[:200]))
                return
            with lock:
                ids.append(json.loads(body)["id"])
            k += 4

    threads = [threading.Thread(target=creator, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors or len(ids) < n:
        sys.exit(errors[0] if errors else "only %d users after 300 s" % len(ids))
    with open(ids_file, "w") as f:
        f.write("".join("%d\n" % i for i in ids[:n]))
    print("users: %d (%d created)" % (n, todo))


def write(origin, ids_file, s, rate, seconds):
    auth = admin_token(origin)
    ids = open(ids_file).read().split()
    weights = [i ** -s for i in range(1, len(ids) + 1)]
    cdf, acc = [], 0.0
    for w in weights:
        acc += w
        cdf.append(acc)
    rng = random.Random(7)
    c = connect(origin)
    done, failed, t0 = 0, 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        i = ids[bisect.bisect_left(cdf, rng.random() * acc)]
        status, _ = call(c, "PATCH", "/users/" + i, {"address": {"city": "W%d" % done}}, auth)
        done += status == 200
        failed += status != 200
        time.sleep(max(0.0, t0 + (done + failed) / rate - time.monotonic()))
    print("writes %d (failed %d) in %.1f s" % (done, failed, time.monotonic() - t0))


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]),
              float(sys.argv[6]))
    else:
        sys.exit(__doc__)
