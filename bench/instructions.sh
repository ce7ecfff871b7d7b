#!/usr/bin/env bash
# User-space instructions per request, ztm against nginx `return`, counted by callgrind
# (valgrind): GET /users/12 keep-alive (wrk -t1 -c64), ztm answering from its cache, nginx from
# its config. Where this VM's CPU-time figures move by ±5 % between runs (bench/http_hot_path.sh),
# an instruction count repeats to ~0.1 %: the measure to compare two builds of the hot path by.
# It counts what runs in the process (ztm's code, libc, Boost), not the kernel's part of a
# request (about 60 % of its CPU time, the same for both servers: docs/performance.md); and
# instructions, not time: a cache miss costs no instruction. Under valgrind a server runs ~50×
# slower, so each handles fewer requests per wake-up than at full speed.
# Usage: [ZTM=PATH] bench/instructions.sh [seconds=6]
#   ZTM: the ztm binary to count (default: build-release/ztm, built first); e.g. an older build.
# Prints "NAME requests N instructions I per-request I/N busiest-thread B/N" for ztm and nginx (the
# event loop's thread alone: ztm's other threads, a queue's idle poll, run on time, not per
# request, and weigh more at valgrind's speed), and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES valgrind
secs=${1:-6}
ztm=${ZTM:-}
if [ -z "$ztm" ]; then build_release ztm; ztm=./build-release/ztm; fi
declare -A port=([ztm]=18190 [nginx]=18191) per_request=() per_request_busiest=()
threads=1

# count NAME CMD...: starts CMD under callgrind, warms it up (3 s of wrk), zeroes the counts, runs
# wrk for $secs, dumps the counts and prints the instructions per request.
count() {
  local name=$1
  shift
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/$name.cg" "$@" \
    >"$work/$name.log" 2>&1 &
  local vg=$!
  pids+=("$vg")
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:${port[$name]}/users/12" >/dev/null && break; sleep 0.1; done
  kill -0 "$vg" 2>/dev/null || { echo "$name exited" >&2; tail -n 20 "$work/$name.log" >&2; exit 1; }
  curl -sf "http://127.0.0.1:${port[$name]}/users/12" >"$work/$name.body"  # (nginx returns ztm's)
  wrk -t1 -c64 -d3s "http://127.0.0.1:${port[$name]}/users/12" >/dev/null
  callgrind_control -z "$vg" >/dev/null 2>&1
  local n
  n=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:${port[$name]}/users/12" | awk '/ requests in / {print $1}')
  callgrind_control -d "$vg" >/dev/null 2>&1
  # The first dump (the one at exit would be .cg), a file a thread: their sum, and the busiest.
  local ir="" busiest=""
  for _ in $(seq 100); do
    read -r ir busiest < <(awk '/^(summary|totals):/ { s += $2; if ($2 > m) m = $2; nextfile }
      END { if (s) print s, m }' "$work/$name.cg.1"-* 2>/dev/null) && [ -n "$ir" ] && break
    sleep 0.1
  done
  [ -n "$ir" ] || { echo "$name: no callgrind dump" >&2; exit 1; }
  kill "$vg"
  wait "$vg" 2>/dev/null || true
  per_request[$name]=$((ir / n))
  per_request_busiest[$name]=$((busiest / n))
  echo "$name requests $n instructions $ir per-request ${per_request[$name]} busiest-thread ${per_request_busiest[$name]}"
}

$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null 2>&1
count ztm "$ztm" serve --storage.sqlite_path "$work/ztm.db" --sessions.sqlite_path "$work/sessions.db" \
  --log.access off --log.level warn --http.threads 1 --http.max_connections_per_address 100000 \
  --http.port "${port[ztm]}"
# One process (no master): callgrind then counts the worker's instructions.
location=$(nginx_return_location "$work/ztm.body")  # ztm's answer, byte for byte
NGINX_MAIN="master_process off;" nginx_conf nginx "$location"
count nginx nginx -c "$work/nginx.conf"
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "ztm / nginx: $(ratio3 "${per_request[ztm]}" "${per_request[nginx]}")" \
  "busiest thread: $(ratio3 "${per_request_busiest[ztm]}" "${per_request_busiest[nginx]}")"
