#!/usr/bin/env bash
# CPU per request of servers that are already running, side by side: in each round, one
# `wrk -t1 -c64` run against each server in turn (keep-alive GET of PATH), with the server's CPU
# ticks (user+system, and user alone, from /proc: bench/lib.sh cpu_ticks) read around it. Prints
# each server's per-round figures and their medians, and the median of its per-round ratio to the
# last server named (the reference: the runs of one round are seconds apart, so the machine's
# drift between rounds cancels in that ratio). For A/B runs of two builds, or a build against nginx,
# when bench/http_hot_path.sh (which starts its own servers) is more than needed.
#
#   bench/cpu_ab.sh "NAME:PID:PORT ..." [rounds=10] [seconds=2] [path=/users/12]
#   e.g. bench/cpu_ab.sh "new:4242:18280 old:4343:18281 nginx:4444:18282" 16 2
#
# Pin the servers yourself (taskset -c 0 when starting them); wrk runs on CPU 1 (WRK_CPU).
# PID is the process whose threads serve (for nginx, the master: its workers are counted).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
# shellcheck disable=SC2206
specs=($1)
rounds=${2:-10}
secs=${3:-2}
path=${4:-/users/12}
. bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is not installed (bench packages: scripts/lib/packages.sh)" >&2; exit 1; }

names=()
declare -A pid_of=() port_of=() cpu=() user=() ratio=()
for spec in "${specs[@]}"; do
  IFS=: read -r name p port <<<"$spec"
  if [ -z "$name" ] || [ -z "$p" ] || [ -z "$port" ]; then echo "not NAME:PID:PORT: $spec" >&2; exit 2; fi
  kill -0 "$p" 2>/dev/null || { echo "$name: no process $p" >&2; exit 1; }
  names+=("$name") pid_of[$name]=$p port_of[$name]=$port
done
ref=${names[-1]}

# one NAME: a run against NAME; prints "cpu_us_per_request user_us_per_request".
one() {
  local p=${pid_of[$1]} c0 u0 c1 u1 n
  c0=$(cpu_ticks "$p") u0=$(cpu_ticks "$p" user)
  taskset -c "${WRK_CPU:-1}" wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:${port_of[$1]}$path" >"$work/wrk.out"
  c1=$(cpu_ticks "$p") u1=$(cpu_ticks "$p" user)
  grep -q 'Non-2xx' "$work/wrk.out" && { echo "$1: non-2xx answers" >&2; exit 1; }
  n=$(awk '/ requests in / { print $1 }' "$work/wrk.out")
  awk -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v hz="$tck" -v n="$n" \
    'BEGIN { printf "%.3f %.3f\n", c / hz / n * 1e6, u / hz / n * 1e6 }'
}

for ((r = 1; r <= rounds; r++)); do
  declare -A now=()
  line="round $r:"
  for name in "${names[@]}"; do
    read -r c u < <(one "$name")
    now[$name]=$c cpu[$name]+="$c " user[$name]+="$u "
    line+=" $name $c ($u user)"
  done
  for name in "${names[@]}"; do
    ratio[$name]+="$(awk -v a="${now[$name]}" -v b="${now[$ref]}" 'BEGIN { printf "%.4f", a / b }') "
  done
  echo "$line"
  unset now
done
mid() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo
echo "CPU µs/request, medians of $rounds rounds of ${secs}s (wrk -t1 -c64 on CPU ${WRK_CPU:-1}, GET $path):"
for name in "${names[@]}"; do
  printf '%-12s %7.2f  user %6.2f  per-round ratio to %s %.3f\n' "$name" "$(mid "${cpu[$name]}")" \
    "$(mid "${user[$name]}")" "$ref" "$(mid "${ratio[$name]}")"
done
