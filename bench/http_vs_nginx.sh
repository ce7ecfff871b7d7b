#!/usr/bin/env bash
# GET /users/12 from ztm's cache versus nginx serving the identical JSON as a static file.
# Both servers pinned to CPU 0 with one worker; wrk pinned to CPU 1; keep-alive; same run.
# Prints a Markdown table for docs/performance.md. Usage: bench/http_vs_nginx.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES
secs=${1:-10}
ulimit -n 65536 2>/dev/null || true
build_release ztm

ztm=./build-release/ztm
# Every client here is 127.0.0.1: lift the per-address connection cap (2000 idle connections below).
common=(--storage.sqlite_path "$work/ztm.db" --sessions.sqlite_path "$work/sessions.db" --log.access off --log.level warn --http.threads 1
  --http.max_connections_per_address 100000)
$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null

# start_ztm PORT EXTRA...: starts ztm serve pinned to CPU 0 and waits for /readyz.
start_ztm() {
  local port=$1; shift
  taskset -c 0 $ztm serve "${common[@]}" --http.port "$port" "$@" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "ztm did not start" >&2; exit 1
}

mkdir -p "$work/www/users"
start_ztm 18080
curl -sf http://127.0.0.1:18080/users/12 > "$work/www/users/12"
cat > "$work/nginx.conf" <<NGINX
user root;
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server {
    listen 127.0.0.1:18081 reuseport;
    root $work/www;
  }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" &
pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:18081/users/12 >/dev/null && break; sleep 0.05; done
cmp <(curl -s http://127.0.0.1:18080/users/12) <(curl -s http://127.0.0.1:18081/users/12)

# run_wrk URL [wrk args...] -> "rps p50 p99"
run_wrk() {
  local url=$1; shift
  taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency "$@" "$url" > "$work/wrk.out"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' "$work/wrk.out"
}

taskset -c 1 wrk -t1 -c64 -d2s http://127.0.0.1:18080/users/12 >/dev/null  # warm-up
read -r z_rps z_p50 z_p99 < <(run_wrk http://127.0.0.1:18080/users/12)
taskset -c 1 wrk -t1 -c64 -d2s http://127.0.0.1:18081/users/12 >/dev/null
read -r n_rps n_p50 n_p99 < <(run_wrk http://127.0.0.1:18081/users/12)
read -r zp_rps _ _ < <(run_wrk http://127.0.0.1:18080/users/12 -s bench/pipeline.lua)
read -r np_rps _ _ < <(run_wrk http://127.0.0.1:18081/users/12 -s bench/pipeline.lua)
z_mem=$(python3 bench/idle_connections.py "${pids[0]}" 18080 /users/12 2000)

start_ztm 18082 --cache.enabled false
# PUT /users/12 needs John Smith's session (bench/put.lua reads ZTM_TOKEN).
ZTM_TOKEN=$(login http://127.0.0.1:18082 john.smith@example.com john-demo-password)
export ZTM_TOKEN
read -r m_rps m_p50 m_p99 < <(run_wrk http://127.0.0.1:18082/users/12)
read -r w_rps w_p50 w_p99 < <(run_wrk http://127.0.0.1:18082/users/12 -s bench/put.lua)
start_ztm 18083 --cache.enabled false --storage.sqlite_durable_commits false
read -r f_rps f_p50 f_p99 < <(run_wrk http://127.0.0.1:18083/users/12 -s bench/put.lua)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
echo
echo "| workload | server | requests/s | p50 | p99 | vs nginx |"
echo "|---|---|---|---|---|---|"
echo "| GET /users/12, cached, keep-alive | ztm | $z_rps | $z_p50 | $z_p99 | $(ratio "$z_rps" "$n_rps")× |"
echo "| GET /users/12 as a static file | nginx | $n_rps | $n_p50 | $n_p99 | 1.00× |"
# wrk times a pipelined batch as one request, so its latencies are left out for these rows.
echo "| same, pipelined ×16 | ztm | $zp_rps | n/a | n/a | $(ratio "$zp_rps" "$np_rps")× |"
echo "| same, pipelined ×16 | nginx | $np_rps | n/a | n/a | 1.00× |"
echo "| GET /users/12, cache off (SQLite read) | ztm | $m_rps | $m_p50 | $m_p99 | |"
echo "| PUT /users/12 (SQLite, WAL, fsync per commit) | ztm | $w_rps | $w_p50 | $w_p99 | |"
echo "| PUT /users/12 (SQLite, WAL, durable_commits=false) | ztm | $f_rps | $f_p50 | $f_p99 | |"
echo
echo "memory per idle keep-alive connection (ztm, 2000 connections): ${z_mem} bytes"
