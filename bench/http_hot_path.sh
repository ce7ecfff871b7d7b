#!/usr/bin/env bash
# The HTTP hot path side by side: GET /users/12 answered from ztm's in-process cache, against peers
# that answer the byte-identical JSON body:
#   - nginx "static, tuned": the body as a file, with the settings its users turn on (sendfile,
#     tcp_nopush, open_file_cache, long keep-alive, no access log);
#   - nginx "return": the body compiled into the config (`return 200 '...'`), no file at all; this
#     is the target peer, the one the ratios are taken against;
#   - nginx "return, ztm's headers": the same, adding with add_header the header lines ztm sends
#     (ETag, Cache-Control, CORS, a request id of its own...): the same bytes on the wire, where
#     the client's work per answer (wrk's, on its one core) grows with the answer's size;
#   - h2o 2.2 (Debian) serving the file statically;
#   - "ztm HTTP core": bench/http_core, ztm's HTTP server with a handler that builds the same answer
#     (status, header lines, body) and does nothing else: ztm's row minus this one is the API's
#     work (routing, the cache lookup, request id, trace, metrics), this one against nginx's the
#     server's.
# Per server and mode (keep-alive, pipelined ×16) it reports requests/s, p50, p99 and the CPU time
# the server spent per request (and the user-space part of it), as medians over the rounds. All servers run at once, in one run;
# the rounds interleave them, so a drift of the machine hits each the same way.
# Usage: [ZTM_BASELINE=PATH] bench/http_hot_path.sh [seconds=5] [rounds=5] [threads=1]
#   ZTM_BASELINE: another ztm binary (an older build) run beside this one, for before/after.
#   threads=1: every server on CPU 0 (one worker/event loop), wrk alone on CPU 1.
#   threads=2: servers with two workers, unpinned; wrk unpinned too, so it shares the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES libbenchmark-dev
secs=${1:-5}
rounds=${2:-5}
threads=${3:-1}
ulimit -n 65536 2>/dev/null || true
build_release ztm
# http_core is a benchmark target: its own Release build with the benchmarks on.
cmake -S . -B build-bench-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DZTM_BUILD_TESTS=OFF \
  -DZTM_BUILD_BENCH=ON >/dev/null
cmake --build build-bench-rel --target http_core >/dev/null

if [ "$threads" -eq 1 ]; then
  srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)
  placement="servers pinned to CPU 0 (taskset -c 0), wrk -t1 -c64 pinned to CPU 1"
else
  srv_pin=() cli_pin=()
  placement="servers unpinned with $threads workers each; wrk -t1 -c64 unpinned: the client shares the cores with the server"
fi

# Fixed order: the order of the tables and of the runs within a round.
servers=(ztm ztm_core nginx_static nginx_return nginx_headers h2o)
declare -A label=([ztm]="ztm (cache)" [ztm_core]="ztm HTTP core (canned)" [nginx_static]="nginx static, tuned"
  [nginx_return]="nginx return" [nginx_headers]="nginx return, ztm's headers" [h2o]="h2o 2.2 static"
  [ztm_base]="ztm baseline (cache)")
declare -A port=([ztm]=18180 [nginx_static]=18181 [nginx_return]=18182 [h2o]=18183 [ztm_base]=18184
  [ztm_core]=18185 [nginx_headers]=18186)
[ -z "${ZTM_BASELINE:-}" ] || servers=(ztm ztm_base "${servers[@]:1}")
declare -A pid=()

# started NAME PATH: records $! as NAME's pid (and for cleanup), waits until it answers PATH and
# checks that the pid is still alive (not a stale server holding the port that answered).
started() {
  pid[$1]=$!
  pids+=($!)
  wait_for curl -sf "http://127.0.0.1:${port[$1]}$2"
  kill -0 "${pid[$1]}" 2>/dev/null || { echo "$1 exited" >&2; tail -n 20 "$work/$1"*.log >&2; exit 1; }
}

