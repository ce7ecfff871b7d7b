#!/usr/bin/env bash
# The data tier on PostgreSQL versus PostgreSQL itself (pgbench), same queries, same run, ztm at
# ONE configuration (its defaults: storage.postgres_connections for reads, .._write_connections
# for writes). PostgreSQL (fsync on) pinned to CPU 0; ztm, wrk and pgbench pinned to CPU 1; 100k users.
#   read:  GET /users/{id}, cache off, random ids   vs  pgbench -M prepared: SELECT ... WHERE id
#   write: PUT /users/{id}, random ids              vs  pgbench -M prepared: UPDATE ... WHERE id
# Each round, interleaved: ztm reads, pgbench reads, ztm writes, pgbench writes unthrottled, and
# pgbench writes at ztm's write rate (--rate) for the p99 "at the same throughput". pgbench's p99
# comes from its per-transaction log (column 3, µs; under --rate it counts from the scheduled
# start, so the schedule lag is in it). Prints medians over the rounds as a Markdown table for
# docs/performance.md, then every round.
# Usage: bench/pg_vs_pgbench.sh [seconds per run] [rounds]
# ZTM_BENCH_PG_ARGS: extra `ztm serve` options (default none: the defaults are what is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES postgresql-15
secs=${1:-10}
rounds=${2:-3}
users=100000
clients=64
build_release ztm
bin=/usr/lib/postgresql/15/bin
chmod 755 "$work"

# A private PostgreSQL, run as user postgres, on a Unix socket in $work.
mkdir -p "$work/pg"
chown postgres "$work/pg"
runuser -u postgres -- "$bin/initdb" -N -U postgres -A trust -D "$work/pg/data" >/dev/null
taskset -c 0 runuser -u postgres -- "$bin/postgres" -D "$work/pg/data" -k "$work/pg" \
  -c listen_addresses= -p 15432 -c max_connections=200 -c shared_buffers=256MB >"$work/pg/log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do "$bin/pg_isready" -q -h "$work/pg" -p 15432 && break; sleep 0.05; done
psql=(psql -q -h "$work/pg" -p 15432 -U postgres)
"${psql[@]}" -c "CREATE DATABASE ztm" >/dev/null
url="host=$work/pg port=15432 user=postgres dbname=ztm"
./build-release/ztm migrate --storage.backend postgres --storage.postgres_url "$url" >/dev/null
# The demo data (ids 1..22, with the demo admin whose session the writes use), then the rest.
./build-release/ztm seed --storage.backend postgres --storage.postgres_url "$url" >/dev/null
"${psql[@]}" -d ztm -c "INSERT INTO users (id, first_name, last_name, street_address, city, state,
  postal_code, phone_numbers, version) SELECT i, 'John', 'Smith', '21 2nd Street', 'New York', 'NY',
  10021, '[\"212 555-1234\",\"646 555-4567\"]', 1 FROM generate_series(23, $users) i" -c "VACUUM ANALYZE users"

cat > "$work/select.sql" <<SQL
\set id random(1, $users)
SELECT id, first_name, last_name, street_address, city, state, postal_code, phone_numbers, version FROM users WHERE id = :id;
SQL
cat > "$work/update.sql" <<SQL
\set id random(1, $users)
UPDATE users SET first_name = 'John', last_name = 'Smith', street_address = '21 2nd Street', city = 'New York', state = 'NY', postal_code = 10021, phone_numbers = '["212 555-1234","646 555-4567"]', version = version + 1, updated_at = now() WHERE id = :id RETURNING version;
SQL

# shellcheck disable=SC2086
taskset -c 1 ./build-release/ztm serve --storage.backend postgres --storage.postgres_url "$url" \
  --cache.enabled false --http.threads 1 --http.port 18090 --log.level warn --log.access off \
  --sessions.sqlite_path "$work/sessions.db" ${ZTM_BENCH_PG_ARGS:-} >"$work/ztm.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && break; sleep 0.05; done
