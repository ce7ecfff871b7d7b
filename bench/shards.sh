#!/usr/bin/env bash
# The data tier on 1, 2 and 4 PostgreSQL shards (docs/sharding.md): GET and PUT /users/{id}
# with random ids, the cache off, through one `ztm serve` whose storage.shard_map spreads the
# buckets evenly over the shards. Four PostgreSQL 15 servers (fsync on) share CPU 0; ztm and wrk
# share CPU 1. Two cores cap the total, so the figure that shows what a shard costs is the
# databases' CPU time per request (every postgres process of the four, before and after each
# run), beside ztm's own. Rounds are interleaved (1, 2, 4 shards, then again); medians.
# Prints a Markdown table for docs/performance.md.
# Usage: bench/shards.sh [seconds per run] [rounds]   (defaults 10, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES postgresql-15
secs=${1:-10}
rounds=${2:-3}
users=100000
build_release ztm
bin=/usr/lib/postgresql/15/bin
chmod 755 "$work"

declare -A pid port res
pg_pids=()
for k in 1 2 3 4; do
  d="$work/pg$k"
  mkdir -p "$d"
  chown postgres "$d"
  runuser -u postgres -- "$bin/initdb" -N -U postgres -A trust -D "$d/data" >/dev/null
  taskset -c 0 runuser -u postgres -- "$bin/postgres" -D "$d/data" -k "$d" -c listen_addresses= \
    -p 5432 -c max_connections=200 -c shared_buffers=128MB >"$d/log" 2>&1 &
  pids+=($!)
  wait_for "$bin/pg_isready" -q -h "$d" -p 5432
  pg_pids+=("$(head -1 "$d/data/postmaster.pid")")
done
psql_on() { local k=$1; shift; psql -X -qAt -h "$work/pg$k" -p 5432 -U postgres "$@"; }

# One server per shard count, each on its own databases (s<S>_<k> on server k) and map.
for s in 1 2 4; do
  names=()
  for k in $(seq "$s"); do
    psql_on "$k" -c "CREATE DATABASE s${s}_$k" >/dev/null
    names+=("\"host=$work/pg$k port=5432 user=postgres dbname=s${s}_$k\"")
  done
  python3 - "$s" "${names[@]}" >"$work/map$s.json" <<'PY'
import json, sys
s = int(sys.argv[1]); conninfos = [json.loads(c) for c in sys.argv[2:]]
shards = [{"name": f"s{k + 1}", "conninfo": c} for k, c in enumerate(conninfos)]
print(json.dumps({"version": 1, "mode": "buckets", "shards": shards,
                  "buckets": [f"s{b % s + 1}" for b in range(1024)]}))
PY
  flags=(--storage.backend postgres --storage.shard_map "$work/map$s.json")
  ./build-release/ztm migrate "${flags[@]}" >/dev/null
  ./build-release/ztm seed "${flags[@]}" --sessions.sqlite_path "$work/sessions$s.db" >/dev/null
  # The rest of the users, each on its shard: bucket b is on shard b % s (ShardMap::even).
  for k in $(seq "$s"); do
    psql_on "$k" -d "s${s}_$k" -c "INSERT INTO users (id, first_name, last_name, street_address,
      city, state, postal_code, phone_numbers, version) SELECT i, 'John', 'Smith', '21 2nd Street',
      'New York', 'NY', 10021, '[\"212 555-1234\",\"646 555-4567\"]', 1
      FROM generate_series(23, $users) i WHERE ztm_bucket(i) % $s = $((k - 1))" \
      -c "DELETE FROM outbox" -c "VACUUM ANALYZE users" >/dev/null  # no change to relay: a bulk load
  done
  port[$s]=$((18100 + s))
  taskset -c 1 ./build-release/ztm serve "${flags[@]}" --cache.enabled false --http.threads 1 \
    --http.port "${port[$s]}" --log.level warn --log.access off \
    --sessions.sqlite_path "$work/sessions$s.db" >"$work/ztm$s.log" 2>&1 &
  pid[$s]=$!
  pids+=("${pid[$s]}")
  wait_for curl -sf "http://127.0.0.1:${port[$s]}/readyz"
done
total=$(psql_on 1 -d s1_1 -c "SELECT count(*) FROM users")
[ "$total" = "$users" ] || { echo "expected $users users on one shard, found $total" >&2; exit 1; }

db_ticks() { local t=0 p; for p in "${pg_pids[@]}"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }

# measure S MODE: one wrk run; appends rps, p99 (µs), ztm and database CPU µs per request.
measure() {
  local s=$1 mode=$2 script=bench/get_random.lua ztm0 db0 ztm1 db1
  [ "$mode" = put ] && script=bench/put_random.lua
  ZTM_TOKEN=$(login "http://127.0.0.1:${port[$s]}" admin@example.com admin-demo-password)
  export ZTM_TOKEN
  ztm0=$(cpu_ticks "${pid[$s]}")
  db0=$(db_ticks)
  taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -s "$script" "http://127.0.0.1:${port[$s]}" \
    -- "$users" >"$work/wrk.out"
  ztm1=$(cpu_ticks "${pid[$s]}")
  db1=$(db_ticks)
  if grep -q 'Non-2xx' "$work/wrk.out"; then echo "$s $mode: non-2xx answers" >&2; cat "$work/wrk.out" >&2; exit 1; fi
  local rps p99 n
  read -r rps p99 n < <(awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} / requests in / {n=$1}
    END {print rps, p99, n}' "$work/wrk.out")
  res[$s $mode rps]+=" $rps"
  res[$s $mode p99]+=" $(to_us "$p99")"
  res[$s $mode ztm]+=" $(awk -v t=$((ztm1 - ztm0)) -v hz="$tck" -v n="$n" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')"
  res[$s $mode db]+=" $(awk -v t=$((db1 - db0)) -v hz="$tck" -v n="$n" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')"
}

for s in 1 2 4; do  # warm-up: each server's pools and each database's cache
  taskset -c 1 wrk -t1 -c64 -d2s -s bench/get_random.lua "http://127.0.0.1:${port[$s]}" -- "$users" >/dev/null
done
for r in $(seq "$rounds"); do
  for s in 1 2 4; do
    measure "$s" get
    measure "$s" put
  done
  echo "round $r of $rounds done" >&2
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d); $secs s runs, median of $rounds interleaved rounds"
echo
echo "| shards | workload | requests/s | p99 | ztm CPU/request | databases' CPU/request |"
echo "|---|---|---|---|---|---|"
for mode in get put; do
  for s in 1 2 4; do
    label="GET /users/{id}, random, cache off"
    [ "$mode" = put ] && label="PUT /users/{id}, random"
    echo "| $s | $label | $(int "$(med "$s" "$mode" rps)") | $(awk -v u="$(med "$s" "$mode" p99)" 'BEGIN { printf "%.2f ms", u / 1000 }') | $(med "$s" "$mode" ztm) µs | $(med "$s" "$mode" db) µs |"
  done
done
