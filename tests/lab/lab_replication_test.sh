#!/usr/bin/env bash
# ztm lab stage `replication` with real engines (docs/lab.md): etcd + three Patroni members
# (PostgreSQL 15). Up, roles and lag in status --json, a write reaching both replicas,
# pause-replay / resume-replay, killing the primary (Patroni fails over), the old primary
# rejoining as a replica, down leaving nothing; then the whole stage with its web tier.
# Usage: lab_replication_test.sh PATH_TO_ZTM [data|web]: `data` (default) the data tier alone
# (up --hosts etcd1,db1,db2,db3), `web` the whole stage with web1 and web2 on the multi-host URL.
# Needs root; exits 77 (skipped) when it cannot run.
set -uo pipefail
ztm=$1
part=${2:-data}
if [ "$(id -u)" -ne 0 ]; then echo "lab_replication: skipped: needs root"; exit 77; fi
for tool in ip jq psql patroni etcd; do
  command -v "$tool" >/dev/null || { echo "lab_replication: FAILED: needs $tool (scripts/test installs TEST_PACKAGES)"; exit 1; }
done
if [ -n "$(ip netns list | grep '^ztm-')$(ip -o link | grep ': ztm-')" ]; then
  echo "lab_replication: skipped: a lab is up on this machine (ztm lab down first)"; exit 77
