#!/usr/bin/env bash
# CPU per request and requests/s of servers that are already running, side by side: in each
# round, one keep-alive run of GET /users/12 against each server in turn (bench/lib.sh run_wrk:
# wrk -t1 -c64, the server's CPU ticks, user+system and user alone, read around it). Prints
# each server's per-round figures and their medians, and the medians of its per-round ratios to the
# last server named (the reference: the runs of one round are seconds apart, so the machine's
# drift between rounds cancels in that ratio). For A/B runs of two builds, or a build against nginx,
# when bench/http_hot_path.sh (which starts its own servers) is more than needed.
#
#   bench/cpu_ab.sh "NAME:PID:PORT ..." [rounds=10] [seconds=2]
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
. bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is not installed (bench packages: scripts/lib/packages.sh)" >&2; exit 1; }

# What run_wrk reads: pid[NAME], port[NAME], cli_pin; res[NAME MODE METRIC] for med.
names=()
declare -A pid=() port=() res=()
cli_pin=(taskset -c "${WRK_CPU:-1}")
for spec in "${specs[@]}"; do
  IFS=: read -r name p po <<<"$spec"
  if [ -z "$name" ] || [ -z "$p" ] || [ -z "$po" ]; then echo "not NAME:PID:PORT: $spec" >&2; exit 2; fi
  kill -0 "$p" 2>/dev/null || { echo "$name: no process $p" >&2; exit 1; }
  names+=("$name") pid[$name]=$p port[$name]=$po
done
ref=${names[-1]}

for ((r = 1; r <= rounds; r++)); do
  declare -A now=() now_rps=()
  line="round $r:"
  for name in "${names[@]}"; do
    read -r rps _ _ cpu user client < <(run_wrk "$name" keepalive "$secs")
    now[$name]=$cpu now_rps[$name]=$rps
    res[$name keepalive cpu]+="$cpu " res[$name keepalive user]+="$user " res[$name keepalive rps]+="$rps "
    res[$name keepalive client]+="$client "
    line+=" $name $cpu ($user user, $(int "$rps")/s, wrk $client %)"
  done
  for name in "${names[@]}"; do
    res[$name keepalive ratio]+="$(awk -v a="${now[$name]}" -v b="${now[$ref]}" 'BEGIN { printf "%.4f", a / b }') "
    res[$name keepalive rps_ratio]+="$(awk -v a="${now_rps[$name]}" -v b="${now_rps[$ref]}" 'BEGIN { printf "%.4f", a / b }') "
  done
  echo "$line"
  unset now now_rps
done
echo
echo "CPU µs/request and requests/s, medians of $rounds rounds of ${secs}s (wrk -t1 -c64 on CPU ${WRK_CPU:-1}, GET /users/12);"
echo "ratios: the median of each round's ratio to $ref:"
for name in "${names[@]}"; do
  printf '%-12s %7.2f  user %6.2f  ratio %.3f   requests/s %7.0f  ratio %.3f   wrk busy %3.0f %%\n' "$name" \
    "$(med "$name" keepalive cpu)" "$(med "$name" keepalive user)" "$(med "$name" keepalive ratio)" \
    "$(med "$name" keepalive rps)" "$(med "$name" keepalive rps_ratio)" "$(med "$name" keepalive client)"
done
