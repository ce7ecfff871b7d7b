#!/usr/bin/env bash
# The CDN stage's numbers (issue 15; docs/performance.md, "CDN: edge hits, offload, page loads"),
# from one `ztm lab up --stage cdn` (real Varnish 7.1 edges, HAProxy, three web servers,
# PostgreSQL, NATS) whose web tier also serves the browser client (web/dist):
#   1. edge hits against the origin, same core: wrk on CPU 0 from clients1, GET /users/12 at
#      edge1 (every answer a hit) and at lb1 (HAProxy -> ztm, which answers from its L1 cache),
#      the serving side pinned to CPU 1; interleaved rounds, medians;
#      CPU µs per request from /proc/PID/stat of the serving processes.
#   2. origin offload under Zipf: USERS users, a Zipf(s) read load through both edges (one wrk
#      per client group) with PATCHes at the origin mixed in; per phase the requests the origin
#      never saw (its /metrics against wrk's count) and each edge's varnishstat.
#   3. page loads in Chromium (cdn_page_load.mjs) from both client groups, with the lab's
#      distance (docs/lab.md, "Distance"): the measured connect times first, then first loads
#      with the edges cold and warm and repeat loads, with the CDN as configured (each group's
#      near edge preferred: cdn.edge_networks), with cdn.edge_networks emptied (edge1, the first
#      edge, for everyone: far for clients2), then with cdn.edges emptied in the web tier's
#      config (ztm lab restart web each time).
# Root only (the lab). Take the lab lock, another lab may be running:
#   [PIN=0] [KEEP=DIR] [PARTS="1 2 3"] [ZTM=BINARY] flock /tmp/ztm-lab.lock bench/cdn_numbers.sh \
#     [rounds=5] [seconds=5] [users=10000] [zipf_phases=3] [zipf_seconds=10] [write_rate=50] \
#     [page_rounds=20]
# PARTS picks the parts to run (e.g. PARTS=3: the page loads alone).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "cdn_numbers.sh: root only (the lab)" >&2; exit 1; }
rounds=${1:-5} seconds=${2:-5} users=${3:-10000} phases=${4:-3} zipf_seconds=${5:-10}
write_rate=${6:-50} page_rounds=${7:-20} zipf_s=0.99
want() { [[ " ${PARTS:-1 2 3} " == *" $1 "* ]]; }
. bench/lib.sh
. scripts/lib/web.sh
if [ -z "${ZTM:-}" ]; then build_release ztm; fi
ztm=${ZTM:-build-release/ztm}
web_build >/dev/null

# The stage's templates, with the web tier serving the client too (the lab reads
# $ZTM_DEPLOY_DIR).
cp -r deploy "$work/deploy"
sed -i "s|^\[http\]$|[http]\nstatic_dir = \"$PWD/web/dist\"|" "$work/deploy/ztm/ztm-lb-cdn.toml"
export ZTM_DEPLOY_DIR=$work/deploy
chmod 755 "$work"  # the engines run as their own users (postgres, varnish) under it
dir=$work/lab
trap '"$ztm" lab down --dir "$dir" >/dev/null 2>&1 || true; cleanup' EXIT
"$ztm" lab up --stage cdn --dir "$dir" >"$work/up.log" 2>&1 || { tail -20 "$work/up.log" >&2; exit 1; }
c1() { ip netns exec ztm-clients1 "$@"; }
c2() { ip netns exec ztm-clients2 "$@"; }
edge_json() { curl -s -m 2 "http://10.77.1.8$1:6091/.ztm/edge"; }
for e in 1 2; do  # each edge's probe must see the origin healthy
  wait_for sh -c "curl -s -m 1 http://10.77.1.8$e:6091/.ztm/edge | grep -q '\"origin_healthy\":true'"
