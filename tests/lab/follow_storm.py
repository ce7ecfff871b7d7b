#!/usr/bin/env python3
"""A follow storm (docs/sharding.md, "Celebrities"), for the sharding lab test.

  follow_storm.py --base URL --tokens FILE --targets FILE --out DIR [--seconds S] [--requests N]

One thread per session token (one follower each) follows and unfollows its target (follower i:
line i mod n of --targets), back to back, reading the target's document between the two, until
--seconds or --requests run out. One target is a celebrity's storm; as many targets as followers
is the same load spread over users, the control. Writes DIR/expected (`target follower` for each
follower whose last acknowledged change was a follow: the edges there must be once the relay has
passed) and prints a JSON summary (failures, p50/p99/max ms per kind). Exits 1 if a request
failed.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

from ledger_load import Budget, percentile  # beside this file


class Follower(threading.Thread):
    def __init__(self, args, token, target, budget):
        super().__init__(daemon=True)
        self.args, self.token, self.target, self.budget = args, token, target, budget
        url = urllib.parse.urlsplit(args.base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        self.me = None
        self.following = False  # the last acknowledged change
        self.samples, self.failures = [], []

    def call(self, method, path, kind, want):
        start = time.monotonic()
        try:
            self.conn.request(method, path, headers={"Authorization": f"Bearer {self.token}"})
            response = self.conn.getresponse()
            body, status = response.read(), response.status
        except Exception as e:  # a failure, counted; a fresh connection for the next request
            body, status = repr(e).encode(), None
            self.conn.close()
        self.samples.append((kind, (time.monotonic() - start) * 1000))
        if status != want:
            self.failures.append(f"{method} {path}: {status} {body[:200]!r}")
            return None
        return body

    def run(self):
        me = self.call("GET", "/me", "me", 200)
        if me is None:
            return
        self.me = json.loads(me)["id"]
        target = f"/users/{self.target}"
        while self.budget.take():
            follow = not self.following
            if self.call("POST" if follow else "DELETE", target + "/follow",
                         "follow" if follow else "unfollow", 204) is not None:
                self.following = follow
            self.call("GET", target, "read", 200)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    with open(args.tokens) as f:
        tokens = [line.strip() for line in f if line.strip()]
    with open(args.targets) as f:
        targets = [line.strip() for line in f if line.strip()]
    budget = Budget(args.requests, args.seconds)
    followers = [Follower(args, token, targets[i % len(targets)], budget)
                 for i, token in enumerate(tokens)]
    for f in followers:
        f.start()
    for f in followers:
        f.join()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "expected"), "w") as f:
        f.writelines(f"{x.target} {x.me}\n" for x in followers if x.following)
    kinds = {}
    for x in followers:
        for kind, ms in x.samples:
            kinds.setdefault(kind, []).append(ms)
    failures = [line for x in followers for line in x.failures]
    summary = {"followers": len(followers), "failed": len(failures), "failures": failures[:5],
               "following_at_end": sum(1 for x in followers if x.following),
               "kinds": {k: {"count": len(v), "p50_ms": percentile(sorted(v), 0.5),
                             "p99_ms": percentile(sorted(v), 0.99), "max_ms": round(max(v), 1)}
                         for k, v in kinds.items()}}
    print(json.dumps(summary))
    sys.exit(1 if failures or any(x.me is None for x in followers) else 0)


if __name__ == "__main__":
    main()
