#!/usr/bin/env bash
# ztm lab with real namespaces and engines (docs/lab.md): stage single up, status --json, a
# request from the root namespace, chaos kill/start, down leaves nothing; down after the
# supervisor was killed with -9; stage db as far as `ztm serve` supports PostgreSQL.
# Usage: lab_test.sh PATH_TO_ZTM. Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
if [ "$(id -u)" -ne 0 ]; then echo "lab: skipped: needs root"; exit 77; fi
if ! command -v ip >/dev/null || ! command -v jq >/dev/null; then echo "lab: FAILED: needs iproute2 and jq (scripts/test installs them)"; exit 1; fi
if [ -n "$(ip netns list | grep '^ztm-')$(ip -o link | grep ': ztm-')" ]; then
  echo "lab: skipped: a lab is up on this machine (ztm lab down first)"; exit 77
fi
work=$(mktemp -d)
chmod 755 "$work"  # PostgreSQL runs as user postgres and must reach its directory
dir="$work/lab"  # test-specific: a developer's /run/ztm-lab is never touched
cleanup() { "$ztm" lab down --dir "$dir" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
get_user12() { curl -sf -m 2 "$url/users/12"; }
is_john() { contains "$(get_user12)" '"firstName":"John","lastName":"Smith"'; }
request_fails() { ! curl -sf -m 1 -o /dev/null "$url/users/12"; }
list_users() { curl -sf -m 2 "$url/users?limit=1" | grep -qF '"id":'; }
list_fails() { ! curl -sf -m 2 -o /dev/null "$url/users?limit=1"; }

# --- single: up, status, a request, chaos, down ------------------------------------------------
out=$("$ztm" lab up --stage single --dir "$dir" 2>&1); status=$?
check "up single exits 0" test "$status" -eq 0
check "up prints the table" contains "$out" "web1     dc1  10.77.1.10"
check "up shows progress" contains "$out" "web1/ztm: healthy"
json=$("$ztm" lab status --json --dir "$dir")
check "status --json parses" jq -e . <<<"$json" >/dev/null
check "status: stage single" test "$(jq -r .stage <<<"$json")" = single
address=$(jq -r '.hosts[] | select(.name == "web1") | .address' <<<"$json")
check "status: web1 in 10.77.1.0/24" test "${address%.*}" = 10.77.1
check "status: web1/ztm running and healthy" \
  test "$(jq -r '.hosts[0].processes[0] | "\(.state) \(.healthy) \(.pid > 0)"' <<<"$json")" = "running true true"
url=$(jq -r .url <<<"$json")
check "status: url is web1" test "$url" = "http://$address:8080"
check "GET /users/12 from the root namespace" is_john
check "web1 runs in its own namespace" test "$(ip netns identify "$(jq '.hosts[0].processes[0].pid' <<<"$json")")" = ztm-web1

check "chaos kill web1" "$ztm" lab chaos kill web1 --dir "$dir"
check "requests fail after kill" until_ok 5 request_fails
check "status: exited after kill" test "$("$ztm" lab status --json --dir "$dir" | jq -r '.hosts[0].processes[0].state')" = exited
check "chaos start web1" "$ztm" lab chaos start web1 --dir "$dir"
check "requests succeed after start" until_ok 10 is_john
check "chaos on an unknown target fails" not "$ztm" lab chaos kill nope --dir "$dir"

out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down exits 0" test $? -eq 0
nothing_left "down"
check "second down succeeds" "$ztm" lab down --dir "$dir"
check "status after down fails" not "$ztm" lab status --dir "$dir"

# --- crash cleanup: the supervisor dies with -9, the engine keeps running, down still cleans -------
check "up single again" "$ztm" lab up --stage single --dir "$dir" >/dev/null
supervisor=$(jq .supervisor.pid "$dir/lab.json")
check "supervisor pid recorded" test "$supervisor" -gt 0
kill -9 "$supervisor"
check "the engine outlives the supervisor" until_ok 5 is_john
out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down after a crash exits 0" test $? -eq 0
check "down kills the orphaned engine" contains "$out" "killing web1/ztm"
nothing_left "down after crash"

# --- db: PostgreSQL on db1, ztm on web1 pointing at it -------------------------------------------
out=$("$ztm" lab up --stage db --dir "$dir" 2>&1); status=$?
check "db: PostgreSQL on db1 became healthy" contains "$out" "db1/postgres: healthy"
if "$ztm" config print --storage.backend postgres >/dev/null 2>&1; then
  check "up db exits 0" test "$status" -eq 0
  url=$("$ztm" lab status --json --dir "$dir" | jq -r .url)
  check "db: GET /users/12 through PostgreSQL" is_john
  check "db: listing users reads PostgreSQL" list_users
  # Each host's own usage, from its cgroups (the hosts share one kernel): cached reads load web1
  # and hardly db1 (the L1 copy answers them), and the figures say so.
  usage() { "$ztm" lab status --json --dir "$dir" | jq -r --arg h "$1" --arg f "$2" '.hosts[] | select(.name == $h) | .usage[$f]'; }
  web_before=$(usage web1 cpu_seconds); db_before=$(usage db1 cpu_seconds)
  # 50000: at ~10 µs of CPU each (lab overheads included) that is ~0.5 s on web1, well above the
  # 0.2 s checked below (20000 came to 0.19 s once a cached read got cheaper, issue 12).
  check "db: 50000 cached reads on web1" "$ztm" bench -n 50000 -d 20 -c 8 "$url/users/12"
  web_used=$(awk -v a="$web_before" -v b="$(usage web1 cpu_seconds)" 'BEGIN { print b - a }')
  db_used=$(awk -v a="$db_before" -v b="$(usage db1 cpu_seconds)" 'BEGIN { print b - a }')
  echo "lab: CPU during 50000 cached reads on web1: web1 ${web_used} s, db1 ${db_used} s" >&2
  check "db: web1's CPU rose under its load" awk -v u="$web_used" 'BEGIN { exit !(u > 0.2) }'
  check "db: db1's rose less than a fifth of that" awk -v u="$web_used" -v d="$db_used" 'BEGIN { exit !(d < u / 5) }'
  check "db: each host's memory is its own" awk -v w="$(usage web1 memory_bytes)" -v d="$(usage db1 memory_bytes)" \
    'BEGIN { exit !(w > 1e6 && d > 1e6 && w != d) }'
  check "db: chaos kill db1" "$ztm" lab chaos kill db1 --dir "$dir"
  # A listing always reads the database (GET /users/12 may be answered by the L1 cache).
  check "db: listing fails without the database" until_ok 10 list_fails
  check "db: chaos start db1" "$ztm" lab chaos start db1 --dir "$dir"
  check "db: the web server reconnects" until_ok 15 list_users
else
  # `ztm serve` does not accept storage.backend=postgres yet: up must fail, say why, clean up.
  echo "lab: note: ztm serve has no PostgreSQL backend yet; checking that up db fails cleanly" >&2
  check "up db fails" test "$status" -ne 0
  check "up db names the reason" contains "$out" "'postgres' is not one of"
fi
"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "db down"

echo "lab: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
