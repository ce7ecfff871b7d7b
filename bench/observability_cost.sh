#!/usr/bin/env bash
# What logging, tracing and metrics cost the hot path (issue 16): GET /users/12 from the
# in-process cache, three `ztm serve` with one configuration each, same run, interleaved rounds:
#   off:     log.level off, log.access off, log.trace_sample_pct 0 (the least ztm can log);
#   default: the defaults (log.level info, access lines for errors and slow requests, 1 % of new
#            traces sampled: a span record each), stderr to a file as in the lab;
#   all:     every request logged (log.access all) and every trace sampled (100 %): two lines a
#            request, the worst case an operator can turn on.
# Metrics have no switch: they are on in all three (per-thread counters, docs/observability.md).
# Each server on CPU 0 with one thread, wrk -t1 -c64 on CPU 1; requests/s, p99 and the server's
# CPU time per request, medians over the rounds. The target: `default` at most 5 % slower than
# `off`.
# Usage: bench/observability_cost.sh [seconds=5] [rounds=5]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES
secs=${1:-5}
rounds=${2:-5}
build_release ztm
ztm=./build-release/ztm
srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)

servers=(off default all)
declare -A port=([off]=18190 [default]=18191 [all]=18192)
declare -A flags=([off]="--log.level off --log.access off --log.trace_sample_pct 0" [default]=""
  [all]="--log.access all --log.trace_sample_pct 100")
declare -A pid=()
$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null
for s in "${servers[@]}"; do
  # shellcheck disable=SC2086
  "${srv_pin[@]}" $ztm serve --storage.sqlite_path "$work/ztm.db" --sessions.sqlite_path "$work/$s-sessions.db" \
    --http.threads 1 --http.max_connections_per_address 100000 --http.port "${port[$s]}" ${flags[$s]} \
    2>"$work/$s.log" >/dev/null &
  pid[$s]=$!
  pids+=($!)
  wait_for curl -sf "http://127.0.0.1:${port[$s]}/readyz"
done

for s in "${servers[@]}"; do run_wrk "$s" keepalive 2 >/dev/null; done  # warm-up
declare -A res=()
for ((r = 1; r <= rounds; r++)); do
  for s in "${servers[@]}"; do
    read -r rps p50 p99 cpu _ < <(run_wrk "$s" keepalive "$secs")
    res[$s keepalive rps]+="$rps " res[$s keepalive p99]+="$p99 " res[$s keepalive cpu]+="$cpu "
  done
done

echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: bench/observability_cost.sh $secs $rounds"
echo "GET /users/12 (cached), keep-alive; servers on CPU 0 (one thread), wrk -t1 -c64 on CPU 1;" \
  "${secs}s per run, $rounds interleaved rounds, medians."
echo
echo "| logging and tracing | requests/s | p99 (µs) | server CPU µs/request | requests/s vs off | CPU/request vs off | log bytes written |"
echo "|---|---|---|---|---|---|---|"
off_rps=$(med off keepalive rps) off_cpu=$(med off keepalive cpu)
for s in "${servers[@]}"; do
  rps=$(med "$s" keepalive rps) cpu=$(med "$s" keepalive cpu)
  echo "| $s | $(int "$rps") | $(int "$(med "$s" keepalive p99)") | $(awk -v c="$cpu" 'BEGIN { printf "%.2f", c }') |" \
    "$(ratio "$rps" "$off_rps")× | $(ratio "$cpu" "$off_cpu")× | $(stat -c %s "$work/$s.log") |"
done