done
echo "# $(date -u +%F) $(nproc) cores; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# cpu_ticks PID...: user+system clock ticks of those processes (every thread), now.
cpu_ticks() {
  local p t=0
  for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
  echo "$t"
}
pg_main=$(pgrep -f "postgres -D $dir/hosts/db1/")
edge_pids() { pgrep -f "^/usr/sbin/varnishd -F -n $dir/hosts/edge1/" | xargs; }  # manager, cache-main
origin_pids() {  # lb1's HAProxy, the web servers, PostgreSQL and its backends
  echo $(pgrep -f "haproxy -db -f $dir/hosts/lb1/") $(pgrep -f "ztm serve --config $dir/hosts/web") \
    "$pg_main" $(pgrep -P "$pg_main")
}
pin() { for p in $2; do taskset -a -p -c "$1" "$p" >/dev/null; done; }
# varnish_counter EDGE NAME: a MAIN counter of edgeN.
varnish_counter() {
  varnishstat -n "$dir/hosts/edge$1/varnish/instance" -1 -f "MAIN.$2" | awk '{print $2}'
}
# origin_gets: GET /users/{id} answered by the web tier so far (every status).
origin_gets() {
  for a in 10 11 12; do curl -s -m 2 "http://10.77.1.$a:8080/metrics"; done |
    awk '/^ztm_http_request_duration_seconds_count\{method="GET",route="\/users\/\{id\}"\}/ { n += $2 } END { print n + 0 }'
}
# wrk_run NS CPU WRK_ARGS...: "requests rps p50_us p99_us non2xx" of one wrk run (bounded by its
# -d, and by timeout).
wrk_run() {
  local ns=$1 cpu=$2
  shift 2
  taskset -c "$cpu" ip netns exec "$ns" timeout $((seconds + zipf_seconds + 30)) \
    wrk --latency "$@" | awk '
      function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
      / requests in / { n = $1 } /^Requests\/sec/ { r = $2 }
      /^[ \t]+50%/ { p50 = us($2) } /^[ \t]+99%/ { p99 = us($2) }
      /Non-2xx/ { bad = $NF } END { printf "%d %.0f %.0f %.0f %d\n", n, r, p50, p99, bad }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# --- 1. edge hits against the origin, same core ------------------------------------------------
if want 1; then
  hz=$(getconf CLK_TCK)
  c1 curl -s -o /dev/null http://10.77.0.21/users/12
  c1 curl -s -o /dev/null -D "$work/head" http://10.77.0.21/users/12
  grep -q '^X-Cache: HIT' "$work/head" || { echo "edge1: GET /users/12 is not a hit" >&2; cat "$work/head" >&2; exit 1; }
  serving_cpu=1 wrk_cpu=0
  if [ "${PIN:-1}" = 0 ]; then serving_cpu=0,1 wrk_cpu=0,1; fi  # PIN=0: nothing pinned
  pin "$serving_cpu" "$(edge_pids) $(origin_pids)"
  : >"$work/part1"
  for round in $(seq "$rounds"); do
    for side in edge origin; do
      if [ $side = edge ]; then url=http://10.77.0.21/users/12 serving=$(edge_pids); else url=http://10.77.0.10/users/12 serving=$(origin_pids); fi
      hits0=$(varnish_counter 1 cache_hit) t0=$(cpu_ticks $serving)
      read -r n rps p50 p99 bad < <(wrk_run ztm-clients1 "$wrk_cpu" -t1 -c64 -d"${seconds}s" "$url")
      t1=$(cpu_ticks $serving) hits1=$(varnish_counter 1 cache_hit)
      cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
      echo "$side $round $rps $p50 $p99 $cpu_us $n $((hits1 - hits0)) $bad" | tee -a "$work/part1" >&2
    done
  done
  pin 0,1 "$(edge_pids) $(origin_pids)"
  echo
  echo "## 1. GET /users/12, wrk -t1 -c64 on CPU $wrk_cpu, the serving side on CPU $serving_cpu: medians of $rounds rounds of ${seconds} s"
  echo "| path | requests/s | p50 µs | p99 µs | serving CPU µs/request | edge hits / requests | non-2xx |"
  echo "|---|---|---|---|---|---|---|"
  for side in edge origin; do
    col() { awk -v s=$side -v c="$1" '$1 == s { print $c }' "$work/part1" | median; }
    echo "| $side | $(col 3) | $(col 4) | $(col 5) | $(col 6) | $(awk -v s=$side '$1 == s { h += $8; n += $7 } END { printf "%d / %d", h, n }' "$work/part1") | $(awk -v s=$side '$1 == s { b += $9 } END { print b + 0 }' "$work/part1") |"
  done
fi

# --- 2. origin offload under a Zipf read load ----------------------------------------------------
if want 2; then
  # Seeding is a burst of writes: each queues a purge for every edge. Phase 0 reads right after it,
  # then the edges must be unfenced again (their purge stream caught up; bounded wait) before the
  # phases with a steady write rate.
  fenced() { edge_json "$1" | grep -q '"fenced":true'; }
  backlog() {  # rows in the outbox (not yet relayed), messages waiting in each edge's purge stream
    echo -n "outbox $(psql -tA -c 'select count(*) from outbox' "postgresql://ztm:$(cat "$dir/secrets/postgres-app")@10.77.1.20:5432/ztm" 2>/dev/null || echo '?'); "
    curl -s -m 2 "http://10.77.1.60:8222/jsz?accounts=true&streams=true" | jq -r \
      '[.account_details[]?.stream_detail[]? | select(.name | startswith("ZTM_PURGE")) | "\(.name) \(.state.messages)"] | join(", ")'
  }
  t0=$SECONDS
  c1 python3 bench/cdn_users.py seed http://10.77.0.10 "$users" "$work/ids" >&2
  echo "seeded in $((SECONDS - t0)) s; purge backlog: $(backlog)" >&2
  t_seeded=$SECONDS
  snapshot() {
    echo "$(origin_gets) $(for e in 1 2; do for k in cache_hit cache_miss cache_hitmiss s_pass; do varnish_counter $e $k; done; done | xargs)" \
      "$(for a in 10 11 12; do curl -s -m 2 "http://10.77.1.$a:8080/metrics"; done | awk '/^ztm_cdn_purges_total/ { n += $2 } END { print n + 0 }')"
  }
  zipf_phase() {  # zipf_phase NAME: one phase, both edges, and its table row
    wrk_run ztm-clients1 0 -t1 -c32 -d"${zipf_seconds}s" -s bench/zipf_users.lua http://10.77.0.21 -- "$users" "$zipf_s" 1 "$work/ids" >"$work/w1" &
    local w1=$!
    wrk_run ztm-clients2 1 -t1 -c32 -d"${zipf_seconds}s" -s bench/zipf_users.lua http://10.77.0.22 -- "$users" "$zipf_s" 2 "$work/ids" >"$work/w2"
    wait "$w1"
    after=$(snapshot)
    sent=$(( $(cut -d' ' -f1 "$work/w1") + $(cut -d' ' -f1 "$work/w2") ))
    echo "$sent $before $after" | awk -v p="$1" '{
      o = $12 - $2; h = $13 + $17 - $3 - $7; m = $14 + $18 - $4 - $8; hm = $15 + $19 - $5 - $9; ps = $16 + $20 - $6 - $10
      printf "| %s | %d | %d | %.1f %% | %d (%.1f %%) | %d | %d | %d | %d |\n", p, $1, o, 100 * (1 - o / $1), h, 100 * h / (h + m + hm + ps), m, hm, ps, $21 - $11 }'
    echo "phase $1: non-2xx $(cut -d' ' -f5 "$work/w1") + $(cut -d' ' -f5 "$work/w2"); purge backlog: $(backlog); edges: $(edge_json 1) $(edge_json 2)" >&2
    before=$after
  }
  echo
  echo "## 2. Zipf($zipf_s) over $users users through edge1 and edge2 (one wrk -t1 -c32 each, phases of ${zipf_seconds} s, edges cold at phase 0)"
  echo "| phase | client GETs | origin GETs | offload | edge hits | misses | hit-for-miss | passes | purges confirmed |"
  echo "|---|---|---|---|---|---|---|---|---|"
  before=$(snapshot)
  zipf_phase "0: right after seeding, no writes"
  t_wait=$SECONDS
  for _ in $(seq 600); do
    if ! fenced 1 && ! fenced 2; then break; fi
    sleep 0.5
  done
  echo "(after phase 0, $((SECONDS - t_seeded)) s after the seeding: waited $((SECONDS - t_wait)) s for both edges to be unfenced; $(backlog))"
  c1 python3 bench/cdn_users.py write http://10.77.0.10 "$work/ids" "$zipf_s" "$write_rate" \
    $((phases * zipf_seconds + 2)) >"$work/writes" &
  pids+=($!)
  before=$(snapshot)
  for phase in $(seq "$phases"); do zipf_phase "$phase: PATCH at the origin"; done
  wait "${pids[-1]}"
  echo "($(cat "$work/writes"))"
