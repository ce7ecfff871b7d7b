#!/usr/bin/env python3
"""Zipf-distributed reads and writes with a ledger of every acknowledged write, for the resharding
test (docs/sharding.md, "Tests"; docs/performance.md, "Resharding 4 → 5 under Zipf load").

  ledger_load.py run --base URL --token TOKEN --ids FILE --out DIR [options]
      Threads send GET /users/{id} (Zipf over the ids: a few users far hotter than the rest),
      PUT /users/{id} (each user written by one thread only, so the last acknowledged value is
      the one that must be stored) and POST /users (new users). Bounded by --seconds and
      --requests; stops early when DIR/stop exists or on SIGTERM. Each request is tagged with the
      phase written in DIR/phase (re-read every 20 ms), so latencies before, during and after a
      move are told apart. Writes DIR/ledger (acknowledged writes: `put ID VALUE`, `create ID
      VALUE`), DIR/failures, DIR/progress (a JSON line a second) and DIR/summary.json (per phase
      and kind: count, failed, p50/p99/max ms).
  ledger_load.py audit --ledger FILE --rows FILE --map FILE
      Audits the ledger against every shard's rows (`shard|id|first_name|bucket` lines) and the
      final bucket map (JSON): each created user exactly once, each written user holding its last
      acknowledged value, no user on two shards, every row on the shard its bucket maps to.
      Prints a JSON report; exits 0 only when nothing is missing, doubled, stale or misplaced.
"""
import argparse
import bisect
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse

TIMEOUT_S = 10


def zipf_cdf(n, s):
    weights = [1.0 / (rank + 1) ** s for rank in range(n)]
    total, acc, cdf = sum(weights), 0.0, []
    for w in weights:
        acc += w / total
        cdf.append(acc)
    return cdf


def draw(rng, cdf):
    return min(bisect.bisect_left(cdf, rng.random()), len(cdf) - 1)


def profile(name):
    return json.dumps({"firstName": name, "lastName": "Ledger",
                       "address": {"streetAddress": "1 Main", "city": "Zipf", "state": "Z",
                                   "postalCode": 1}})


class Phase:
    def __init__(self, path):
        self.path, self.value = path, "before"

    def refresh(self):
        try:
            with open(self.path) as f:
                self.value = f.read().strip() or self.value
        except FileNotFoundError:
            pass


class Worker(threading.Thread):
    def __init__(self, index, args, ids, phase, stop, budget):
        super().__init__(daemon=True)
        self.index, self.args, self.ids, self.phase, self.stop, self.budget = \
            index, args, ids, phase, stop, budget
        self.rng = random.Random(index)
        self.read_cdf = zipf_cdf(len(ids), args.zipf)
        # This thread's own users (global ranks index, index + T, ...), Zipf over their ranks.
        self.own = ids[index::args.threads]
        self.write_cdf = zipf_cdf(len(self.own), args.zipf)
        self.samples = []  # (phase, kind, ms, ok)
        self.ledger, self.failures = [], []
        self.ok = self.failed = 0
        self.sequence = 0
        url = urllib.parse.urlsplit(args.base)
        self.host, self.port = url.hostname, url.port or 80
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.args.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more, fresh
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            sent = False
            try:
                self.conn.request(method, path, body=body, headers=headers)
                sent = True
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.conn.close()
                self.conn = None
                # Only a reused connection closed before any answer is retried: the request was
                # not processed (RFC 9112 §9.3.1 lets a client retry it); anything else fails.
                if attempt == 2 or (sent and method == "POST"):
                    return None, repr(e).encode()
            except Exception as e:  # timeouts and the rest: a failure, never retried
                self.conn.close()
                self.conn = None
                return None, repr(e).encode()
        return None, b"unreachable"

    def one(self):
        roll = self.rng.random()
        phase = self.phase.value
        if roll < self.args.create_share:
            kind = "write"
            self.sequence += 1
            name = f"C{self.index}x{self.sequence}"
            start = time.monotonic()
            status, body = self.request("POST", "/users", profile(name))
            ok = status == 201
            if ok:
                self.ledger.append(f"create {json.loads(body)['id']} {name}")
        elif roll < self.args.create_share + self.args.write_share:
            kind = "write"
            self.sequence += 1
            user = self.own[draw(self.rng, self.write_cdf)]
            name = f"W{self.index}x{self.sequence}"
            start = time.monotonic()
            status, body = self.request("PUT", f"/users/{user}", profile(name))
            ok = status == 200
            self.ledger.append(f"{'put' if ok else 'unknown'} {user} {name}")
        else:
            kind = "read"
            user = self.ids[draw(self.rng, self.read_cdf)]
            start = time.monotonic()
            status, body = self.request("GET", f"/users/{user}")
            ok = status == 200
        ms = (time.monotonic() - start) * 1000
        self.samples.append((phase, kind, ms, ok))
        if ok:
            self.ok += 1
        else:
            self.failed += 1
            self.failures.append(f"{phase} {kind} {status} {body[:200]!r}")

    def run(self):
        while not self.stop.is_set() and self.budget.take():
            self.one()


class Budget:
    def __init__(self, requests, seconds):
        self.left, self.deadline, self.lock = requests, time.monotonic() + seconds, threading.Lock()

    def take(self):
        with self.lock:
            if self.left <= 0 or time.monotonic() > self.deadline:
                return False
            self.left -= 1
            return True


