#!/usr/bin/env bash
# End to end GET /users/{id}, ids Zipf(0.9) over 1M users in SQLite: caching off versus L1 + L2
# (3 redis-servers on a consistent-hash ring, maxmemory 256 MB allkeys-lru each), same machine,
# same run. One web server (1 HTTP thread) and the Redis nodes on CPU 0; wrk (-t1 -c64) on CPU 1.
# Reports requests/s, p50/p99, database reads per request (ztm_storage_seconds_count{op=get_user})
# and the hit ratios of both layers, as a Markdown table for docs/performance.md.
# Usage: [WARM=seconds] bench/cache_e2e.sh [seconds] [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
warm=${WARM:-20}  # seconds of the same load before measuring (env WARM)
build=${2:-build-l2-rel}
users=1000000
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DZTM_BUILD_TESTS=OFF -DZTM_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" -j2 ztm >/dev/null
ztm="$build/ztm"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_for() { for _ in $(seq 400); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $*" >&2; exit 1; }

# 1M users, written by SQL rather than through the API (minutes instead of hours).
db="$work/ztm.db"
$ztm migrate --storage.sqlite_path "$db" >/dev/null
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, first_name, last_name, street_address, city, state, postal_code,
                   phone_numbers, version, created_at, updated_at)
SELECT i, 'First' || i, 'Last' || i, i || ' 2nd Street', 'New York', 'NY', 10000 + i % 90000,
       '["212 555-' || printf('%04d', i % 10000) || '"]', 1, '2026-01-01T00:00:00Z',
       '2026-01-01T00:00:00Z' FROM n;
SQL

nodes=()
for port in 16391 16392 16393; do
  taskset -c 0 redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --maxmemory 256mb --maxmemory-policy allkeys-lru >"$work/redis-$port.log" 2>&1 &
  pids+=($!)
  wait_for redis-cli -p $port ping
  nodes+=("127.0.0.1:$port")
done
l2_nodes=$(IFS=,; echo "${nodes[*]}")

metric() {  # metric PORT 'name{labels}' -> value (0 if absent)
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m " ") == 1 {v = $2} END {print v + 0}'
}
requests() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^ztm_http_requests_total\{.*code="200"/ {s += $2} END {print s + 0}'; }

# run LABEL ARGS... -> one table row
run() {
  local label=$1; shift
  local port=18201
  taskset -c 0 $ztm serve --storage.sqlite_path "$db" --http.port $port --http.threads 1 \
    --log.access off --log.level warn --cache.max_bytes $((32 << 20)) "$@" >"$work/ztm.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_for curl -sf "http://127.0.0.1:$port/readyz"
  taskset -c 1 wrk -t1 -c64 -d"${warm}s" -s bench/zipf_users.lua "http://127.0.0.1:$port" -- $users 0.9 >/dev/null  # fills the caches
  local r0 q0 h1 m1 h2 m2
  r0=$(requests $port); q0=$(metric $port 'ztm_storage_seconds_count{op="get_user"}')
  h1=$(metric $port 'ztm_cache_hits_total{layer="l1"}'); m1=$(metric $port 'ztm_cache_misses_total{layer="l1"}')
  h2=$(metric $port 'ztm_cache_hits_total{layer="l2"}'); m2=$(metric $port 'ztm_cache_misses_total{layer="l2"}')
  taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -s bench/zipf_users.lua "http://127.0.0.1:$port" -- $users 0.9 >"$work/wrk.out"
  local r q
  r=$(( $(requests $port) - r0 ))
  q=$(awk -v a="$(metric $port 'ztm_storage_seconds_count{op="get_user"}')" -v b="$q0" 'BEGIN {print a - b}')
  local hh1 mm1 hh2 mm2
  hh1=$(awk -v a="$(metric $port 'ztm_cache_hits_total{layer="l1"}')" -v b="$h1" 'BEGIN {print a - b}')
  mm1=$(awk -v a="$(metric $port 'ztm_cache_misses_total{layer="l1"}')" -v b="$m1" 'BEGIN {print a - b}')
  hh2=$(awk -v a="$(metric $port 'ztm_cache_hits_total{layer="l2"}')" -v b="$h2" 'BEGIN {print a - b}')
  mm2=$(awk -v a="$(metric $port 'ztm_cache_misses_total{layer="l2"}')" -v b="$m2" 'BEGIN {print a - b}')
  # L2 health during the whole run (warm-up included): should stay 0 on a quiet machine.
  local opens unavail waits
  opens=$(metric $port 'ztm_cache_breaker_opens_total{layer="l2"}')
  unavail=$(metric $port 'ztm_cache_unavailable_total{layer="l2"}')
  waits=$(metric $port 'ztm_cache_lease_waits_total{layer="l2"}')
  echo "$label: l2 breaker opens $opens, unavailable lookups $unavail, lease waits $waits" >&2
  kill $pid; wait $pid 2>/dev/null || true
  awk -v label="$label" -v r="$r" -v q="$q" -v h1="$hh1" -v m1="$mm1" -v h2="$hh2" -v m2="$mm2" '
    /Requests\/sec/ {rps = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2} /Non-2xx/ {bad = $4}
    END {
      l1 = (h1 + m1) ? sprintf("%.1f %%", 100 * h1 / (h1 + m1)) : "-"
      l2 = (h2 + m2) ? sprintf("%.1f %%", 100 * h2 / (h2 + m2)) : "-"
      printf "| %s | %s | %s | %s | %.3f | %s | %s | %d |\n", label, rps, p50, p99, (r ? q / r : 0), l1, l2, bad + 0
    }' "$work/wrk.out"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| GET /users/{id}, Zipf(0.9) over 1M | requests/s | p50 | p99 | DB reads / request | L1 hits | L2 hits | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
run "caching off" --cache.enabled false
run "L1 only (32 MB, TTL 60 s)" --cache.enabled true
run "L1 only (32 MB, TTL 2 s: the same staleness bound as with L2)" --cache.enabled true --cache.ttl_ms 2000
run "L1 (32 MB, TTL 2 s) + L2 (3 Redis nodes)" --cache.enabled true --cache.l2_nodes "$l2_nodes"