ZTM_TOKEN=$(login http://127.0.0.1:18090 admin@example.com admin-demo-password)
export ZTM_TOKEN

# pgbench's per-transaction logs go to a directory user postgres may write.
mkdir -p "$work/pglog"
chown postgres "$work/pglog"
# run_pgbench SCRIPT [RATE] -> tps p99_us (p99 from the per-transaction log: latency is column 3)
run_pgbench() {
  local rate=() tps
  [ -n "${2:-}" ] && rate=(--rate "$2")
  rm -f "$work/pglog"/tx*
  tps=$(taskset -c 1 runuser -u postgres -- pgbench -h "$work/pg" -p 15432 -n -M prepared -c "$clients" -j 1 \
    -T "$secs" "${rate[@]}" --log --log-prefix "$work/pglog/tx" -f "$1" ztm 2>/dev/null |
    awk '/^tps/ {print $3; exit}')
  echo "$tps $(cat "$work/pglog"/tx* | awk '{print $3}' | sort -n |
    awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1; print v[i] }')"
}
# ztm_wrk SCRIPT -> rps p99_us non2xx
ztm_wrk() {
  taskset -c 1 wrk -t1 -c"$clients" -d"${secs}s" --latency -s "$1" http://127.0.0.1:18090 -- "$users" > "$work/wrk.out"
  local rps p99 bad
  read -r rps p99 bad < <(awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$4} END {print rps, p99, bad+0}' "$work/wrk.out")
  echo "$rps $(to_us "$p99") $bad"
}

declare -A res  # res[METRIC]: one value a round
add() { res[$1]="${res[$1]:-} $2"; }
m() { tr ' ' '\n' <<<"${res[$1]}" | grep . | median; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
sum() { tr ' ' '\n' <<<"${res[$1]}" | grep . | awk '{ s += $1 } END { print s + 0 }'; }
taskset -c 1 wrk -t1 -c"$clients" -d2s -s bench/get_random.lua http://127.0.0.1:18090 -- "$users" >/dev/null
taskset -c 1 wrk -t1 -c"$clients" -d2s -s bench/put_random.lua http://127.0.0.1:18090 -- "$users" >/dev/null
rows=()
for round in $(seq "$rounds"); do
  # shellcheck disable=SC2034  # get_bad and put_bad are read by name below
  read -r get_rps get_p99 get_bad < <(ztm_wrk bench/get_random.lua)
  read -r sel_tps sel_p99 < <(run_pgbench "$work/select.sql")
  # shellcheck disable=SC2034
  read -r put_rps put_p99 put_bad < <(ztm_wrk bench/put_random.lua)
  read -r upd_tps upd_p99 < <(run_pgbench "$work/update.sql")
  read -r upd_rate_tps upd_rate_p99 < <(run_pgbench "$work/update.sql" "$(int "$put_rps")")
  for k in get_rps get_p99 get_bad sel_tps sel_p99 put_rps put_p99 put_bad upd_tps upd_p99 upd_rate_tps upd_rate_p99; do
    add "$k" "${!k}"
  done
  rows+=("| $round | $(int "$get_rps") ($(ms "$get_p99")) | $(int "$sel_tps") ($(ms "$sel_p99")) | $(int "$put_rps") ($(ms "$put_p99")) | $(int "$upd_tps") ($(ms "$upd_p99")) | $(int "$upd_rate_tps") ($(ms "$upd_rate_p99")) |")
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
echo "ztm serve options: defaults${ZTM_BENCH_PG_ARGS:+ plus $ZTM_BENCH_PG_ARGS}; $rounds rounds of ${secs} s, medians"
echo
echo "| workload | ztm requests/s (p99) | pgbench tps (p99), unthrottled | ratio | pgbench p99 at ztm's rate (tps reached) | ztm p99 / pgbench p99 at that rate |"
echo "|---|---|---|---|---|---|"
echo "| read one user by random id (cache off) | $(int "$(m get_rps)") ($(ms "$(m get_p99)")) | $(int "$(m sel_tps)") ($(ms "$(m sel_p99)")) | $(ratio "$(m get_rps)" "$(m sel_tps)")× | | |"
echo "| replace one user by random id | $(int "$(m put_rps)") ($(ms "$(m put_p99)")) | $(int "$(m upd_tps)") ($(ms "$(m upd_p99)")) | $(ratio "$(m put_rps)" "$(m upd_tps)")× | $(ms "$(m upd_rate_p99)") ($(int "$(m upd_rate_tps)")) | $(ratio "$(m put_p99)" "$(m upd_rate_p99)")× |"
echo
echo "non-2xx answers from ztm, all rounds: reads $(sum get_bad), writes $(sum put_bad)"
echo
echo "| round | ztm reads/s (p99) | pgbench SELECT tps (p99) | ztm writes/s (p99) | pgbench UPDATE tps (p99) | pgbench UPDATE at ztm's rate: tps (p99) |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