def percentile(sorted_ms, p):
    if not sorted_ms:
        return None
    return round(sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))], 1)


def summarise(workers):
    groups = {}
    for w in workers:
        for phase, kind, ms, ok in w.samples:
            g = groups.setdefault(phase, {}).setdefault(kind, {"ms": [], "failed": 0})
            g["ms"].append(ms)
            g["failed"] += 0 if ok else 1
    out = {}
    for phase, kinds in groups.items():
        for kind, g in kinds.items():
            ms = sorted(g["ms"])
            out.setdefault(phase, {})[kind] = {
                "count": len(ms), "failed": g["failed"], "p50_ms": percentile(ms, 0.5),
                "p99_ms": percentile(ms, 0.99), "max_ms": round(ms[-1], 1)}
    return {"ok": sum(w.ok for w in workers), "failed": sum(w.failed for w in workers),
            "phases": out}


def run(args):
    with open(args.ids) as f:
        ids = [line.strip() for line in f if line.strip()]
    if len(ids) < args.threads:
        sys.exit(f"need at least {args.threads} ids, got {len(ids)}")
    os.makedirs(args.out, exist_ok=True)
    phase, stop = Phase(os.path.join(args.out, "phase")), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    budget = Budget(args.requests, args.seconds)
    workers = [Worker(i, args, ids, phase, stop, budget) for i in range(args.threads)]
    for w in workers:
        w.start()
    stop_file, progress = os.path.join(args.out, "stop"), open(os.path.join(args.out, "progress"), "w")
    last_progress = 0.0
    while any(w.is_alive() for w in workers):
        phase.refresh()
        if os.path.exists(stop_file):
            stop.set()
        if time.monotonic() - last_progress >= 1:
            last_progress = time.monotonic()
            progress.write(json.dumps({"ok": sum(w.ok for w in workers),
                                       "failed": sum(w.failed for w in workers),
                                       "phase": phase.value}) + "\n")
            progress.flush()
        time.sleep(0.02)  # the phase file's poll period, not a wait for a result
    for w in workers:
        w.join()
    with open(os.path.join(args.out, "ledger"), "w") as f:
        for w in workers:
            f.writelines(line + "\n" for line in w.ledger)
    with open(os.path.join(args.out, "failures"), "w") as f:
        for w in workers:
            f.writelines(line + "\n" for line in w.failures)
    summary = summarise(workers)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f)
    print(json.dumps(summary))


def read_rows(path):
    with open(path) as f:
        return [line.rstrip("\n").split("|") for line in f if line.strip()]


def moved(before_path, where):
    """What the reshard moved (rows whose shard changed) beside what `id % 4` -> `id % 5` would."""
    if not before_path:
        return {}
    before = {user: shard for shard, user, _, _ in read_rows(before_path)}
    changed = sum(1 for user, shard in before.items() if where.get(user, shard) != shard)
    modulo = sum(1 for user in before if int(user) % 4 != int(user) % 5)
    return {"rows_before": len(before), "moved_by_map": changed, "moved_by_modulo": modulo}


def audit(args):
    with open(args.map) as f:
        buckets = json.load(f)["buckets"]
    where, name_of = {}, {}
    misplaced, doubled = [], []
    for shard, user, first_name, bucket in read_rows(args.rows):
        if user in where:
            doubled.append(user)
        where[user], name_of[user] = shard, first_name
        if buckets[int(bucket)] != shard:
            misplaced.append(f"{user} (bucket {bucket}) on {shard}, map says {buckets[int(bucket)]}")
    created, last, unknown = {}, {}, set()
    with open(args.ledger) as f:
        for line in f:
            verb, user, value = line.split()
            if verb == "create":
                created[user] = value
            elif verb == "put":
                last[user] = value
            else:
                unknown.add(user)
    missing = [u for u in created if u not in where]
    missing += [f"{u}: created as {v}, stored {name_of[u]}" for u, v in created.items()
                if u in where and name_of[u] != v]
    stale = [f"{u}: stored {name_of.get(u)}, acknowledged last {v}" for u, v in last.items()
             if u not in unknown and name_of.get(u) != v and u not in created]
    report = {"rows": len(where), "creates": len(created), "users_written": len(last),
              **moved(args.before, where),
              "missing": missing, "doubled": doubled, "stale": stale, "misplaced": misplaced[:20],
              "misplaced_count": len(misplaced), "unknown_outcome": sorted(unknown)}
    print(json.dumps(report))
    sys.exit(0 if not (missing or doubled or stale or misplaced or unknown) else 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--base", required=True)
    r.add_argument("--token", required=True)
    r.add_argument("--ids", required=True, help="a file of user ids, hottest first")
    r.add_argument("--out", required=True)
    r.add_argument("--threads", type=int, default=8)
    r.add_argument("--seconds", type=float, default=300)
    r.add_argument("--requests", type=int, default=500_000)
    r.add_argument("--zipf", type=float, default=1.1)
    r.add_argument("--write-share", type=float, default=0.3)
    r.add_argument("--create-share", type=float, default=0.05)
    a = sub.add_parser("audit")
    a.add_argument("--ledger", required=True)
    a.add_argument("--rows", required=True)
    a.add_argument("--map", required=True)
    a.add_argument("--before", help="the rows before the reshard: report what moved")
    args = parser.parse_args()
    run(args) if args.command == "run" else audit(args)


if __name__ == "__main__":
    main()