fi
work=$(mktemp -d)
chmod 755 "$work"  # Patroni and etcd run as their own users and must reach their directories
dir="$work/lab"
on_first_failure() {  # what the engines said, while the lab still has it (see check.sh)
  tail -n 15 "$dir/supervisor.log" "$dir"/hosts/*/patroni/patroni.log "$dir"/hosts/web*/*/ztm.log \
    >&2 2>/dev/null
}
cleanup() { "$ztm" lab down --dir "$dir" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
status() { "$ztm" lab status --json --dir "$dir"; }
role_of() { status | jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .role'; }
field_of() { status | jq -r --arg h "$1" --arg f "$2" '.hosts[] | select(.name == $h) | .[$f]'; }
primary() { status | jq -r '[.hosts[] | select(.role == "primary") | .name] | if length == 1 then .[0] else "" end'; }
db_roles() { status | jq -r '[.hosts[] | select(.roles | index("db")) | .role] | sort | join(",")'; }
# sql HOST SQL: psql as postgres over the member's Unix socket (the lab's own access path).
sql() { psql -X -qAt -h "$dir/hosts/$1/patroni/run" -U postgres -d ztm -v ON_ERROR_STOP=1 -c "$2" 2>/dev/null; }
has_row() { test "$(sql "$1" "SELECT count(*) FROM lab_probe WHERE id = $2")" = 1; }
lsn_bytes() { sql "$1" "SELECT pg_wal_lsn_diff($2, '0/0')::bigint"; }
is_replica() { local r; r=$(role_of "$1"); [ "$r" = replica ] || [ "$r" = sync_standby ]; }
one_primary_two_replicas() {
  local r; r=$(db_roles)
  [ "$r" = "primary,replica,sync_standby" ] || [ "$r" = "primary,replica,replica" ]
}
sync_writes() { test "$(field_of "$(primary)" writes)" = sync; }

if [ "$part" = data ]; then
# --- the data tier: etcd1, db1..db3 --------------------------------------------------------------
start=$SECONDS
out=$("$ztm" lab up --stage replication --hosts etcd1,db1,db2,db3 --dir "$dir" 2>&1); rc=$?
check "up (data tier) exits 0" test "$rc" -eq 0
check "up within 60 s" test $((SECONDS - start)) -le 60
check "up shows progress" contains "$out" "db2/patroni: healthy"
[ "$rc" -eq 0 ] || echo "$out" >&2
check "etcd healthy" test "$(status | jq -r '.hosts[] | select(.name == "etcd1") | .processes[0].healthy')" = true
check "one primary, two replicas" one_primary_two_replicas
check "db1 bootstrapped the cluster: it is the primary" test "$(primary)" = db1
check "lag_bytes on every db host" test "$(status | jq '[.hosts[] | select(.roles | index("db")) | has("lag_bytes")] | all')" = true
check "a synchronous standby is chosen" until_ok 10 sync_writes
check "status table shows roles" contains "$("$ztm" lab status --dir "$dir")" "[primary, writes sync"

# --- a write on the primary reaches both replicas ------------------------------------------------
check "write on the primary" sql db1 "CREATE TABLE lab_probe (id int PRIMARY KEY); INSERT INTO lab_probe VALUES (1)"
check "the row reaches db2" until_ok 10 has_row db2 1
check "the row reaches db3" until_ok 10 has_row db3 1
check "a replica refuses writes" not sql db2 "INSERT INTO lab_probe VALUES (2)"

# --- pause-replay: db2 stops applying WAL while the primary moves on --------------------------------
check "chaos pause-replay db2" "$ztm" lab chaos pause-replay db2 --dir "$dir"
check "pause-replay on the primary fails" not "$ztm" lab chaos pause-replay db1 --dir "$dir"
# Paused, db2 keeps receiving WAL but applies no commit: its replay LSN stays before the end of
# the next commit (the primary's LSN right after it), the rows stay invisible, the lag grows.
check "write while db2 is paused" sql db1 "INSERT INTO lab_probe SELECT generate_series(100, 5099)"
committed=$(lsn_bytes db1 "pg_current_wal_lsn()")
db2_received() { [ "$(lsn_bytes db2 "pg_last_wal_receive_lsn()")" -ge "$committed" ]; }
lag_grows() { [ "$(field_of db2 lag_bytes)" -gt 0 ] && [ "$(field_of db2 replay_paused)" = true ]; }
check "db2 receives the WAL" until_ok 10 db2_received
check "db2's replay LSN stops before the commit" test "$(lsn_bytes db2 "pg_last_wal_replay_lsn()")" -lt "$committed"
check "db2 does not show the new rows" not has_row db2 100
check "the primary's WAL advances past db2's replay" sql db1 "INSERT INTO lab_probe VALUES (6000)"
check "db2's replay LSN still stops before the first commit" test "$(lsn_bytes db2 "pg_last_wal_replay_lsn()")" -lt "$committed"
check "status: db2 lag grows, replay paused" until_ok 5 lag_grows
check "db3 keeps replaying" until_ok 10 has_row db3 5099
check "chaos resume-replay db2" "$ztm" lab chaos resume-replay db2 --dir "$dir"
caught_up() { [ "$(field_of db2 lag_bytes)" = 0 ] && has_row db2 6000 && [ "$(field_of db2 replay_paused)" = false ]; }
check "db2 catches up" until_ok 10 caught_up

# --- the primary dies: Patroni promotes the synchronous standby --------------------------------------
old=$(primary)
check "chaos kill the primary ($old)" "$ztm" lab chaos kill "$old" --dir "$dir"
killed=$SECONDS
old_postgres_gone() { ! pgrep -f -- "$dir/hosts/$old/patroni/data" >/dev/null; }
check "the killed host's PostgreSQL died with Patroni" until_ok 3 old_postgres_gone
new_primary() { local p; p=$(primary); [ -n "$p" ] && [ "$p" != "$old" ]; }
check "another host becomes primary within 30 s" until_ok 30 new_primary
echo "lab_replication: failover took $((SECONDS - killed)) s" >&2
new=$(primary)
# Patroni may report the role a moment before the promoted server accepts writes; a failed INSERT
# commits nothing, so retrying it is safe.
check "write on the new primary ($new)" until_ok 10 sql "$new" "INSERT INTO lab_probe VALUES (7)"
check "status: the old primary is down" test "$(role_of "$old")" = down
check "chaos start the old primary" "$ztm" lab chaos start "$old" --dir "$dir"
check "the old primary rejoins as a replica" until_ok 30 is_replica "$old"
check "it has the write made after failover" until_ok 15 has_row "$old" 7

out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down exits 0" test $? -eq 0
nothing_left "down"

# --- the supervisor dies with -9: Patroni and its PostgreSQL keep running, down still cleans -----
check "up etcd1 and db1 alone" "$ztm" lab up --stage replication --hosts etcd1,db1 --dir "$dir" >/dev/null
kill -9 "$(jq .supervisor.pid "$dir/lab.json")"
# up waits for Patroni; PostgreSQL and the bootstrap's ztm database may answer a moment later.
check "PostgreSQL outlives the supervisor" until_ok 20 sql db1 "SELECT 1"
out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down after a crash exits 0" test $? -eq 0
check "down kills the orphaned Patroni" contains "$out" "killing db1/patroni"
nothing_left "down after crash"
fi

if [ "$part" = web ]; then
# --- the whole stage: web1 and web2 with every db host in their URL ------------------------------
out=$("$ztm" lab up --stage replication --dir "$dir" 2>&1); rc=$?
check "full stage: up exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "$out" | tail -20 >&2
url=$(status | jq -r .url)
check "full stage: url is web1" test "$url" = http://10.77.1.10:8080
check "full stage: GET /users/12 through web1" contains "$(curl -sf -m 2 "$url/users/12")" '"firstName":"John"'
check "full stage: web2 lists users" contains "$(curl -sf -m 2 "http://10.77.1.11:8080/users?limit=1")" '"id":'
check "full stage: web1 still running" test "$(status | jq -r '.hosts[] | select(.name == "web1") | .processes[0].state')" = running
# After the primary dies, the web tier follows Patroni's promotion (ztm serve's role discovery,
# seen in its metrics) and keeps answering.
web_primary() { curl -sf -m 2 "$url/metrics" | awk '/^ztm_pg_host_role/ && $2 == 1 { print $1 }'; }
check "full stage: web1 sees db1 as primary" contains "$(web_primary)" '10.77.1.20:5432'

# Steady writes while the primary is killed (kill -9 of its host: Patroni and PostgreSQL).
# The writer creates users one after another through web1; each create is retried with its own
# Idempotency-Key until it is acknowledged (bounded: 300 users, 90 s). Afterwards every
# acknowledged user must be on the new primary exactly once, and writes must resume within 15 s.
acks="$work/acks"
: > "$acks"
# Creating users is an admin's job: the demo admin (seeded by the lab) logs in first.
admin_token=$(curl -sf -m 5 -H 'Content-Type: application/json' \
  -d '{"email":"admin@example.com","password":"admin-demo-password"}' "$url/sessions" | jq -r .token)
check "full stage: the demo admin logs in" test -n "$admin_token"
writer() {
  local deadline=$((SECONDS + 90)) i code body
  for ((i = 0; i < 300 && SECONDS < deadline; i++)); do
    body="{\"firstName\":\"Load\",\"lastName\":\"W$i\",\"address\":{\"streetAddress\":\"1 Main\",\"city\":\"X\",\"state\":\"Y\",\"postalCode\":1}}"
    while [ "$SECONDS" -lt "$deadline" ]; do
      code=$(curl -s -m 3 -o "$work/created" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $admin_token" -H "Idempotency-Key: load-$i" -d "$body" "$url/users")
      if [ "$code" = 201 ] || [ "$code" = 200 ]; then
        echo "$(date +%s%3N) load-$i $(jq -r .id "$work/created")" >> "$acks"
        break
      fi
      wait_50ms
    done
  done
}
writer &
writer_pid=$!
acked() { [ "$(wc -l < "$acks")" -ge "$1" ]; }
check "full stage: writes are acknowledged before the kill" until_ok 30 acked 50
killed_at=$(date +%s%3N)
check "full stage: chaos kill db1 (the primary) under write load" "$ztm" lab chaos kill db1 --dir "$dir"
wait "$writer_pid"
web_followed() { local p; p=$(web_primary); [ -n "$p" ] && ! contains "$p" '10.77.1.20:5432'; }
check "full stage: web1 follows the new primary within 30 s" until_ok 30 web_followed
# The write outage: the longest gap between consecutive acknowledgements from the kill on (a
# write already in flight may still be acknowledged just after the kill; the gap that follows is
# the failover). Patroni needs its leader key to expire (ttl 10 s), so a real failover shows a gap
# of seconds: under 1 s would mean the kill did not hit the primary.
outage_ms=$(awk -v k="$killed_at" '$1 >= k { if (prev && $1 - prev > max) max = $1 - prev; prev = $1 }
  END { print max + 0 }' <(echo "$killed_at x x"; cat "$acks"))
echo "write outage after kill -9 of the primary: ${outage_ms} ms; $(wc -l < "$acks") writes acknowledged"
check "full stage: the kill interrupted writes (outage >= 1 s)" test "$outage_ms" -ge 1000
check "full stage: writes succeed again within 15 s" test "$outage_ms" -le 15000
check "full stage: the writer finished all 300 users" test "$(wc -l < "$acks")" -eq 300
new_primary=$(status | jq -r '.hosts[] | select(.role == "primary") | .name')
ids=$(awk '{ print $3 }' "$acks" | paste -sd, -)
check "full stage: every acknowledged user is on the new primary ($new_primary)" \
  test "$(sql "$new_primary" "SELECT count(*) FROM users WHERE id IN ($ids)")" = 300
check "full stage: retried creates made exactly one user each" \
  test "$(sql "$new_primary" "SELECT count(*) FROM users WHERE first_name = 'Load'")" = 300
check "full stage: one idempotency key per user" \
  test "$(sql "$new_primary" "SELECT count(DISTINCT user_id) FROM idempotency_keys WHERE key LIKE 'load-%'")" = 300
check "full stage: web1 lists users after failover" contains "$(curl -sf -m 2 "$url/users?limit=1")" '"id":'
"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "full stage down"
fi

echo "lab_replication ($part): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
