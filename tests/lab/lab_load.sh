# Set-up, load and pool helpers of the load balancer tests (sourced after check.sh and
# lab_common.sh; uses $ztm). Every load is `ztm bench`: bounded in requests and time, stopped
# early with SIGTERM (it then prints its summary).
# shellcheck shell=bash
lab_setup() {  # lab_setup NAME TOOL...: exits 77 (skipped) or 1 unless it can run; sets work, dir
  local tool
  if [ "$(id -u)" -ne 0 ]; then echo "$1: skipped: needs root"; exit 77; fi
  for tool in "${@:2}"; do
    command -v "$tool" >/dev/null || { echo "$1: FAILED: needs $tool (scripts/test installs it)"; exit 1; }
  done
  if [ -n "$(ip netns list | grep '^ztm-')$(ip -o link | grep ': ztm-')" ]; then
    echo "$1: skipped: a lab is up on this machine (ztm lab down first)"; exit 77
  fi
  work=$(mktemp -d)
  chmod 755 "$work"  # PostgreSQL runs as user postgres and must reach its directory
  dir="$work/lab"    # test-specific: a developer's /run/ztm-lab is never touched
  trap lab_cleanup EXIT
}
on_first_failure() {  # what the lab said, while it still has it (see check.sh)
  tail -n 20 "$dir/supervisor.log" "$dir"/hosts/lb1/haproxy/haproxy.log "$dir"/hosts/web*/*/ztm.log \
    >&2 2>/dev/null
}
lab_cleanup() {  # the load we started (by pid), the lab, the files
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
  "$ztm" lab down --dir "$dir" >/dev/null 2>&1
  rm -rf "$work"
}
bench() { "$ztm" bench "$@" --server-header X-Ztm-Server; }
status_json() { "$ztm" lab status --json --dir "$dir"; }
pool_up() {  # pool_up N: exactly N servers UP in HAProxy's pool (as the supervisor last saw it)
  [ "$(status_json | jq '[.hosts[] | select(.name == "lb1") | .pool[] | select(.status | startswith("UP"))] | length')" = "$1" ]
}
pool_status_is() {  # pool_status_is HOST STATUS: HAProxy's status of HOST starts with STATUS
  status_json | jq -e --arg h "$1" --arg s "$2" \
    '.hosts[] | select(.name == "lb1") | .pool[] | select(.name == $h) | .status | startswith($s)' >/dev/null
}
web_hosts() { status_json | jq -r '[.hosts[] | select(.roles | index("web")) | .name] | join(" ")'; }
web_count_is() { [ "$(wc -w <<<"$(web_hosts)")" -eq "$1" ]; }
web_count_at_least() { [ "$(wc -w <<<"$(web_hosts)")" -ge "$1" ]; }
web_pids() { status_json | jq -r '[.hosts[] | select(.roles | index("web")) | .processes[].pid] | join(" ")'; }
served_by_metrics() {  # served_by_metrics HOST...: requests each has served (its own /metrics), as a JSON array
  local h address counts=()
  for h in "$@"; do
    address=$(status_json | jq -r --arg h "$h" '.hosts[] | select(.name == $h) | .address')
    counts+=("$(curl -sf -m 2 "http://$address:8080/metrics" |
      awk '/^ztm_http_requests_total\{/ && !/readyz|livez|\/metrics/ { n += $NF } END { print n + 0 }')")
  done
  jq -nc '$ARGS.positional | map(tonumber)' --args "${counts[@]}"
}
within_15_percent() {  # within_15_percent JSON_ARRAY: every count within 15% of their mean
  jq -e 'length > 0 and ((add / length) as $m | $m > 0 and all(.[]; . >= 0.85 * $m and . <= 1.15 * $m))' <<<"$1" >/dev/null
}
start_load() {  # start_load URL BENCH_ARGS...: in the background; progress in $work/load.progress
  # ztm itself, not a shell function: $! must be the pid that SIGTERM stops.
  "$ztm" bench "$@" --server-header X-Ztm-Server --progress >"$work/load.json" 2>"$work/load.progress" &
  load_pid=$!
}
load_ok_at_least() { tail -n 1 "$work/load.progress" 2>/dev/null | jq -e ".ok >= $1" >/dev/null 2>&1; }
load_flowing() { load_ok_at_least 50; }
wait_load_requests() {  # wait_load_requests N: N more answered requests (bounded: 30 s)
  local now
  now=$(tail -n 1 "$work/load.progress" 2>/dev/null | jq '.ok // 0' 2>/dev/null || echo 0)
  until_ok 30 load_ok_at_least $((${now:-0} + $1))
}
stop_load() {  # stops the background load; sets r to its summary (not in $(...): wait needs the parent shell)
  kill -TERM "$load_pid" 2>/dev/null
  wait "$load_pid"
  load_pid=
  r=$(cat "$work/load.json")
}
no_failures() { [ -n "$1" ] && jq -e '.failed == 0 and .ok > 0' <<<"$1" >/dev/null; }