fi

# --- 3. page loads in Chromium, near and far, with and without the CDN -------------------------
if want 3; then
  # connect_ms NS URL: the median of 5 TCP connect times (curl's time_connect), in ms.
  connect_ms() {
    for _ in 1 2 3 4 5; do
      ip netns exec "$1" curl -s -o /dev/null -m 3 -w '%{time_connect}\n' "$2" || true
    done | median | awk '{ printf "%.1f", $1 * 1000 }'
  }
  echo
  echo "## 3. The page in Chromium, medians of $page_rounds rounds"
  echo "TCP connect time (ms, median of 5, curl): | from | own edge | other edge | origin lb1 |"
  echo "|---|---|---|---|"
  echo "| clients1 | $(connect_ms ztm-clients1 http://10.77.0.21/) | $(connect_ms ztm-clients1 http://10.77.0.22/) | $(connect_ms ztm-clients1 http://10.77.0.10/) |"
  echo "| clients2 | $(connect_ms ztm-clients2 http://10.77.0.22/) | $(connect_ms ztm-clients2 http://10.77.0.21/) | $(connect_ms ztm-clients2 http://10.77.0.10/) |"
  echo "| edge1 → origin (10.77.1.2) | $(connect_ms ztm-edge1 http://10.77.1.2/.ztm/ping) | edge2 → origin | $(connect_ms ztm-edge2 http://10.77.1.2/.ztm/ping) |"
  spki=$(for f in "$dir"/hosts/lb1/haproxy/lb.crt "$dir"/hosts/edge*/tls/tls.crt; do
    openssl x509 -in "$f" -pubkey -noout | openssl pkey -pubin -outform der |
      openssl dgst -sha256 -binary | base64; done | paste -sd,)
  # Empties both edges' caches (a ban of every object) before each round of a CDN block.
  cold=""
  for e in 1 2; do
    cold+="ip netns exec ztm-edge$e varnishadm -n $dir/hosts/edge$e/varnish/instance ban req.url '~' . >/dev/null && "
  done
  cold+=true
  # page_load NS LABEL [--cold CMD]: one block of rounds; its table rows to stdout, the resource
  # timings kept for after the table.
  page_load() {
    local ns=$1 label=$2 out
    shift 2
    out=$work/page-$(echo "$label" | tr -c 'a-z0-9\n' '-')
    ip netns exec "$ns" timeout $((page_rounds * 30 + 60)) node bench/cdn_page_load.mjs --web web \
      --origin https://10.77.0.10 --label "$label" --rounds "$page_rounds" --spki "$spki" \
      --header 0 "$@" >"$out"
    grep '^|' "$out"
    grep '^resources' "$out" >>"$work/resources"
  }
  edges_line=$(grep '^edges = ' "$dir/hosts/web1/ztm/ztm.toml")
  networks_line=$(grep '^edge_networks = ' "$dir/hosts/web1/ztm/ztm.toml")
  set_cdn() {  # set_cdn EDGES_LINE NETWORKS_LINE: the web tier's cdn.edges and
    # cdn.edge_networks (a network must name a listed edge), then a rolling restart
    sed -i -e "s|^edges = .*|$1|" -e "s|^edge_networks = .*|$2|" "$dir"/hosts/web*/ztm/ztm.toml
    "$ztm" lab restart web --dir "$dir" >/dev/null
    echo "cdn.json: $(c1 curl -s -m 5 -k https://10.77.0.10/cdn.json)" >&2
  }
  : >"$work/resources"
  echo
  echo "| page load | load | TTFB ms | DOMContentLoaded ms | load event ms | directory shown ms | requests (from cache) | bytes from origin / edges |"
  echo "|---|---|---|---|---|---|---|---|"
  page_load ztm-clients1 "clients1, CDN: edge1 (near)" --cold "$cold"
  page_load ztm-clients2 "clients2, CDN: edge2 (near)" --cold "$cold"
  set_cdn "$edges_line" 'edge_networks = ""'  # the first edge for everyone
  page_load ztm-clients2 "clients2, CDN: edge1 (far)" --cold "$cold"
  set_cdn 'edges = ""' 'edge_networks = ""'
  page_load ztm-clients1 "clients1, no CDN"
  page_load ztm-clients2 "clients2, no CDN"
  set_cdn "$edges_line" "$networks_line"
  page_load ztm-clients1 "clients1, CDN: edge1 (near), again" --cold "$cold"
  echo
  cat "$work/resources"
fi
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/part1 "$work"/page-* "$KEEP"/ 2>/dev/null || true; fi  # raw rows
