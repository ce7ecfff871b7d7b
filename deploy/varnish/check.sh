#!/bin/sh
# Checks deploy/varnish/edge.vcl against Debian's Varnish 7.1 and varnish-modules.
#   check.sh            render the template with sample values and compile it (varnishd -C)
#   check.sh --run      also start varnishd and a fake origin on 127.0.0.1 high ports and check
#                       the edge's behaviour with curl (about 25 s, mostly waiting for TTLs)
# The ctest cdn_vcl runs it with --run; the lab's test (tests/lab/lab_cdn_test.sh) checks the
# edges in front of the real origin. python3 renders the template and is the fake origin.
# Everything it starts is stopped by pid on exit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ztm-edge-check.XXXXXX)
chmod 755 "$work"  # varnishd reads the VCL as its own unprivileged user
origin_port=${ORIGIN_PORT:-18180}
public_port=${PUBLIC_PORT:-16181}
admin_port=${ADMIN_PORT:-16191}
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The lab's renderer fills double-brace placeholders; the same by hand here.
# render LEASE OUT: the template with sample values and that lease
render() {
  python3 - "$here/edge.vcl" "$2" "$origin_port" "$1" <<'PY'
import re, sys
src, out, port, lease = sys.argv[1:5]
values = {"edge_name": "edge1", "origin_host": "127.0.0.1", "origin_port": port,
          "admin_socket": "admin", "purgers": '    "127.0.0.1";\n    "10.77.1.0"/24;',
          "lease": lease}
text = open(src).read()
missing = sorted(set(re.findall(r"\{\{([a-z_]+)\}\}", text)) - set(values))
if missing: sys.exit("no value for: " + ", ".join(missing))
open(out, "w").write(re.sub(r"\{\{([a-z_]+)\}\}", lambda m: values[m.group(1)], text))
PY
}
# The lab's stage cdn renders the lease off (100y, src/lab/stages.cc) until purge on write syncs
# the edges; the checks below use the design's 2 s.
for lease in 100y 2s; do
  render "$lease" "$work/edge.vcl"
  if ! varnishd -C -f "$work/edge.vcl" >/dev/null 2>"$work/vcc.log"; then
    grep -v '^ *$' "$work/vcc.log" | tail -20
    echo "edge.vcl: does not compile (lease $lease)" >&2
    exit 1
  fi
done
echo "edge.vcl: compiles with the lease 100y and 2s (varnishd -C, $(varnishd -V 2>&1 | head -1))"
[ "${1:-}" = "--run" ] || exit 0

cat > "$work/origin.py" <<'PY'
# A fake origin: /users/12 (and every path under it) with CDN-Cache-Control max-age=2, SWR 1, SIE 30, a strong ETag and
# 304s (a path with "slow" answers after 0.5 s); /_ctl/{bump,err,ok,down,up} change it; /_count/PATH says how often PATH was asked;
# /_edge/PATH the Ztm-Edge-Fetch header of its last request.
import http.server, json, sys, time
s = {"v": 1, "err": False, "ready": True, "n": {}, "edge": {}}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def out(self, code, body=b"", hdrs=()):
        self.send_response(code)
        for k, v in hdrs: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p.startswith("/_ctl/"):
            c = p[6:]
            if c == "bump": s["v"] += 1
            if c in ("err", "ok"): s["err"] = c == "err"
            if c in ("down", "up"): s["ready"] = c == "up"
            return self.out(200, b"{}")
        if p.startswith("/_count/"):
            return self.out(200, str(s["n"].get(p[7:], 0)).encode())
        if p.startswith("/_edge/"):
            return self.out(200, s["edge"].get(p[6:], "none").encode())
        if p == "/readyz": return self.out(200 if s["ready"] else 503, b"{}")
        s["n"][p] = s["n"].get(p, 0) + 1
        s["edge"][p] = self.headers.get("Ztm-Edge-Fetch", "")
        if s["err"]: return self.out(503, b'{"error":"down"}', [("Cache-Control", "no-store")])
        if p.startswith("/users/12"):
            if "slow" in p: time.sleep(0.5)
            tag = '"%d"' % s["v"]
            h = [("ETag", tag), ("Cache-Control", "no-cache"), ("Surrogate-Key", "user-12"),
                 ("CDN-Cache-Control", "max-age=2, stale-while-revalidate=1, stale-if-error=30"),
                 ("Content-Type", "application/json")]
            if self.headers.get("If-None-Match") == tag: return self.out(304, b"", h)
            return self.out(200, json.dumps({"id": 12, "v": s["v"]}).encode(), h)
        if p == "/users": return self.out(200, b'{"users":[]}')
        if p.startswith("/assets/"):
            return self.out(200, b"x", [("Cache-Control", "public, max-age=31536000, immutable")])
        return self.out(404, b"{}", [("Cache-Control", "no-store")])
    do_HEAD = do_GET
    def do_POST(self):
        # POST /users: 201 with a Location elsewhere; POST .../edit: 200 with a Content-Location
        # elsewhere; any other: 201 with Location /users/12.
        s["n"][self.path] = s["n"].get(self.path, 0) + 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/users":
            return self.out(201, b"{}", [("Location", "/users/12?created=1"),
                                         ("Cache-Control", "no-store")])
        if self.path.endswith("/edit"):
            return self.out(200, b"{}", [("Content-Location", "/users/12/cl?v=2"),
                                         ("Cache-Control", "no-store")])
        self.out(201, b"{}", [("Location", "/users/12"), ("Cache-Control", "no-store")])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/origin.py" "$origin_port" >"$work/origin.log" 2>&1 &