# --- ztm: the same flags as http_vs_nginx.sh, the body comes from its cache after the first GET.
ztm=./build-release/ztm
common=(--storage.sqlite_path "$work/ztm.db" --sessions.sqlite_path "$work/sessions.db" --log.access off --log.level warn
  --http.threads "$threads" --http.max_connections_per_address 100000)
$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null
"${srv_pin[@]}" $ztm serve "${common[@]}" --http.port "${port[ztm]}" >"$work/ztm.log" 2>&1 &
started ztm /readyz
if [ -n "${ZTM_BASELINE:-}" ]; then  # its own sessions file; the users database is shared (WAL)
  "${srv_pin[@]}" "$ZTM_BASELINE" serve "${common[@]/sessions.db/sessions-base.db}" --http.port "${port[ztm_base]}" \
    >"$work/ztm_base.log" 2>&1 &
  started ztm_base /readyz
fi
mkdir -p "$work/www/users"
curl -sf -D "$work/users-12.head" "http://127.0.0.1:${port[ztm]}/users/12" >"$work/www/users/12"
"${srv_pin[@]}" build-bench-rel/bench/http_core --port "${port[ztm_core]}" --body "$work/www/users/12" \
  --head "$work/users-12.head" --threads "$threads" >"$work/ztm_core.log" 2>&1 &
started ztm_core /users/12

# --- nginx, three instances with one shared tuning (bench/lib.sh nginx_conf): a static file, and
# the body from memory without and with the header lines ztm sends (the same bytes on the wire).
# Pipelined, this tuned static nginx answers far fewer requests/s than keep-alive at a low CPU
# use: it waits rather than works (sendfile and tcp_nopush each make it slower there; without
# both it is near its keep-alive rate). Kept as its users tune it: that is the peer measured.
nginx_conf nginx_static "    root $work/www;"
location=$(nginx_return_location "$work/www/users/12")
nginx_conf nginx_return "$location"
nginx_conf nginx_headers "$location"$'\n'"$(nginx_add_headers "$work/users-12.head")"
for s in nginx_static nginx_return nginx_headers; do
  "${srv_pin[@]}" nginx -c "$work/$s.conf" >"$work/$s.log" 2>&1 &
  started "$s" /users/12
done

# --- h2o, in the foreground (-m worker, the default). No access-log directive means no access log;
# `user: root` because $work is root's 0700 directory. It also starts a crash-report helper (perl),
# its child, idle unless h2o crashes.
cat >"$work/h2o.conf" <<H2O
user: root
num-threads: $threads
file.send-gzip: OFF
file.mime.setdefaulttype: application/json
listen:
  port: ${port[h2o]}
  host: 127.0.0.1
hosts:
  "127.0.0.1:${port[h2o]}":
    paths:
      /:
        file.dir: $work/www
H2O
"${srv_pin[@]}" h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
started h2o /users/12

# All must answer the same bytes (headers differ, which is fine).
for s in "${servers[@]}"; do
  cmp "$work/www/users/12" <(curl -sf "http://127.0.0.1:${port[$s]}/users/12")
done

# What each sends for one request (head and body), as a client receives it.
echo "answer bytes: $(for s in "${servers[@]}"; do
  echo -n "$s $(curl -sf -D - -o /dev/null "http://127.0.0.1:${port[$s]}/users/12" | wc -c | awk -v b="$(wc -c <"$work/www/users/12")" '{ print $1 + b }') "
done)"

# Warm-up: 2 s keep-alive per server before round 1 (caches, page faults, TCP buffers).
for s in "${servers[@]}"; do run_wrk "$s" keepalive 2 >/dev/null; done

