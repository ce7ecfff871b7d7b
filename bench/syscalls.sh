#!/usr/bin/env bash
# System calls per request of a running server under keep-alive load: perf's syscall tracepoints
# on the server's process (and its children: nginx's workers) around one wrk run of GET
# /users/12 (wrk -t1 -c64 on CPU 1). Prints each call's count divided by the requests answered.
# Start and pin the server yourself, as for bench/cpu_ab.sh.
#
#   bench/syscalls.sh PID PORT [seconds=5]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
pid=$1 port=$2 secs=${3:-5}
. scripts/lib/packages.sh
# shellcheck disable=SC2086
install_packages $BENCH_PACKAGES
out=$(mktemp)
trap 'rm -f "$out"' EXIT
events=context-switches
for call in recvfrom recvmmsg read sendto sendmsg writev write epoll_wait epoll_ctl; do
  events+=",syscalls:sys_enter_$call"
done
pids=$(pgrep -P "$pid" | paste -sd, -) || true
perf stat -x, -e "$events" -p "$pid${pids:+,$pids}" -o "$out" -- sleep $((secs + 1)) &
perf_pid=$!
sleep 0.3
n=$(taskset -c "${WRK_CPU:-1}" wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port/users/12" | awk '/ requests in / {print $1}')
wait "$perf_pid"
echo "requests $n"
awk -F, -v n="$n" '$1 ~ /^[0-9]+$/ && $1 > 0 { sub(/^syscalls:sys_enter_/, "", $3); printf "  %-18s %.3f a request\n", $3, $1 / n }' "$out"