pids="$pids $!"
varnishd -F -n "$work/vd" -a "public=127.0.0.1:$public_port" -a "admin=127.0.0.1:$admin_port" \
  -T none -f "$work/edge.vcl" -s malloc,32m >"$work/varnishd.log" 2>&1 &
pids="$pids $!"

E=http://127.0.0.1:$public_port A=http://127.0.0.1:$admin_port O=http://127.0.0.1:$origin_port
failed=0
# get URL [curl args]: "STATUS X-Cache X-Cache-Reason" of the response
get() { url=$1; shift; curl -s -m 5 -o /dev/null -D - "$@" "$url" | tr -d '\r' | awk '
  /^HTTP/ {s=$2} tolower($1)=="x-cache:" {c=$2} tolower($1)=="x-cache-reason:" {r=$2}
  END {print s, c, (r == "" ? "-" : r)}'; }
expect() { got=$1 want=$2 what=$3
  if [ "$got" = "$want" ]; then echo "ok   $what"; else echo "FAIL $what: got '$got', want '$want'"; failed=1; fi; }
now() { date +%s.%3N; }
sync() { curl -s -m 2 -o /dev/null -X PURGE -H "X-Ztm-Synced-At: $(now)" "$A/"; }

for i in $(seq 50); do curl -s -m 1 -o /dev/null "$E/.ztm/ping" && break; sleep 0.1; done
sleep 1  # the first probe makes the origin healthy
expect "$(get $E/users/12)" "200 MISS fenced" "no sync yet: the lease is lapsed, mutable reads pass"
# The purger's syncs, every 250 ms, as the web tier sends them while the purge stream is caught up.
sync
(while :; do sync; sleep 0.25; done) &
syncer=$!
pids="$pids $syncer"
expect "$(get $E/users/12)" "200 MISS -" "first GET is a miss"
expect "$(get $E/users/12)" "200 HIT -" "second GET is a hit"
expect "$(curl -s -D - -o /dev/null $E/users/12 | tr -d '\r' | awk 'tolower($1)=="age:" {print "age"}')" "age" "Age on a hit"
expect "$(curl -s "$O/_edge/users/12")" "1" "a fetch for the cache asks for the latest (Ztm-Edge-Fetch: past the origin's caches)"
expect "$(get $E/users/12 -H 'Authorization: Bearer t' -H 'Ztm-Edge-Fetch: 1')" "200 MISS auth" "Authorization: passed"
expect "$(curl -s "$O/_edge/users/12")" "" "... as the client's own request (its Ztm-Edge-Fetch dropped)"
expect "$(get $E/users/12 -H 'Cookie: a=1; ztm_session=t')" "200 MISS auth" "session cookie: passed"
expect "$(get $E/users/12 -H 'Cookie: a=1')" "200 HIT -" "another cookie: still a hit"
curls=""
for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null "$E/users/12/slow" & curls="$curls $!"; done
for p in $curls; do wait "$p"; done
expect "$(curl -s "$O/_count/users/12/slow")" "1" "10 concurrent misses: one origin fetch (coalesced)"
expect "$(get $E/users)" "200 MISS -" "no freshness from the origin: not stored (1)"
expect "$(get $E/users)" "200 MISS -" "no freshness from the origin: not stored (2)"
expect "$(get $E/.ztm/edge)" "404 MISS -" "edge status on the public listener: not there"
expect "$(get $E/ -X PURGE)" "403 MISS -" "PURGE on the public listener: refused"
curl -s -o /dev/null "$O/_ctl/bump"
expect "$(curl -s -X PURGE -H 'Xkey-Purge: user-12' $A/)" '{"purged":2}' "xkey purge of user-12 (/users/12 and /users/12/slow)"
expect "$(get $E/users/12)" "200 MISS -" "after the purge: a miss"
# RFC 9111 4.4: the target URI, Location and Content-Location, each on a request whose own URL
# is another (so that only the header's invalidation can make the miss).
expect "$(get $E/users/12)" "200 HIT -" "cached again"
expect "$(get $E/users -X POST -d x)" "201 MISS method" "POST /users through the edge: passed"
expect "$(get $E/users/12)" "200 MISS -" "a successful POST invalidated its Location (query dropped)"
expect "$(get $E/users/12/cl)" "200 MISS -" "another URL: a miss"
expect "$(get $E/users/12/cl)" "200 HIT -" "another URL: then a hit"
expect "$(get $E/users/12/cl/edit -X POST -d x)" "200 MISS method" "POST .../edit through the edge: passed"
expect "$(get $E/users/12/cl)" "200 MISS -" "a successful POST invalidated its Content-Location (query dropped)"
expect "$(get $E/users/12 -X POST -d x)" "201 MISS method" "POST through the edge: passed"
expect "$(get $E/users/12)" "200 MISS -" "a successful POST invalidated its target URI"
sleep 2.2
expect "$(get $E/users/12)" "200 HIT stale-while-revalidate" "expired, within SWR: stale hit"
sleep 3.5  # the stale hit refreshed it in the background: past ttl + SWR again
before=$(curl -s "$O/_count/users/12")
expect "$(get $E/users/12)" "200 MISS -" "past SWR, origin healthy: waits for a fresh copy"
expect "$(curl -s "$O/_count/users/12")" "$((before + 1))" "the revalidation reached the origin once"
sleep 3.2; curl -s -o /dev/null "$O/_ctl/err"
expect "$(get $E/users/12)" "200 HIT stale-if-error" "origin answers 503: stale-if-error"
expect "$(get $E/users/13)" "503 MISS -" "origin answers 503, no copy: the 503"
curl -s -o /dev/null "$O/_ctl/ok"; curl -s -o /dev/null "$O/_ctl/down"; sleep 1.5
expect "$(curl -s $A/.ztm/edge | python3 -c 'import json,sys; print(json.load(sys.stdin)["origin_healthy"])')" \
  "False" "probe: origin sick within 1.5 s"
expect "$(get $E/users/12)" "200 HIT stale-if-error" "origin sick: stale-if-error"
expect "$(get $E/assets/app.0123abcd.js)" "503 MISS -" "origin sick, no copy: 503"
curl -s -o /dev/null "$O/_ctl/up"; sleep 2
expect "$(get $E/assets/app.0123abcd.js)" "200 MISS -" "immutable asset: miss"
kill "$syncer"; sleep 2.5
expect "$(get $E/assets/app.0123abcd.js)" "200 HIT -" "immutable asset: a hit even with the lease lapsed"
expect "$(get $E/users/12)" "200 MISS fenced" "lease lapsed (no sync for 2.5 s): mutable reads pass"
expect "$(curl -s "$O/_edge/users/12")" "1" "a fenced edge's pass asks for the latest too"
exit $failed