# The rounds: within each, every server in order, keep-alive then pipelined. res[server mode metric]
# gathers one value a round; raw keeps the per-round lines.
declare -A res=()
raw=()
modes=(keepalive pipelined)
declare -A mode_label=([keepalive]="keep-alive" [pipelined]="pipelined ×16")
# share A B: A / B to four places (a per-round ratio; `ratio` rounds to two).
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
three() { awk -v a="$1" 'BEGIN { printf "%.3f", a }'; }
for ((r = 1; r <= rounds; r++)); do
  declare -A now=()
  for s in "${servers[@]}"; do
    for m in "${modes[@]}"; do
      read -r rps p50 p99 cpu user client < <(run_wrk "$s" "$m" "$secs")
      res[$s $m rps]+="$rps " res[$s $m p50]+="$p50 " res[$s $m p99]+="$p99 " res[$s $m cpu]+="$cpu "
      res[$s $m user]+="$user " res[$s $m client]+="$client "
      now[$s $m rps]=$rps now[$s $m cpu]=$cpu
      [ "$m" = pipelined ] && p50=n/a p99=n/a
      raw+=("| $r | ${label[$s]} | ${mode_label[$m]} | $rps | $p50 | $p99 | $cpu | $user | $client |")
    done
  done
  # This round's ratios, to nginx return and (ztm) to the baseline: the runs of one round are
  # seconds apart, so a drift of this machine between rounds (±8 %) cancels in them; it does not
  # in a ratio of the two medians.
  for s in "${servers[@]}"; do
    for m in "${modes[@]}"; do
      for k in rps cpu; do
        res[$s $m ${k}_vs_return]+="$(share "${now[$s $m $k]}" "${now[nginx_return $m $k]}") "
        [ -z "${ZTM_BASELINE:-}" ] ||
          res[$s $m ${k}_vs_base]+="$(share "${now[$s $m $k]}" "${now[ztm_base $m $k]}") "
      done
    done
  done
  unset now
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: ${ZTM_BASELINE:+ZTM_BASELINE=$ZTM_BASELINE }bench/http_hot_path.sh $secs $rounds $threads"
echo "GET /users/12, the same $(stat -c %s "$work/www/users/12")-byte JSON body from each; $placement;" \
  "${secs}s per run, $rounds rounds, medians; CPU = the server's user+system time over the run / requests;" \
  "the ratios are the medians of each round's ratio; wrk busy = the client's CPU time / the run's wall time" \
  "(near 100 %: the client, not the server, sets the requests/s)."
echo "versions: nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(h2o -v | head -1)"
echo
echo "| server | mode | requests/s | p50 (µs) | p99 (µs) | server CPU µs/request | of it in user space | requests/s vs nginx return | CPU/request vs nginx return | wrk busy |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in "${modes[@]}"; do
  for s in "${servers[@]}"; do
    rps=$(med "$s" "$m" rps) cpu=$(med "$s" "$m" cpu)
    if [ "$m" = pipelined ]; then
      # wrk times a pipelined batch of 16 as one request, so its latencies are left out.
      p50=n/a p99=n/a
    else
      p50=$(int "$(med "$s" "$m" p50)") p99=$(int "$(med "$s" "$m" p99)")
    fi
    echo "| ${label[$s]} | ${mode_label[$m]} | $(int "$rps") | $p50 | $p99 | $(awk -v c="$cpu" 'BEGIN { printf "%.2f", c }') |" \
      "$(awk -v c="$(med "$s" "$m" user)" 'BEGIN { printf "%.2f", c }') |" \
      "$(ratio "$(med "$s" "$m" rps_vs_return)" 1)× | $(ratio "$(med "$s" "$m" cpu_vs_return)" 1)× |" \
      "$(int "$(med "$s" "$m" client)") % |"
  done
done
if [ -n "${ZTM_BASELINE:-}" ]; then
  echo
  for m in "${modes[@]}"; do
    echo "ztm against ztm baseline, ${mode_label[$m]} (medians of the per-round ratios): CPU/request" \
      "$(three "$(med ztm "$m" cpu_vs_base)")×, requests/s $(three "$(med ztm "$m" rps_vs_base)")×;" \
      "CPU per round: $(xargs <<<"${res[ztm $m cpu_vs_base]}")"
  done
fi
echo
echo "Per round (µs):"
echo
echo "| round | server | mode | requests/s | p50 | p99 | CPU µs/request | user µs/request | wrk busy % |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${raw[@]}"
