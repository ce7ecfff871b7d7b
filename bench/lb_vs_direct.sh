#!/usr/bin/env bash
# Authenticated GET /me through HAProxy to 2 web servers versus direct to one server, same run.
# Sessions in Redis (every request asks it), users in one shared SQLite file (read through each
# server's L1 cache). Servers, Redis and HAProxy pinned to CPU 0 (one thread each); wrk on CPU 1.
# Prints a Markdown table for docs/performance.md. Usage: bench/lb_vs_direct.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES haproxy redis-server
secs=${1:-10}
build_release ztm

taskset -c 0 redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_for redis-cli -p 16379 ping

ztm=./build-release/ztm
common=(--storage.sqlite_path "$work/ztm.db" --sessions.backend redis
        --sessions.redis_address 127.0.0.1:16379 --log.access off --log.level warn --http.threads 1
        --http.trusted_proxies 127.0.0.1)
$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null
for port in 18101 18102; do
  taskset -c 0 $ztm serve "${common[@]}" --http.port $port --node_id $((port - 18100)) >"$work/ztm-$port.log" 2>&1 &
  pids+=($!)
  wait_for curl -sf "http://127.0.0.1:$port/readyz"
done

cat > "$work/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch 1
  retry-on all-retryable-errors
frontend public
  bind 127.0.0.1:18100
  default_backend web
backend web
  balance roundrobin
  option httpchk GET /readyz
  option forwardfor
  http-reuse always
  server web1 127.0.0.1:18101 check inter 1s
  server web2 127.0.0.1:18102 check inter 1s
CFG
taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_for curl -sf http://127.0.0.1:18100/readyz

token=$(login http://127.0.0.1:18100 john.smith@example.com john-demo-password)
# The session made through the LB works on both servers directly (nothing is sticky).
for port in 18101 18102; do curl -sf "http://127.0.0.1:$port/me" -H "Authorization: Bearer $token" >/dev/null; done

run_wrk() {  # run_wrk URL -> "rps p50 p99 non2xx"
  taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -H "Authorization: Bearer $token" "$1" > "$work/wrk.out"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$4}
       END {print rps, p50, p99, bad+0}' "$work/wrk.out"
}
taskset -c 1 wrk -t1 -c64 -d2s -H "Authorization: Bearer $token" http://127.0.0.1:18100/me >/dev/null
read -r l_rps l_p50 l_p99 l_bad < <(run_wrk http://127.0.0.1:18100/me)
read -r d_rps d_p50 d_p99 d_bad < <(run_wrk http://127.0.0.1:18101/me)
read -r u_rps u_p50 u_p99 u_bad < <(run_wrk http://127.0.0.1:18101/users/12)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
echo
echo "| workload | path | requests/s | p50 | p99 | non-2xx | vs direct |"
echo "|---|---|---|---|---|---|---|"
echo "| GET /me (session in Redis) | HAProxy → 2 web servers | $l_rps | $l_p50 | $l_p99 | $l_bad | $(ratio "$l_rps" "$d_rps")× |"
echo "| GET /me (session in Redis) | direct → 1 web server | $d_rps | $d_p50 | $d_p99 | $d_bad | 1.00× |"
echo "| GET /users/12 (public, cached) | direct → 1 web server | $u_rps | $u_p50 | $u_p99 | $u_bad | |"
