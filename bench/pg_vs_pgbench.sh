#!/usr/bin/env bash
# The data tier on PostgreSQL versus PostgreSQL itself (pgbench), same queries, same run.
# PostgreSQL (fsync on) pinned to CPU 0; ztm, wrk and pgbench pinned to CPU 1; 100k users.
#   read:  GET /users/{id}, cache off, random ids   vs  pgbench -M prepared: SELECT ... WHERE id
#   write: PUT /users/{id}, random ids              vs  pgbench -M prepared: UPDATE ... WHERE id
# Prints a Markdown table for docs/performance.md. Usage: bench/pg_vs_pgbench.sh [seconds]
# ZTM_BENCH_PG_CONNECTIONS (default 32): storage.postgres_connections of the server under test.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES postgresql-15
secs=${1:-10}
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

taskset -c 1 ./build-release/ztm serve --storage.backend postgres --storage.postgres_url "$url" \
  --cache.enabled false --http.threads 1 --http.port 18090 --log.level warn --log.access off \
  --sessions.sqlite_path "$work/sessions.db" \
  --storage.postgres_connections "${ZTM_BENCH_PG_CONNECTIONS:-32}" >"$work/ztm.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && break; sleep 0.05; done
ZTM_TOKEN=$(login http://127.0.0.1:18090 admin@example.com admin-demo-password)
export ZTM_TOKEN

pgbench_tps() {  # pgbench_tps SCRIPT -> tps and p99 latency (ms) is not reported by pgbench; tps only
  taskset -c 1 runuser -u postgres -- pgbench -h "$work/pg" -p 15432 -n -M prepared -c "$clients" -j 1 \
    -T "$secs" -f "$1" ztm 2>/dev/null | awk '/^tps/ {print $3; exit}'
}
run_wrk() {  # run_wrk SCRIPT -> rps p99
  taskset -c 1 wrk -t1 -c"$clients" -d"${secs}s" --latency -s "$1" http://127.0.0.1:18090 -- "$users" > "$work/wrk.out"
  awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$4} END {print rps, p99, bad+0}' "$work/wrk.out"
}

taskset -c 1 wrk -t1 -c"$clients" -d2s -s bench/get_random.lua http://127.0.0.1:18090 -- "$users" >/dev/null
read -r get_rps get_p99 get_bad < <(run_wrk bench/get_random.lua)
sel_tps=$(pgbench_tps "$work/select.sql")
read -r put_rps put_p99 put_bad < <(run_wrk bench/put_random.lua)
upd_tps=$(pgbench_tps "$work/update.sql")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
echo
echo "| workload | ztm requests/s (p99, non-2xx) | pgbench -M prepared tps | ratio |"
echo "|---|---|---|---|"
echo "| read one user by random id (cache off) | $get_rps ($get_p99, $get_bad) | $sel_tps | $(ratio "$get_rps" "$sel_tps")× |"
echo "| replace one user by random id | $put_rps ($put_p99, $put_bad) | $upd_tps | $(ratio "$put_rps" "$upd_tps")× |"
